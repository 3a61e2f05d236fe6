import { Enricher } from '@flowwatch/enrichment';
import type { FlowRecord } from '@flowwatch/flow-schema';
import { describe, expect, it } from 'vitest';
import { generateNetwork } from './generate-network.js';
import { ACTIVE_TIMEOUT_MS, TrafficModel } from './traffic-model.js';

const network = generateNetwork({ seed: 5 });
const options = { seed: 5, rate: 1000, speed: 1, slotMs: 1000 };
const model = new TrafficModel(network, options);
const TUESDAY_10 = Date.UTC(2026, 10, 24, 10, 0);
const SUNDAY_03 = Date.UTC(2026, 10, 29, 3, 0);

function slots(m: TrafficModel, fromMs: number, count: number, slotMs = 1000): FlowRecord[] {
  const out: FlowRecord[] = [];
  for (let i = 0; i < count; i++) m.slot(fromMs / slotMs + i, out);
  return out;
}

const busy = slots(model, TUESDAY_10, 120);

describe('TrafficModel', () => {
  it('is deterministic: a slot is the same whenever and however it is generated', () => {
    const index = TUESDAY_10 / 1000 + 7;
    const a: FlowRecord[] = [];
    model.slot(index, a);
    const b: FlowRecord[] = [];
    const fresh = new TrafficModel(generateNetwork({ seed: 5 }), options);
    fresh.slot(index + 1, []);
    fresh.slot(index, b);
    expect(b).toEqual(a);
    const c: FlowRecord[] = [];
    new TrafficModel(generateNetwork({ seed: 6 }), { ...options, seed: 6 }).slot(index, c);
    expect(c).not.toEqual(a);
  });

  it('makes about `rate` records a second at the weekly peak, and the expected count at other times', () => {
    // rate is the peak over the week; Tuesday 10:00 is near it.
    const expected = model.expectedRecordsPerSecond(TUESDAY_10 + 60_000) * 120;
    expect(expected).toBeGreaterThan(0.85 * 1000 * 120);
    expect(expected).toBeLessThanOrEqual(1000 * 120 * 1.0001);
    // Day factor (sigma 0.08) and minute noise (sigma 0.1) allow roughly +-30%.
    expect(busy.length / expected).toBeGreaterThan(0.7);
    expect(busy.length / expected).toBeLessThan(1.3);
  });

  it('follows the week: Sunday night is a small fraction of a Tuesday morning', () => {
    const quiet = slots(model, SUNDAY_03, 120);
    expect(quiet.length).toBeGreaterThan(0);
    expect(quiet.length).toBeLessThan(busy.length / 3);
    const ratio = model.expectedRecordsPerSecond(SUNDAY_03) / model.expectedRecordsPerSecond(TUESDAY_10);
    expect(quiet.length / busy.length).toBeGreaterThan(ratio * 0.6);
    expect(quiet.length / busy.length).toBeLessThan(ratio * 1.6);
  });

  it('scales with speed: event-time density is rate / speed', () => {
    const fast = new TrafficModel(network, { ...options, speed: 60, slotMs: 6000 });
    expect(fast.expectedRecordsPerSecond(TUESDAY_10)).toBeCloseTo(model.expectedRecordsPerSecond(TUESDAY_10) / 60, 6);
  });

  it("exports every record through the exporter of the organisation it belongs to, as the registry's prefixes say", () => {
    const enricher = new Enricher(network.registry);
    const byCode = new Map(network.organisations.map((o) => [o.code, o]));
    for (const r of busy.slice(0, 20_000)) {
      const e = enricher.enrich(r);
      // The organisation side: the source, or for answers and Internet probes the destination.
      const org = byCode.get(e.src_org) ?? byCode.get(e.dst_org);
      expect(org, `${r.src_addr} -> ${r.dst_addr}`).toBeDefined();
      const mine = [e.src_org, e.dst_org]
        .map((c) => byCode.get(c))
        .filter((o) => o?.exporter.id === r.exporter_id && o.supplierId === r.supplier_id);
      expect(mine.length, `${r.src_addr} -> ${r.dst_addr} via ${r.supplier_id}/${r.exporter_id}`).toBeGreaterThan(0);
    }
  });

  it('mixes protocols and ports like an enterprise edge: HTTPS first, DNS, mail, SMB, ICMP, some IPv6, none over NetFlow v5', () => {
    const byPort = new Map<number, number>();
    for (const r of busy) if (r.proto === 6 || r.proto === 17) byPort.set(r.dst_port, (byPort.get(r.dst_port) ?? 0) + 1);
    const top = [...byPort].sort((a, b) => b[1] - a[1]);
    expect(top[0]?.[0]).toBe(443);
    for (const port of [53, 993, 445, 88, 389, 123]) expect(byPort.get(port) ?? 0, `port ${port}`).toBeGreaterThan(0);
    expect(busy.some((r) => r.proto === 1 && r.icmp_type === 8)).toBe(true);
    expect(busy.some((r) => r.proto === 58 && r.icmp_type === 128)).toBe(true);
    const v6 = busy.filter((r) => r.etype === 0x86dd);
    expect(v6.length / busy.length).toBeGreaterThan(0.03);
    const v5 = new Set(network.exporters.filter((e) => e.protocol === 'netflow5').map((e) => `${e.supplierId}/${e.id}`));
    expect(v6.some((r) => v5.has(`${r.supplier_id}/${r.exporter_id}`))).toBe(false);
    const tcp = busy.filter((r) => r.proto === 6);
    expect(tcp.every((r) => r.tcp_flags !== 0)).toBe(true);
    expect(busy.filter((r) => r.proto !== 6).every((r) => r.tcp_flags === 0)).toBe(true);
  });

  it('draws heavy-tailed sizes: the largest 1% of flows carry most of the bytes', () => {
    const bytes = busy.map((r) => r.bytes).sort((a, b) => b - a);
    const total = bytes.reduce((a, b) => a + b, 0);
    const top = bytes.slice(0, Math.ceil(bytes.length / 100)).reduce((a, b) => a + b, 0);
    expect(top / total).toBeGreaterThan(0.5);
    const median = bytes[Math.floor(bytes.length / 2)] as number;
    expect((bytes[0] as number) / median).toBeGreaterThan(10_000);
    // Sizes are consistent with packets: at least a header's worth per packet.
    const header = (r: FlowRecord) => (r.etype === 0x86dd ? 40 : 20) + (r.proto === 6 ? 20 : 8);
    expect(busy.filter((r) => !(r.packets >= 1 && r.bytes >= header(r) * r.packets && r.bytes <= 2_000_000_000 + 20 * r.packets))).toEqual(
      [],
    );
    // Single-datagram exchanges stay single packets.
    expect(busy.filter((r) => r.proto === 17 && (r.dst_port === 53 || r.src_port === 53)).every((r) => r.packets === 1)).toBe(true);
  });

  it('ends each flow in its slot, starts it at most one active timeout before', () => {
    const out: FlowRecord[] = [];
    const index = TUESDAY_10 / 1000 + 3;
    model.slot(index, out);
    for (const r of out) {
      expect(r.time_flow_end_ns).toBeGreaterThanOrEqual(index * 1e9);
      expect(r.time_flow_end_ns).toBeLessThan((index + 1) * 1e9);
      expect(r.time_flow_start_ns).toBeLessThanOrEqual(r.time_flow_end_ns);
      expect(r.time_flow_end_ns - r.time_flow_start_ns).toBeLessThanOrEqual(ACTIVE_TIMEOUT_MS * 1e6);
      // Whole milliseconds (as exact as a float64 of nanoseconds allows: 256 ns today).
      expect(Math.abs(r.time_flow_start_ns - Math.round(r.time_flow_start_ns / 1e6) * 1e6)).toBeLessThanOrEqual(256);
    }
  });
});
