import type { FlowRecord } from '@flowwatch/flow-schema';
import { describe, expect, it, vi } from 'vitest';
import { ipv4ToNumber, parseIpv4Prefix } from '../addresses.js';
import { generateNetwork } from '../generate-network.js';
import type { Label } from '../labels.js';
import { Simulation } from '../simulation.js';
import { createScenarios, randomSchedule, SCENARIO_NAMES, SCENARIOS, type ScenarioRequest } from './index.js';

// Simulated traffic: a second or two on a quiet core, more on a loaded one.
vi.setConfig({ testTimeout: 60_000 });

const SEED = 21;
const network = generateNetwork({ seed: SEED });
const START = Date.UTC(2026, 10, 24, 9, 0);
const MIN = 60_000;

interface Run {
  records: FlowRecord[];
  labels: Label[];
  sim: Simulation;
}

function run(requests: ScenarioRequest[], options: { untilMs: number; background?: boolean; speed?: number; rate?: number }): Run {
  const sim = new Simulation(network, {
    seed: SEED,
    startMs: START,
    speed: options.speed ?? 60,
    rate: options.rate ?? 3000,
    background: options.background ?? false,
    scenarios: requests,
    keepRecords: true,
  });
  const step = sim.advance(options.untilMs);
  return { records: step.flows, labels: step.labels, sim };
}

const only = (name: string, durationMs?: number, params?: Record<string, string | number>) =>
  run([{ name, startMs: START + MIN, durationMs, params }], { untilMs: START + MIN + (durationMs ?? SCENARIOS[name]!.durationMs) + MIN });

const inPrefix = (addr: string, cidr: string) => {
  if (addr.includes(':')) return false;
  const p = parseIpv4Prefix(cidr);
  const n = ipv4ToNumber(addr);
  return n >= p.base && n < p.base + 2 ** (32 - p.length);
};
const orgOfAddress = (addr: string) =>
  network.organisations.find((o) => {
    if (addr.includes(':')) return false;
    const n = ipv4ToNumber(addr);
    return n >= o.v4.base && n < o.v4.base + 2 ** (32 - o.v4.length);
  });

describe('scenarios: labels', () => {
  const expected: Record<string, [Label['type'], string]> = {
    'worm-smb': ['lateral_movement', 'organisation'],
    ddos: ['syn_flood', 'service'],
    'port-scan': ['port_scan', 'host'],
    'host-sweep': ['host_sweep', 'host'],
    exfiltration: ['exfiltration', 'host'],
    'exporter-silence': ['telemetry_silence', 'supplier'],
    'logon-surge': ['benign', 'network'],
    blocklist: ['blocklist', 'host'],
    'policy-breach': ['policy', 'organisation'],
    'udp-flood': ['flood', 'service'],
    amplification: ['amplification', 'host'],
    'volume-spike': ['volume_spike', 'organisation'],
    'volume-drop': ['volume_drop', 'organisation'],
    'new-pair': ['new_pair', 'organisation'],
  };
  // Floods are thousands of records a second: a low rate keeps the label test quick.
  const quick: Record<string, Record<string, number>> = { ddos: { rate: 50 }, 'udp-flood': { rate: 50 }, amplification: { rate: 5e6 } };

  it('covers every scenario', () => {
    expect(Object.keys(expected).sort()).toEqual([...SCENARIO_NAMES].sort());
  });

  for (const [name, [type, kind]] of Object.entries(expected)) {
    it(`${name}: one label when it ends, type ${type} about a ${kind}, with its window in event time`, () => {
      const r = only(name, 10 * MIN, quick[name]);
      expect(r.labels).toHaveLength(1);
      const l = r.labels[0] as Label;
      expect(l).toMatchObject({ id: `${name}-1`, scenario: name, type, benign: type === 'benign', truncated: false });
      expect(l.entity.kind).toBe(kind);
      expect(l.start).toBe(new Date(START + MIN).toISOString());
      expect(l.end).toBe(new Date(START + 11 * MIN).toISOString());
      expect(l.detail.length).toBeGreaterThan(10);
      expect(JSON.parse(JSON.stringify(l))).toEqual(l);
    });
  }

  it('reports a scenario cut short as truncated at the time reached, and none that never started', () => {
    const sim = new Simulation(network, {
      seed: SEED,
      startMs: START,
      speed: 60,
      rate: 100,
      background: false,
      scenarios: [
        { name: 'port-scan', startMs: START + MIN },
        { name: 'ddos', startMs: START + 60 * MIN },
      ],
    });
    expect(sim.advance(START + 4 * MIN).labels).toEqual([]);
    const labels = sim.finish();
    expect(labels).toHaveLength(1);
    expect(labels[0]).toMatchObject({ id: 'port-scan-1', truncated: true, end: new Date(START + 4 * MIN).toISOString() });
    expect(sim.finish()).toEqual([]);
  });

  it('refuses unknown scenarios and bad parameters', () => {
    expect(() => createScenarios(network, 1, [{ name: 'nope', startMs: START }])).toThrow(/unknown scenario nope/);
    expect(() => createScenarios(network, 1, [{ name: 'ddos', startMs: START, params: { rate: -3 } }])).toThrow(RangeError);
    expect(() => createScenarios(network, 1, [{ name: 'ddos', startMs: START, params: { service: 'nope' } }])).toThrow(/no service nope/);
  });
});

describe('scenarios: traffic', () => {
  it('port-scan: one source probes ~rate x duration ports of one target, mostly answered by RST', () => {
    const r = only('port-scan', 10 * MIN, { rate: 4 });
    const l = r.labels[0] as Label;
    const probes = r.records.filter((f) => f.src_addr === l.entity.id);
    expect(new Set(probes.map((f) => f.dst_addr))).toEqual(new Set([l.facts.target]));
    expect(Math.abs(probes.length - 4 * 600)).toBeLessThanOrEqual(2);
    expect(new Set(probes.map((f) => f.dst_port)).size).toBeGreaterThanOrEqual(1024);
    expect(probes.every((f) => f.tcp_flags === 0x02 && f.packets === 1)).toBe(true);
    const answers = r.records.filter((f) => f.dst_addr === l.entity.id);
    expect(answers.length / probes.length).toBeGreaterThan(0.7);
    expect(answers.length / probes.length).toBeLessThan(0.9);
    expect(orgOfAddress(l.entity.id)?.code).toBe(l.facts.organisation);
    // The scanner sits on an unsampled exporter, so a detector sees every probe.
    expect(orgOfAddress(l.entity.id)?.exporter.samplingRate).toBe(1);
  });

  it('host-sweep: one port on rate x duration distinct addresses of the target prefix', () => {
    const r = only('host-sweep', 10 * MIN);
    const l = r.labels[0] as Label;
    const probes = r.records.filter((f) => f.src_addr === l.entity.id);
    expect(Math.abs(probes.length - 5 * 600)).toBeLessThanOrEqual(2);
    expect(new Set(probes.map((f) => f.dst_addr)).size).toBe(probes.length);
    expect(probes.every((f) => f.dst_port === 445 && inPrefix(f.dst_addr, l.facts.target_prefix as string))).toBe(true);
  });

  it('worm-smb: SMB probes from every infected host, spreading over several organisations, at attempts x host-seconds', () => {
    const r = only('worm-smb', 30 * MIN);
    const l = r.labels[0] as Label;
    const smb = r.records.filter((f) => f.dst_port === 445);
    const sources = new Set(smb.map((f) => f.src_addr));
    expect(sources.size).toBe(l.facts.infected_hosts);
    expect(sources.has(l.facts.patient_zero as string)).toBe(true);
    const orgs = new Set([...sources].map((a) => orgOfAddress(a)?.code));
    expect(orgs.size).toBeGreaterThanOrEqual(3);
    expect([...orgs].sort()).toEqual([...(l.facts.organisations as string[])].sort());
    expect(
      l.related
        .filter((e) => e.kind === 'organisation')
        .map((e) => e.id)
        .sort(),
    ).toEqual([...orgs].filter((c) => c !== l.entity.id).sort() as string[]);
    // Exponential growth: more sources in the last third than in the first.
    const t = (f: FlowRecord) => f.time_flow_end_ns / 1e6 - (START + MIN);
    const early = new Set(smb.filter((f) => t(f) < 10 * MIN).map((f) => f.src_addr)).size;
    const late = new Set(smb.filter((f) => t(f) >= 20 * MIN).map((f) => f.src_addr)).size;
    expect(late).toBeGreaterThan(3 * early);
    const probes = smb.filter((f) => f.tcp_flags === 0x02).length;
    const hostSeconds = [...sources].reduce((s, a) => {
      const first = Math.min(...smb.filter((f) => f.src_addr === a).map(t));
      return s + (30 * MIN - first) / 1000;
    }, 0);
    expect(probes / (2 * hostSeconds)).toBeGreaterThan(0.85);
    expect(probes / (2 * hostSeconds)).toBeLessThan(1.15);
  });

  it('ddos: a botnet of many sources floods the service with SYNs at the rate, through every supplier', () => {
    const r = only('ddos', 10 * MIN, { rate: 100 });
    const l = r.labels[0] as Label;
    const svc = network.services.find((s) => s.id === 'spine')!;
    expect(l.entity).toEqual({ kind: 'service', id: 'spine' });
    expect(r.records.every((f) => inPrefix(f.dst_addr, `${ipv4FromBase(svc.v4.base)}/24`) && f.tcp_flags === 0x02)).toBe(true);
    expect(Math.abs(r.records.length - 100 * 600) / (100 * 600)).toBeLessThan(0.03);
    expect(new Set(r.records.map((f) => f.src_addr)).size).toBeGreaterThan(2500);
    expect(new Set(r.records.map((f) => f.supplier_id))).toEqual(new Set(network.suppliers.map((s) => s.id)));
  });

  it('exfiltration: about rate x duration bytes to one address no background traffic uses', () => {
    const r = only('exfiltration', 60 * MIN, { rate: 20_000 });
    const l = r.labels[0] as Label;
    const up = r.records.filter((f) => f.src_addr === l.entity.id);
    const bytes = up.reduce((s, f) => s + f.bytes, 0);
    expect(bytes / (20_000 * 3600)).toBeGreaterThan(0.9);
    expect(bytes / (20_000 * 3600)).toBeLessThan(1.1);
    expect(new Set(up.map((f) => f.dst_addr))).toEqual(new Set([l.facts.destination]));
    expect(inPrefix(l.facts.destination as string, '192.0.2.0/24')).toBe(true);
    const background = run([], { untilMs: START + 60 * MIN, background: true, speed: 60, rate: 3000 }).records;
    expect(background.length).toBeGreaterThan(10_000);
    expect(background.some((f) => inPrefix(f.dst_addr, '192.0.2.0/24') || inPrefix(f.src_addr, '192.0.2.0/24'))).toBe(false);
    expect(background.some((f) => network.blocklist.includes(f.dst_addr) || network.blocklist.includes(f.src_addr))).toBe(false);
  }, 20_000);

  it('blocklist: the host beacons to a blocklisted address about every interval', () => {
    const r = only('blocklist', 30 * MIN);
    const l = r.labels[0] as Label;
    expect(network.blocklist).toContain(l.facts.indicator);
    const beacons = r.records.filter((f) => f.src_addr === l.entity.id).map((f) => f.time_flow_end_ns / 1e6);
    expect(beacons.length).toBeGreaterThanOrEqual(29);
    expect(beacons.length).toBeLessThanOrEqual(31);
    const gaps = beacons
      .sort((a, b) => a - b)
      .slice(1)
      .map((t, i) => t - (beacons[i] as number));
    expect(Math.min(...gaps)).toBeGreaterThan(45_000);
    expect(Math.max(...gaps)).toBeLessThan(75_000);
  });

  it('policy-breach: a care home retrieves from PACS, which background traffic reaches from acute trusts only', () => {
    const r = only('policy-breach', 30 * MIN);
    const l = r.labels[0] as Label;
    const org = network.organisations.find((o) => o.code === l.entity.id)!;
    expect(org.type).toBe('care-home');
    const pacs = network.services.find((s) => s.id === 'pacs')!;
    const toPacs = (f: FlowRecord) => inPrefix(f.dst_addr, `${ipv4FromBase(pacs.v4.base)}/24`);
    expect(r.records.filter(toPacs).every((f) => orgOfAddress(f.src_addr) === org)).toBe(true);
    expect(r.records.filter(toPacs).length).toBeGreaterThanOrEqual(55);
    const background = run([], { untilMs: START + 30 * MIN, background: true, speed: 60, rate: 5000 }).records.filter(toPacs);
    expect(background.length).toBeGreaterThan(0);
    expect(background.every((f) => orgOfAddress(f.src_addr)?.type === 'acute-trust')).toBe(true);
  });

  it("exporter-silence: the supplier's exporters send nothing in the window, and carry on after", () => {
    const s = new Simulation(network, {
      seed: SEED,
      startMs: START,
      speed: 60,
      rate: 3000,
      scenarios: [{ name: 'exporter-silence', startMs: START + 10 * MIN, durationMs: 10 * MIN }],
    });
    const before = s.advance(START + 10 * MIN);
    const during = s.advance(START + 20 * MIN);
    const after = s.advance(START + 30 * MIN);
    const supplier = during.labels[0]?.entity.id as string;
    const of = (d: { exporter: { supplierId: string } }) => d.exporter.supplierId === supplier;
    expect(before.datagrams.filter(of).length + before.pushes.filter(of).length).toBeGreaterThan(0);
    expect(during.datagrams.filter(of).length + during.pushes.filter(of).length).toBe(0);
    expect(after.datagrams.filter(of).length + after.pushes.filter(of).length).toBeGreaterThan(0);
    // The others are unaffected.
    expect(during.datagrams.filter((d) => !of(d)).length).toBeGreaterThan(0);
  });

  it('logon-surge: authentication and mail rise to about the factor mid-way; other applications are untouched, flow for flow', () => {
    const window = { untilMs: START + 30 * MIN, background: true, speed: 60, rate: 3000 };
    const base = run([], window).records;
    const surge = run([{ name: 'logon-surge', startMs: START, durationMs: 30 * MIN, params: { factor: 4 } }], window).records;
    const mid = (f: FlowRecord) => Math.abs(f.time_flow_end_ns / 1e6 - (START + 15 * MIN)) < 3 * MIN;
    const identity = network.services.find((s) => s.id === 'identity')!;
    const auth = (f: FlowRecord) => mid(f) && inPrefix(f.dst_addr, `${ipv4FromBase(identity.v4.base)}/24`);
    const ratio = surge.filter(auth).length / base.filter(auth).length;
    expect(ratio).toBeGreaterThan(3);
    expect(ratio).toBeLessThan(5);
    const backup = network.services.find((s) => s.id === 'backup')!;
    const other = (f: FlowRecord) => inPrefix(f.dst_addr, `${ipv4FromBase(backup.v4.base)}/24`);
    expect(surge.filter(other)).toEqual(base.filter(other));
  }, 20_000);

  it('is deterministic: the same scenario twice gives the same records', () => {
    const a = only('worm-smb', 10 * MIN).records;
    const b = only('worm-smb', 10 * MIN).records;
    expect(b).toEqual(a);
  });
});

describe('randomSchedule', () => {
  it('spreads count scenarios over the span, one at a time, every kind at least once', () => {
    const week = 7 * 24 * 60 * MIN;
    const count = SCENARIO_NAMES.length + 2;
    const plan = randomSchedule(5, START, week, count);
    expect(plan).toHaveLength(count);
    expect(new Set(plan.map((p) => p.name))).toEqual(new Set(SCENARIO_NAMES));
    const sorted = [...plan].sort((a, b) => a.startMs - b.startMs);
    for (let i = 0; i < sorted.length; i++) {
      const p = sorted[i]!;
      expect(p.startMs).toBeGreaterThanOrEqual(START);
      expect(p.startMs + (p.durationMs ?? 0)).toBeLessThanOrEqual(START + week);
      if (i > 0) expect(p.startMs).toBeGreaterThanOrEqual(sorted[i - 1]!.startMs + (sorted[i - 1]!.durationMs ?? 0));
    }
    expect(randomSchedule(5, START, week, count)).toEqual(plan);
    expect(randomSchedule(6, START, week, count)).not.toEqual(plan);
  });
});

function ipv4FromBase(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}
