import type { RegistryConfig } from '@flowwatch/config';
import { detectorSchema } from '@flowwatch/config';
import { DetectionEngine, mulberry32 } from '@flowwatch/detection';
import { Enricher } from '@flowwatch/enrichment';
import { decodeFlows, emptyFlow, encodeFlows, type FlowRecord } from '@flowwatch/flow-schema';

/** 300 organisations on 8 suppliers (an IPv4 /18 each), a dozen national services, 3 exporters per supplier. */
export function benchRegistry(): RegistryConfig {
  const suppliers = Array.from({ length: 8 }, (_, s) => ({
    id: `supplier-${s}`,
    name: `Supplier ${s}`,
    exporters: [],
    pushTokens: [],
    clientCertFingerprints: [],
  }));
  const organisations = Array.from({ length: 300 }, (_, i) => ({
    code: `R${i.toString(36).toUpperCase().padStart(2, '0')}`,
    name: `Organisation ${i}`,
    type: 'acute',
    supplier: `supplier-${i % 8}`,
    prefixes: [`10.${i >> 2}.${(i & 3) * 64}.0/18`],
  }));
  const services = Array.from({ length: 12 }, (_, k) => ({
    id: `svc-${k}`,
    name: `Service ${k}`,
    supplier: 'supplier-0',
    prefixes: [`10.200.${k}.0/24`],
    ports: [443],
  }));
  return { suppliers, organisations, services, groups: [] };
}

/**
 * Flows as a national network sends them: half to national services, a quarter between
 * organisations (each talks to a handful of partners, some on SMB or RDP), 15 % to the internet,
 * 10 % one-packet DNS; 2,000 hosts per organisation; 2,000 flows per simulated second, so the
 * minute intervals close and every detector family runs its interval work during the run.
 */
export function benchFlows(n: number, t0: number): FlowRecord[] {
  const random = mulberry32(42);
  const out: FlowRecord[] = [];
  for (let i = 0; i < n; i++) {
    const o = Math.floor(random() * 300);
    const host = Math.floor(random() * 2000);
    const src = `10.${o >> 2}.${(o & 3) * 64 + (host >> 8)}.${host & 255}`;
    const r = random();
    const packets = 1 + Math.floor(random() * 60);
    let dst: string;
    let port = 443;
    let proto = 6;
    if (r < 0.5) dst = `10.200.${Math.floor(random() * 12)}.${1 + Math.floor(random() * 20)}`;
    else if (r < 0.75) {
      const p = (o + 1 + Math.floor(random() * 5)) % 300;
      dst = `10.${p >> 2}.${(p & 3) * 64}.${1 + Math.floor(random() * 30)}`;
      port = random() < 0.1 ? 445 : 443;
    } else if (r < 0.9) dst = `198.51.${Math.floor(random() * 100)}.${Math.floor(random() * 250)}`;
    else {
      dst = '192.0.2.53';
      port = 53;
      proto = 17;
    }
    const t = t0 + i / 2;
    out.push({
      ...emptyFlow('IPFIX'),
      time_received_ns: (t + 800) * 1e6,
      time_flow_start_ns: (t - 5000) * 1e6,
      time_flow_end_ns: t * 1e6,
      src_addr: src,
      dst_addr: dst,
      src_port: 1024 + Math.floor(random() * 60_000),
      dst_port: port,
      proto,
      tcp_flags: proto === 6 ? 0x1b : 0,
      packets: proto === 17 ? 1 : packets,
      bytes: proto === 17 ? 80 : packets * 900,
      sampling_rate: 1,
      supplier_id: `supplier-${o % 8}`,
      exporter_id: `core-${host % 3}`,
    });
  }
  return out;
}

/**
 * The flows as the detector reads them from `flows`: binary messages of one exporter's records
 * (the collector packs each exporter's datagrams into messages keyed by supplier/exporter, so a
 * message's records share its supplier, exporter and repeated addresses as one string each).
 * `perMessage` records a message, about one NetFlow v9 or IPFIX datagram's worth; a message is
 * written when full, so the stream is in event-time order to within one message per exporter.
 */
export function benchMessages(flows: readonly FlowRecord[], perMessage: number): Buffer[] {
  const open = new Map<string, FlowRecord[]>();
  const out: Buffer[] = [];
  for (const f of flows) {
    const key = `${f.supplier_id}/${f.exporter_id}`;
    let held = open.get(key);
    if (held === undefined) open.set(key, (held = []));
    held.push(f);
    if (held.length === perMessage) {
      out.push(encodeFlows(held, 0, held.length, 'binary'));
      held.length = 0;
    }
  }
  for (const held of open.values()) if (held.length > 0) out.push(encodeFlows(held, 0, held.length, 'binary'));
  return out;
}

const MESSAGE_RECORDS = Number(process.env.FLOWWATCH_BENCH_DETECTOR_MESSAGE_RECORDS ?? 30);
/** Entities per table in the run with full tables: every new host and scan key evicts one. */
const FULL_TABLES_CAPACITY = 20_000;

/**
 * One engine over `messages` as the service runs it: each message decoded, then its records
 * enriched and detected (only the encoded messages are held, as a consumer's fetched batches are:
 * the records die young). A warm-up over the first messages (JIT), then the rest timed in CPU
 * seconds, then the same messages decoded again on their own: the engine's share is the rest.
 */
function timeEngine(engine: DetectionEngine, messages: readonly Buffer[], warmFlows: number) {
  let m = 0;
  let warm = 0;
  for (; m < messages.length && warm < warmFlows; m++) {
    const { records } = decodeFlows(messages[m]!);
    for (const f of records) engine.process(f);
    warm += records.length;
  }
  engine.drain();
  let flows = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  for (let k = m; k < messages.length; k++) {
    const { records } = decodeFlows(messages[k]!);
    for (const f of records) engine.process(f);
    flows += records.length;
  }
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  engine.drain();
  const dCpu0 = process.cpuUsage();
  for (let k = m; k < messages.length; k++) decodeFlows(messages[k]!);
  const dCpu = process.cpuUsage(dCpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const decodeSeconds = (dCpu.user + dCpu.system) / 1e6;
  return { flows, seconds, cpuSeconds, decodeSeconds, engineSeconds: Math.max(1e-9, cpuSeconds - decodeSeconds) };
}

export async function detectorBench(print: (o: Record<string, unknown>) => void, n: number): Promise<void> {
  const t0 = Date.UTC(2026, 10, 3, 10);
  const flows = benchFlows(n, t0);
  const config = detectorSchema.parse({});
  const gc = (globalThis as { gc?: () => void }).gc;
  const registry = benchRegistry();
  // Detection alone, on flows enriched beforehand (the service enriches as part of processing).
  const enricher = new Enricher(registry);
  const enriched = flows.map((f) => enricher.enrich(f));
  const alone = new DetectionEngine({ config, registry });
  const half = Math.min(100_000, n);
  for (let i = 0; i < half; i++) alone.processEnriched(enriched[i]!);
  const a0 = performance.now();
  const aCpu0 = process.cpuUsage();
  for (let i = half; i < n; i++) alone.processEnriched(enriched[i]!);
  const aCpu = process.cpuUsage(aCpu0);
  const detectOnly = (n - half) / ((performance.now() - a0) / 1000);
  const detectOnlyCpu = (n - half) / ((aCpu.user + aCpu.system) / 1e6);
  enriched.length = 0;
  // What the service does with a message of `flows`: decode it, then enrich and detect each record.
  const messages = benchMessages(flows, MESSAGE_RECORDS);
  flows.length = 0;
  const warmFlows = Math.min(100_000, n / 10);
  // Tables full from the start: each new host and scan key evicts the least recently seen (a storm
  // of spoofed sources or scanners fills them so; the default capacity is 200,000 a table).
  const full = timeEngine(new DetectionEngine({ config: { ...config, maxEntities: FULL_TABLES_CAPACITY }, registry }), messages, warmFlows);
  let engine: DetectionEngine | undefined = new DetectionEngine({ config, registry });
  const run = timeEngine(engine, messages, warmFlows);
  const stats = engine.stats();
  const approx = engine.approximateBytes();
  const entities = Object.values(stats.entities).reduce((a, b) => a + b, 0);
  // Heap held by the engine, measured by dropping it (with node --expose-gc; null without).
  gc?.();
  const heapWith = process.memoryUsage().heapUsed;
  engine = undefined;
  await new Promise((r) => setImmediate(r));
  gc?.();
  const heapDelta = heapWith - process.memoryUsage().heapUsed;
  const timed = run.flows;
  print({
    bench: 'detector',
    flows: timed,
    simulated_seconds: Math.round(timed / 2000),
    seconds: +run.seconds.toFixed(3),
    flows_per_second: Math.round(timed / run.seconds),
    // Decoding, enrichment and detection: one detector core's work per flow, the Kafka client aside.
    flows_per_cpu_second: Math.round(timed / run.cpuSeconds),
    records_per_message: MESSAGE_RECORDS,
    decode_flows_per_cpu_second: Math.round(timed / run.decodeSeconds),
    // Enrichment and detection: the decode-and-detect CPU time less decoding's on its own.
    engine_flows_per_cpu_second: Math.round(timed / run.engineSeconds),
    full_tables_capacity: FULL_TABLES_CAPACITY,
    full_tables_engine_flows_per_cpu_second: Math.round(full.flows / full.engineSeconds),
    detection_only_flows_per_second: Math.round(detectOnly),
    detection_only_flows_per_cpu_second: Math.round(detectOnlyCpu),
    entities: stats.entities,
    evictions: stats.evictions,
    state_bytes_per_entity: Object.fromEntries(
      Object.entries(approx).map(([family, bytes]) => [family, stats.entities[family] ? Math.round(bytes / stats.entities[family]!) : 0]),
    ),
    heap_bytes_per_entity: gc ? Math.round(heapDelta / Math.max(1, entities)) : null,
    open_alerts: stats.openAlerts,
  });
}
