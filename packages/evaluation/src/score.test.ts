import type { Label } from '@flowwatch/simulator';
import { describe, expect, it } from 'vitest';
import { type ScoredAlert, scoreAlerts } from './score.js';

const T0 = Date.UTC(2026, 10, 24, 10);
const iso = (ms: number) => new Date(ms).toISOString();
const options = { fromMs: T0 - 3_600_000, toMs: T0 + 86_400_000 - 3_600_000, slackMs: 60_000, graceMs: 300_000 };

function label(over: Partial<Label> & Pick<Label, 'id' | 'type'>): Label {
  return {
    scenario: over.id.replace(/-\d+$/, ''),
    benign: over.type === 'benign',
    entity: { kind: 'host', id: '10.1.0.5' },
    related: [],
    also: [],
    start: iso(T0),
    end: iso(T0 + 600_000),
    truncated: false,
    detail: '',
    facts: {},
    ...over,
  };
}

let n = 0;
function alert(over: Partial<ScoredAlert> & Pick<ScoredAlert, 'type'>, atMs = T0 + 2000): ScoredAlert {
  return {
    id: `a${n++}`,
    entity: { kind: 'host', id: '10.1.0.5', name: '' },
    first_seen: iso(atMs),
    detected_at: iso(atMs + 1000),
    supplier_ids: ['s1'],
    ...over,
  };
}

describe('scoreAlerts', () => {
  it('matches by type, entity and time; delay is detected_at minus start', () => {
    const labels = [label({ id: 'port-scan-1', type: 'port_scan' })];
    const s = scoreAlerts(labels, [alert({ type: 'port_scan' })], options);
    const t = s.types.find((x) => x.type === 'port_scan')!;
    expect(t).toMatchObject({ incidents: 1, detected: 1, recall: 1, alerts: 1, falseAlerts: 0, precision: 1 });
    expect(t.medianDelayS).toBe(3);
    expect(s.falseAlertsPerDay).toBe(0);
  });

  it("a volume alert of the exporter carrying the organisation (a related entity) is the incident's, another exporter's is false", () => {
    const labels = [
      label({
        id: 'volume-drop-1',
        type: 'volume_drop',
        entity: { kind: 'organisation', id: 'RHW' },
        related: [{ kind: 'exporter', id: 'severn/edge-3' }],
      }),
    ];
    const own = alert({ type: 'volume_drop', entity: { kind: 'exporter', id: 'severn/edge-3', name: '' }, supplier_ids: ['severn'] });
    const other = alert({ type: 'volume_drop', entity: { kind: 'exporter', id: 'severn/edge-1', name: '' }, supplier_ids: ['severn'] });
    const s = scoreAlerts(labels, [own, other], options);
    expect(s.false.map((a) => a.id)).toEqual([other.id]);
    // The carrying exporter's drop also counts as detecting it (it names a related entity).
    expect(s.types.find((x) => x.type === 'volume_drop')).toMatchObject({ detected: 1, truePositives: 1, falseAlerts: 1 });
  });

  it('an alert of the right type about another entity, or outside the window, is false and the incident missed', () => {
    const labels = [label({ id: 'port-scan-1', type: 'port_scan' })];
    const other = alert({ type: 'port_scan', entity: { kind: 'host', id: '10.9.9.9', name: '' } });
    const late = alert({ type: 'port_scan' }, T0 + 600_000 + 301_000);
    const early = alert({ type: 'port_scan' }, T0 - 61_000);
    const s = scoreAlerts(labels, [other, late, early], options);
    const t = s.types.find((x) => x.type === 'port_scan')!;
    expect(t).toMatchObject({ detected: 0, recall: 0, alerts: 3, falseAlerts: 3, precision: 0, missed: ['port-scan-1'] });
    expect(s.falseAlerts).toBe(3);
  });

  it("after the evaluated period an unexplained alert is not scored (the network stopped), an incident's late alert still counts", () => {
    const end = options.toMs;
    const labels = [
      label({
        id: 'port-scan-1',
        type: 'port_scan',
        start: new Date(end - 120_000).toISOString(),
        end: new Date(end - 60_000).toISOString(),
      }),
    ];
    const drop = alert({ type: 'volume_drop', entity: { kind: 'supplier', id: 'severn', name: '' } }, end + 10_000);
    const before = alert({ type: 'volume_drop', entity: { kind: 'supplier', id: 'severn', name: '' } }, end - 10_000);
    const late = alert({ type: 'port_scan' }, end + 30_000);
    const s = scoreAlerts(labels, [drop, before, late], options);
    expect(s.falseAlerts).toBe(1);
    expect(s.false).toEqual([before]);
    expect(s.types.find((x) => x.type === 'port_scan')).toMatchObject({ detected: 1, alerts: 1 });
    expect(s.types.find((x) => x.type === 'volume_drop')).toMatchObject({ alerts: 1, falseAlerts: 1 });
  });

  it('several alerts for one incident count once for recall and as true in precision (duplicates reported)', () => {
    const labels = [label({ id: 'worm-smb-1', type: 'lateral_movement', entity: { kind: 'organisation', id: 'RR8' } })];
    const pair = (id: string) => alert({ type: 'lateral_movement', entity: { kind: 'organisation_pair', id, name: '' } });
    const s = scoreAlerts(labels, [pair('RR8>A1'), pair('A2>RR8'), pair('RR8>A3')], options);
    const t = s.types.find((x) => x.type === 'lateral_movement')!;
    expect(t).toMatchObject({ incidents: 1, detected: 1, recall: 1, alerts: 3, truePositives: 3, precision: 1, alertsPerIncident: 3 });
  });

  it("alerts of a type the incident also causes are explained, not required, and don't count for recall", () => {
    const labels = [label({ id: 'worm-smb-1', type: 'lateral_movement', also: ['host_sweep'] })];
    const s = scoreAlerts(labels, [alert({ type: 'host_sweep' })], options);
    expect(s.types.find((x) => x.type === 'host_sweep')).toMatchObject({ incidents: 0, alerts: 1, falseAlerts: 0, precision: 1 });
    expect(s.types.find((x) => x.type === 'lateral_movement')).toMatchObject({ incidents: 1, detected: 0 });
  });

  it('names: organisations, addresses and services of the alert; suppliers by supplier_ids', () => {
    const labels = [
      label({ id: 'policy-breach-1', type: 'policy', entity: { kind: 'organisation', id: 'CH1' } }),
      label({ id: 'exporter-silence-2', type: 'telemetry_silence', entity: { kind: 'supplier', id: 'kestrel' } }),
    ];
    const policy = alert({ type: 'policy', entity: { kind: 'policy', id: 'pacs', name: '' }, src_org: 'CH1' });
    const exporter = alert({
      type: 'telemetry_silence',
      entity: { kind: 'exporter', id: 'kestrel/core-1', name: '' },
      supplier_ids: ['kestrel'],
    });
    const s = scoreAlerts(labels, [policy, exporter], options);
    expect(s.detected).toBe(2);
    expect(s.falseAlerts).toBe(0);
  });

  it('benign incidents explain nothing: alerts during them are false and counted as such', () => {
    const labels = [label({ id: 'logon-surge-1', type: 'benign', entity: { kind: 'network', id: 'all' } })];
    const s = scoreAlerts(labels, [alert({ type: 'volume_spike' })], options);
    expect(s).toMatchObject({ incidents: 0, falseAlerts: 1, benignAlerts: 1 });
    expect(s.falseAlertsPerDay).toBeCloseTo(1);
  });

  it('alerts first seen in the learning period are not scored', () => {
    const s = scoreAlerts([], [alert({ type: 'new_pair' }, options.fromMs - 1000)], options);
    expect(s.alerts).toBe(0);
  });

  it('the first alert (by detected_at) gives the delay', () => {
    const labels = [label({ id: 'ddos-1', type: 'syn_flood' })];
    const s = scoreAlerts(labels, [alert({ type: 'syn_flood' }, T0 + 9000), alert({ type: 'syn_flood' }, T0 + 4000)], options);
    expect(s.types.find((x) => x.type === 'syn_flood')!.worstDelayS).toBe(5);
  });
});
