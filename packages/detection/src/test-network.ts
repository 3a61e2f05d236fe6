import { type DetectorConfigInput, detectorSchema, type RegistryConfig } from '@flowwatch/config';
import { emptyFlow, type FlowRecord } from '@flowwatch/flow-schema';
import { DetectionEngine } from './engine.js';
import { mulberry32 } from './hash.js';
import { diurnalFactor, gaussian } from './test-traffic.js';

/**
 * A small network of networks for tests and benchmarks: `orgs` organisations on 3 suppliers
 * (10.<i>.0.0/16 each; organisation 0 is "Leeds Teaching Hospitals" on supplier-b), a national
 * records service (10.250.1.0/24:443) and mail (10.250.2.0/24), two exporters per supplier.
 */
export function testRegistry(orgs = 30): RegistryConfig {
  const suppliers = ['supplier-a', 'supplier-b', 'supplier-c'].map((id, i) => ({
    id,
    name: `Supplier ${'ABC'[i]}`,
    exporters: [],
    pushTokens: [],
    clientCertFingerprints: [],
  }));
  return {
    suppliers,
    organisations: Array.from({ length: orgs }, (_, i) => ({
      code: i === 0 ? 'RR8' : `O${String(i).padStart(2, '0')}`,
      name: i === 0 ? 'Leeds Teaching Hospitals' : `Organisation ${i}`,
      type: 'acute',
      supplier: i === 0 ? 'supplier-b' : suppliers[i % 3]!.id,
      prefixes: [`10.${i + 1}.0.0/16`],
    })),
    services: [
      { id: 'records', name: 'National records', supplier: 'supplier-a', prefixes: ['10.250.1.0/24'], ports: [443] },
      { id: 'mail', name: 'NHSmail', supplier: 'supplier-c', prefixes: ['10.250.2.0/24'], ports: [25, 443] },
    ],
    groups: [{ id: 'acute', name: 'Acute trusts', organisations: ['RR8', 'O01', 'O02'] }],
  };
}

export function testConfig(input: DetectorConfigInput = {}) {
  return detectorSchema.parse(input);
}

export function testEngine(input: DetectorConfigInput = {}, orgs = 30): DetectionEngine {
  return new DetectionEngine({ config: testConfig(input), registry: testRegistry(orgs) });
}

export const orgCode = (i: number) => (i === 0 ? 'RR8' : `O${String(i).padStart(2, '0')}`);
export const hostOf = (org: number, host: number) => `10.${org + 1}.${(host >> 8) & 255}.${host & 255}`;

export interface FlowSpec {
  t: number;
  src: string;
  dst: string;
  srcPort?: number;
  dstPort?: number;
  proto?: number;
  bytes?: number;
  packets?: number;
  flags?: number;
  supplier?: string;
  exporter?: string;
}

export function flow(s: FlowSpec): FlowRecord {
  return {
    ...emptyFlow('IPFIX'),
    time_received_ns: (s.t + 1000) * 1e6,
    time_flow_start_ns: (s.t - 2000) * 1e6,
    time_flow_end_ns: s.t * 1e6,
    src_addr: s.src,
    dst_addr: s.dst,
    src_port: s.srcPort ?? 50_000,
    dst_port: s.dstPort ?? 443,
    proto: s.proto ?? 6,
    bytes: s.bytes ?? 20_000,
    packets: s.packets ?? 20,
    tcp_flags: s.flags ?? ((s.proto ?? 6) === 6 ? 0x1b : 0),
    sampling_rate: 1,
    supplier_id: s.supplier ?? 'supplier-a',
    exporter_id: s.exporter ?? 'core-1',
  };
}

/**
 * Seeded normal traffic: every second, about `peakPerSecond` x the working-day curve flows from
 * random hosts of random organisations: 55 % to the records service, 20 % to one of three partner
 * organisations, 15 % to the internet, 10 % DNS to the internet (one-packet UDP). Log-normal sizes.
 * Each flow is reported by an exporter of its source organisation's supplier.
 */
export function* backgroundTraffic(options: { startMs: number; seconds: number; peakPerSecond: number; seed: number; orgs?: number }) {
  const orgs = options.orgs ?? 30;
  const random = mulberry32(options.seed);
  for (let s = 0; s < options.seconds; s++) {
    const second = options.startMs + s * 1000;
    const rate = options.peakPerSecond * diurnalFactor(second);
    const n = Math.floor(rate) + (random() < rate - Math.floor(rate) ? 1 : 0);
    for (let k = 0; k < n; k++) {
      const t = second + Math.floor(random() * 1000);
      const o = Math.floor(random() * orgs);
      const src = hostOf(o, 1 + Math.floor(random() * 200));
      const supplier = o === 0 ? 'supplier-b' : `supplier-${'abc'[o % 3]}`;
      const exporter = `core-${1 + (o % 2)}`;
      const r = random();
      const packets = Math.max(4, Math.round(20 * Math.exp(0.8 * gaussian(random))));
      const base = { t, src, supplier, exporter, srcPort: 32_768 + Math.floor(random() * 28_000), packets, bytes: packets * 700 };
      if (r < 0.55) yield flow({ ...base, dst: `10.250.1.${1 + Math.floor(random() * 10)}`, dstPort: 443 });
      else if (r < 0.75) {
        const partner = (o + 1 + Math.floor(random() * 3)) % orgs;
        yield flow({ ...base, dst: hostOf(partner, 10 + Math.floor(random() * 5)), dstPort: 443 });
      } else if (r < 0.9) yield flow({ ...base, dst: `198.51.100.${Math.floor(random() * 250)}`, dstPort: 443 });
      else yield flow({ ...base, dst: '192.0.2.53', dstPort: 53, proto: 17, packets: 1, bytes: 80 });
    }
  }
}

/** Feeds flows and returns every alert change the engine produced. */
export function run(engine: DetectionEngine, flows: Iterable<FlowRecord>) {
  const changes = [];
  for (const f of flows) {
    engine.process(f);
    changes.push(...engine.drain());
  }
  return changes;
}

export const DAY_MS = 86_400_000;
/** Tuesday 2026-11-03 00:00 UTC. */
export const TUESDAY = Date.UTC(2026, 10, 3);

/** Merges flow streams, each in event-time order, into one in event-time order. */
export function* merge(...streams: Iterable<FlowRecord>[]): Generator<FlowRecord> {
  const its = streams.map((s) => s[Symbol.iterator]());
  const heads = its.map((it) => it.next());
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i]!;
      if (!h.done && (best < 0 || h.value.time_flow_end_ns < (heads[best]!.value as FlowRecord).time_flow_end_ns)) best = i;
    }
    if (best < 0) return;
    yield heads[best]!.value as FlowRecord;
    heads[best] = its[best]!.next();
  }
}
