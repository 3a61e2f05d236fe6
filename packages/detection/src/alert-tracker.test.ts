import { alertSchema } from '@flowwatch/flow-schema';
import { describe, expect, it } from 'vitest';
import { AlertTracker } from './alert-tracker.js';
import type { Detection } from './detection.js';
import { Directory } from './directory.js';
import { testConfig, testRegistry } from './test-network.js';

const T0 = Date.UTC(2026, 10, 3, 10);
const MIN = 60_000;

function tracker(input: Parameters<typeof testConfig>[0] = {}) {
  const config = testConfig(input);
  return new AlertTracker(config, new Directory(testRegistry()), (d) => ({ top_flows: [], top_sources: [], details: d.details }));
}

function detection(atMs: number, over: Partial<Detection> = {}): Detection {
  return {
    type: 'port_scan',
    entity: { kind: 'host', id: '10.1.0.66', name: '10.1.0.66 in Leeds Teaching Hospitals (supplier-b)' },
    discriminator: '10.2.0.1',
    supplierIds: ['supplier-b'],
    srcOrg: 'RR8',
    atMs,
    observed: 120,
    expected: 100,
    score: 1.2,
    severity: 'medium',
    summary: 'scan',
    details: { unit: 'distinct ports' },
    receivedNs: atMs * 1e6,
    ...over,
  };
}

describe('AlertTracker', () => {
  it('opens once, updates at most every update interval, escalates at once, resolves after the quiet period and re-opens', () => {
    const t = tracker();
    for (let i = 0; i < 180; i++) t.raise(detection(T0 + i * 1000, { score: 1 + i / 100 }));
    t.raise(detection(T0 + 181_000, { severity: 'high', score: 3 }));
    let changes = t.drain();
    expect(changes.map((c) => c.event)).toEqual(['opened', 'updated', 'updated', 'escalated']);
    expect(new Set(changes.map((c) => c.alert.id)).size).toBe(1);
    expect(changes.map((c) => c.alert.version)).toEqual([1, 2, 3, 4]);
    for (const c of changes) expect(alertSchema.safeParse(c.alert).success).toBe(true);
    t.sweep(T0 + 181_000 + 5 * MIN - 1);
    expect(t.drain()).toEqual([]);
    t.sweep(T0 + 181_000 + 5 * MIN);
    changes = t.drain();
    expect(changes.map((c) => [c.event, c.alert.status])).toEqual([['resolved', 'resolved']]);
    const id = changes[0]!.alert.id;
    t.raise(detection(T0 + 30 * MIN));
    changes = t.drain();
    expect(changes.map((c) => [c.event, c.alert.id, c.alert.status])).toEqual([['reopened', id, 'open']]);
    // After the re-open window a recurrence is a new alert.
    t.sweep(T0 + 40 * MIN);
    t.drain();
    t.raise(detection(T0 + 200 * MIN));
    changes = t.drain();
    expect(changes[0]!.event).toBe('opened');
    expect(changes[0]!.alert.id).not.toBe(id);
  });

  it('drops suppressed detections and those in a maintenance window, and applies severity rules', () => {
    const t = tracker({
      suppressions: [{ entities: ['host:10.9.9.9'] }],
      maintenance: [{ suppliers: ['supplier-b'], weekly: { days: ['tue'], from: '09:00', to: '11:00' } }],
      severity: [{ groups: ['acute'], types: ['port_scan'], severity: 'critical' }],
    });
    t.raise(detection(T0, { entity: { kind: 'host', id: '10.9.9.9', name: 'x' } }));
    t.raise(detection(T0)); // Tuesday 10:00, supplier-b in maintenance
    expect(t.drain()).toEqual([]);
    expect(t.counters).toMatchObject({ suppressed: 1, maintenance: 1 });
    t.raise(detection(T0 + 2 * 3_600_000));
    expect(t.drain().map((c) => c.alert.severity)).toEqual(['critical']);
  });

  it("applies suppressions set at run time (the API's) besides the configured ones, and lifts them when replaced", () => {
    const t = tracker({ suppressions: [{ entities: ['host:10.9.9.9'] }] });
    t.setSuppressions([{ types: ['port_scan'], organisations: ['RR8'], entities: [], groups: [], suppliers: [], reason: 'pen test' }]);
    t.raise(detection(T0));
    t.raise(detection(T0, { entity: { kind: 'host', id: '10.9.9.9', name: 'x' } }));
    expect(t.drain()).toEqual([]);
    expect(t.counters.suppressed).toBe(2);
    t.setSuppressions([]);
    t.raise(detection(T0 + MIN));
    expect(t.drain().map((c) => c.event)).toEqual(['opened']);
  });

  it('restores from a snapshot without re-opening what is already open', () => {
    const a = tracker();
    a.raise(detection(T0));
    a.drain();
    const b = tracker();
    b.restore(JSON.parse(JSON.stringify(a.snapshot())));
    b.raise(detection(T0 + 1000));
    expect(b.drain()).toEqual([]);
    expect(b.open()).toHaveLength(1);
  });

  describe("analysts' changes (the API's acknowledge and resolve)", () => {
    const WALL = Date.UTC(2026, 10, 3, 12);
    const opened = () => {
      const t = tracker();
      t.raise(detection(T0));
      const [c] = t.drain();
      return { t, id: c!.alert.id, version: c!.alert.version };
    };

    it("keeps an acknowledgement through updates, published above the analyst's version, until the alert resolves", () => {
      const { t, id, version } = opened();
      t.applyAnalyst([{ id, status: 'acknowledged', atMs: WALL, version: version + 1 }]);
      let changes = t.drain();
      expect(changes.map((c) => [c.event, c.alert.status, c.alert.version, c.analyst])).toEqual([
        ['acknowledged', 'acknowledged', version + 2, true],
      ]);
      t.raise(detection(T0 + 2 * MIN, { score: 2 }));
      t.raise(detection(T0 + 2 * MIN + 1000, { severity: 'high', score: 3 }));
      changes = t.drain();
      expect(changes.map((c) => [c.event, c.alert.status, c.alert.version])).toEqual([
        ['updated', 'acknowledged', version + 3],
        ['escalated', 'acknowledged', version + 4],
      ]);
      expect(t.open()).toHaveLength(1);
      t.sweep(T0 + 2 * MIN + 1000 + 5 * MIN);
      changes = t.drain();
      expect(changes.map((c) => [c.event, c.alert.status])).toEqual([['resolved', 'resolved']]);
      // Applied once: the same change read again does nothing.
      t.applyAnalyst([{ id, status: 'acknowledged', atMs: WALL, version: version + 1 }]);
      expect(t.drain()).toEqual([]);
    });

    it("goes above an update of its own that raced the analyst's write, and keeps an alert it had resolved meanwhile resolved", () => {
      const { t, id, version } = opened();
      t.raise(detection(T0 + 2 * MIN, { score: 2 }));
      const [update] = t.drain();
      expect(update!.alert.version).toBe(version + 1);
      // The analyst wrote version + 1 from the row before the update: the same version, either may be kept.
      t.applyAnalyst([{ id, status: 'acknowledged', atMs: WALL, version: version + 1 }]);
      let changes = t.drain();
      expect(changes.map((c) => [c.event, c.alert.status, c.alert.version])).toEqual([['acknowledged', 'acknowledged', version + 2]]);

      const other = opened();
      other.t.sweep(T0 + 5 * MIN);
      expect(other.t.drain().map((c) => c.alert.status)).toEqual(['resolved']);
      other.t.applyAnalyst([{ id: other.id, status: 'acknowledged', atMs: WALL, version: other.version + 1 }]);
      changes = other.t.drain();
      expect(changes.map((c) => [c.event, c.alert.status, c.alert.version, c.analyst])).toEqual([
        ['updated', 'resolved', other.version + 2, undefined],
      ]);
    });

    it('resolves when an analyst resolves; a later sighting re-opens it; a checkpoint remembers what was applied', () => {
      const { t, id, version } = opened();
      t.applyAnalyst([{ id, status: 'resolved', atMs: WALL, version: version + 1 }]);
      expect(t.drain().map((c) => [c.event, c.alert.status, c.alert.version])).toEqual([['resolved', 'resolved', version + 2]]);
      expect(t.open()).toEqual([]);
      const restored = tracker();
      restored.restore(JSON.parse(JSON.stringify(t.snapshot())));
      restored.applyAnalyst([{ id, status: 'resolved', atMs: WALL, version: version + 1 }]);
      expect(restored.drain()).toEqual([]);
      restored.raise(detection(T0 + MIN));
      const changes = restored.drain();
      expect(changes.map((c) => [c.event, c.alert.id, c.alert.status, c.alert.version])).toEqual([['reopened', id, 'open', version + 3]]);
      // Unknown alerts are ignored.
      restored.applyAnalyst([{ id: 'nope', status: 'resolved', atMs: WALL + 1, version: 9 }]);
      expect(restored.drain()).toEqual([]);
      expect(restored.ids()).toEqual([id]);
    });
  });
});
