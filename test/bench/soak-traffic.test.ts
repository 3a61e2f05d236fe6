import { registrySchema } from '@flowwatch/config';
import { type DecodeContext, FlowDecoder } from '@flowwatch/decoders';
import { describe, expect, it } from 'vitest';
import {
  backgroundFlows,
  dataDatagram,
  portScanFlows,
  restamp,
  SOAK_HOSTS_PER_ORGANISATION,
  soakExporters,
  soakRegistry,
  templateDatagram,
} from './soak-traffic.js';

const T0 = Date.UTC(2026, 10, 22, 6, 30);

function decode(decoder: FlowDecoder, bytes: Uint8Array, exporter: string, receivedMs: number) {
  const ctx: DecodeContext = { exporter, receivedNs: receivedMs * 1e6, supplierId: 's', exporterId: 'e', defaultSamplingRate: 0 };
  const out = decoder.decode(bytes, ctx);
  expect(out.errors).toEqual([]);
  return out.flows;
}

describe('soak traffic', () => {
  it('is a valid registry whose exporters are the ones the sender sends from', () => {
    const registry = registrySchema.parse(soakRegistry());
    const addresses = registry.suppliers.flatMap((s) => s.exporters.map((e) => e.address));
    expect(addresses.sort()).toEqual(
      soakExporters()
        .map((e) => e.address)
        .sort(),
    );
    expect(new Set(soakExporters().map((e) => e.protocol))).toEqual(new Set(['IPFIX', 'NETFLOW_V9']));
  });

  it('re-stamps pre-encoded IPFIX and NetFlow v9 datagrams in place to the current time', () => {
    for (const exporter of soakExporters().slice(0, 2)) {
      const decoder = new FlowDecoder();
      const records = backgroundFlows(exporter.supplier, 30, T0, 1);
      const d = dataDatagram(exporter, records, T0);
      decode(decoder, templateDatagram(exporter, T0, 0), exporter.address, T0);
      const first = decode(decoder, restamp(d, T0, 30), exporter.address, T0);
      expect(first).toHaveLength(30);
      expect(first.map((f) => f.src_addr)).toEqual(records.map((r) => r.src_addr));
      expect(first.map((f) => f.dst_port)).toEqual(records.map((r) => r.dst_port));
      // Built 1 s before T0: the flows end then (v9 to the second, its header's resolution).
      for (const f of first) expect(Math.abs(f.time_flow_end_ns / 1e6 - (T0 - 1000))).toBeLessThan(1000);
      const later = T0 + 3_723_456;
      const again = decode(decoder, restamp(d, later, 60), exporter.address, later);
      for (const [i, f] of again.entries()) {
        expect(Math.abs(f.time_flow_end_ns / 1e6 - (later - 1000))).toBeLessThan(1000);
        const duration = (records[i]?.time_flow_end_ns as number) - (records[i]?.time_flow_start_ns as number);
        expect(Math.abs(f.time_flow_end_ns - f.time_flow_start_ns - duration)).toBeLessThan(2e6);
      }
      // The sequence number is the header's (IPFIX bytes 8-11, v9 bytes 12-15).
      const view = new DataView(d.bytes.buffer, d.bytes.byteOffset);
      expect(view.getUint32(exporter.protocol === 'IPFIX' ? 8 : 12)).toBe(60);
    }
  });

  it('keeps background traffic to a bounded host population and out of the scan detector', () => {
    const flows = [0, 1, 2, 3, 4, 5, 6, 7].flatMap((s) => backgroundFlows(s, 5000, T0, 2));
    const sources = new Set(flows.map((f) => f.src_addr));
    expect(sources.size).toBeLessThanOrEqual((300 / 8 + 1) * 8 * SOAK_HOSTS_PER_ORGANISATION);
    expect(sources.size).toBeGreaterThan(5000);
    // Probes are flows of at most 3 packets (detector.scan.maxProbePackets): none in the background.
    expect(flows.every((f) => (f.packets as number) > 3)).toBe(true);
    const perPair = new Map<string, Set<number>>();
    for (const f of flows) {
      const k = `${f.src_addr}|${f.dst_addr}`;
      perPair.set(k, (perPair.get(k) ?? new Set()).add(f.dst_port as number));
    }
    expect(Math.max(...[...perPair.values()].map((s) => s.size))).toBe(1);
    const scan = portScanFlows('198.51.100.1', '10.0.0.10', 150, T0);
    expect(new Set(scan.map((f) => f.dst_port)).size).toBe(150);
  });
});
