import { FlowDecoder } from '@flowwatch/decoders';
import { decodeFlows, type FlowRecord, pushedFlowSchema } from '@flowwatch/flow-schema';
import { describe, expect, it } from 'vitest';
import { generateNetwork } from '../generate-network.js';
import type { SimExporter } from '../network.js';
import { exporterKey, Simulation } from '../simulation.js';
import type { Datagram } from './exporter.js';

const SEED = 11;
const network = generateNetwork({ seed: SEED });
const START = Date.UTC(2026, 10, 24, 10, 0);
const sim = new Simulation(network, {
  seed: SEED,
  startMs: START,
  speed: 1,
  rate: 600,
  keepRecords: true,
  scenarios: [{ name: 'ddos', startMs: START + 5000, durationMs: 10_000, params: { rate: 50 } }],
});
const step = sim.advance(START + 45_000);

const recordsOf = (e: SimExporter) => step.flows.filter((r) => r.supplier_id === e.supplierId && r.exporter_id === e.id);
const datagramsOf = (e: SimExporter) => step.datagrams.filter((d) => d.exporter === e);
const exportersOf = (protocol: string) => network.exporters.filter((e) => e.protocol === protocol);

function decodeAll(e: SimExporter, datagrams: Datagram[]): FlowRecord[] {
  const decoder = new FlowDecoder();
  const out: FlowRecord[] = [];
  for (const d of datagrams) {
    const r = decoder.decode(d.bytes, {
      exporter: e.address,
      receivedNs: 0,
      supplierId: e.supplierId,
      exporterId: e.id,
      defaultSamplingRate: 1,
    });
    expect(r.errors).toEqual([]);
    expect(r.flows).toHaveLength(d.records);
    out.push(...r.flows);
  }
  return out;
}

/** The fields every protocol carries, times in whole ms; NetFlow v5 puts ICMP type/code in dst_port. */
function comparable(r: FlowRecord, v5 = false): string {
  return JSON.stringify([
    r.type,
    r.supplier_id,
    r.exporter_id,
    r.src_addr,
    r.dst_addr,
    r.src_port,
    v5 && r.proto === 1 && r.dst_port === 0 ? (r.icmp_type << 8) | r.icmp_code : r.dst_port,
    r.proto,
    r.etype,
    r.bytes,
    r.packets,
    r.tcp_flags,
    r.ip_tos,
    r.in_if,
    r.out_if,
    r.src_net,
    r.dst_net,
    r.src_as,
    r.dst_as,
    r.icmp_type,
    r.icmp_code,
    Math.round(r.time_flow_start_ns / 1e6),
    Math.round(r.time_flow_end_ns / 1e6),
    r.sampling_rate,
  ]);
}

const u16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** Set ids in a NetFlow v9 (header 20) or IPFIX (header 16) message. */
function setIds(b: Uint8Array, header: number): number[] {
  const ids: number[] = [];
  for (let o = header; o + 4 <= b.length; ) {
    ids.push(u16(b, o));
    const len = u16(b, o + 2);
    if (len < 4) break;
    o += len;
  }
  return ids;
}

describe('exporters: what the simulator sends decodes to what it generated', () => {
  for (const protocol of ['netflow5', 'netflow9', 'ipfix'] as const) {
    it(`${protocol}: every record, field by field, in datagrams of at most ${protocol === 'netflow5' ? 1464 : 1400} bytes`, () => {
      const exporters = exportersOf(protocol);
      expect(exporters.length).toBeGreaterThan(0);
      let total = 0;
      for (const e of exporters) {
        const sent = recordsOf(e);
        const datagrams = datagramsOf(e);
        const decoded = decodeAll(e, datagrams);
        expect(decoded.map((r) => comparable(r, protocol === 'netflow5')).sort()).toEqual(
          sent.map((r) => comparable(r, protocol === 'netflow5')).sort(),
        );
        expect(decoded.every((r) => r.sampler_address === e.address)).toBe(true);
        for (const d of datagrams) expect(d.bytes.length).toBeLessThanOrEqual(protocol === 'netflow5' ? 1464 : 1400);
        total += sent.length;
      }
      expect(total).toBeGreaterThan(1000);
      if (protocol !== 'netflow5') expect(exporters.some((e) => recordsOf(e).some((r) => r.etype === 0x86dd))).toBe(true);
    });
  }

  it('netflow5: flow_sequence counts the flows before each datagram; the header clock minus SysUptime is the boot time, fixed', () => {
    for (const e of exportersOf('netflow5')) {
      let flows = 0;
      const boots = new Set<number>();
      for (const d of datagramsOf(e)) {
        expect(u32(d.bytes, 16)).toBe(flows);
        flows += u16(d.bytes, 2);
        boots.add(u32(d.bytes, 8) * 1000 + u32(d.bytes, 12) / 1e6 - u32(d.bytes, 4));
      }
      expect(boots.size).toBe(1);
    }
  });

  it('netflow9: sequence counts export packets; templates come first and again within 20 datagrams and 10 s', () => {
    for (const e of exportersOf('netflow9')) {
      const datagrams = datagramsOf(e);
      const boots = new Set<number>();
      let lastTemplate = -1;
      let lastTemplateSecs = 0;
      datagrams.forEach((d, i) => {
        expect(u16(d.bytes, 0)).toBe(9);
        expect(u32(d.bytes, 12)).toBe(i);
        expect(u32(d.bytes, 16)).toBe(e.index);
        boots.add(u32(d.bytes, 8) * 1000 - u32(d.bytes, 4));
        const secs = u32(d.bytes, 8);
        if (setIds(d.bytes, 20).includes(0)) {
          lastTemplate = i;
          lastTemplateSecs = secs;
        }
        expect(lastTemplate, 'the first datagram carries the templates').toBeGreaterThanOrEqual(0);
        expect(i - lastTemplate).toBeLessThan(20);
        expect(secs - lastTemplateSecs).toBeLessThanOrEqual(10);
      });
      expect(boots.size).toBe(1);
    }
  });

  it('ipfix: sequence counts the data records sent before; templates come first and again within 20 datagrams and 10 s', () => {
    for (const e of exportersOf('ipfix')) {
      let records = 0;
      let lastTemplate = -1;
      let lastTemplateSecs = 0;
      datagramsOf(e).forEach((d, i) => {
        expect(u16(d.bytes, 0)).toBe(10);
        expect(u16(d.bytes, 2)).toBe(d.bytes.length);
        expect(u32(d.bytes, 8)).toBe(records);
        expect(u32(d.bytes, 12)).toBe(e.index + 1);
        records += d.records;
        const secs = u32(d.bytes, 4);
        if (setIds(d.bytes, 16).includes(2)) {
          lastTemplate = i;
          lastTemplateSecs = secs;
        }
        expect(lastTemplate).toBeGreaterThanOrEqual(0);
        expect(i - lastTemplate).toBeLessThan(20);
        expect(secs - lastTemplateSecs).toBeLessThanOrEqual(10);
      });
    }
  });

  it('sflow5: samples of the generated flows at 1 in N, as many as N predicts; datagram sequence and uptime advance', () => {
    for (const e of exportersOf('sflow5')) {
      const sent = recordsOf(e);
      const datagrams = datagramsOf(e);
      const decoded = decodeAll(e, datagrams);
      const keys = new Set(sent.map((r) => `${r.src_addr} ${r.dst_addr} ${r.src_port} ${r.dst_port} ${r.proto}`));
      for (const f of decoded) {
        expect(keys.has(`${f.src_addr} ${f.dst_addr} ${f.src_port} ${f.dst_port} ${f.proto}`)).toBe(true);
        expect(f.sampling_rate).toBe(e.samplingRate);
        expect(f.sampler_address).toBe(e.address);
        expect(f.packets).toBe(1);
      }
      // Poisson thinning: the count is within 4 standard deviations of sum(packets) / N.
      const expected = sent.reduce((s, r) => s + Math.min(1000, r.packets / e.samplingRate), 0);
      expect(Math.abs(decoded.length - expected)).toBeLessThan(4 * Math.sqrt(expected) + 2);
      let uptime = 0;
      datagrams.forEach((d, i) => {
        expect(u32(d.bytes, 0)).toBe(5);
        // version, address type 1 (IPv4), agent address, sub-agent id, sequence, uptime
        expect(u32(d.bytes, 16)).toBe(i + 1);
        expect(u32(d.bytes, 20)).toBeGreaterThanOrEqual(uptime);
        uptime = u32(d.bytes, 20);
        expect(d.bytes.length).toBeLessThanOrEqual(1400);
      });
    }
  });

  it('json: push batches the push API validates, for the supplier of the token, every record once', () => {
    for (const e of exportersOf('json')) {
      const batches = step.pushes.filter((p) => p.exporter === e);
      const lines = batches.flatMap((b) => b.body.trim().split('\n'));
      expect(lines).toHaveLength(recordsOf(e).length);
      expect(batches.reduce((s, b) => s + b.records, 0)).toBe(lines.length);
      for (const line of lines) {
        const r = pushedFlowSchema.safeParse(JSON.parse(line));
        expect(r.success ? [] : r.error.issues).toEqual([]);
        expect(r.data?.supplier_id).toBe(e.supplierId);
      }
      expect(
        decodeFlows(lines.join('\n'))
          .records.map((r) => comparable(r))
          .sort(),
      ).toEqual(
        recordsOf(e)
          .map((r) => comparable(r))
          .sort(),
      );
    }
  });

  it('drops nothing: no IPv6 reaches a NetFlow v5 exporter', () => {
    expect(sim.dropped).toBe(0);
  });
});

describe('Simulation determinism', () => {
  const run = (seed: number, chunks: number[]) => {
    const s = new Simulation(generateNetwork({ seed }), {
      seed,
      startMs: START,
      speed: 1,
      rate: 200,
      scenarios: [{ name: 'worm-smb', startMs: START + 2000 }],
    });
    const out: Uint8Array[] = [];
    const pushes: string[] = [];
    for (const until of chunks) {
      const st = s.advance(until);
      out.push(...st.datagrams.map((d) => d.bytes));
      pushes.push(...st.pushes.map((p) => p.body));
    }
    return { datagrams: Buffer.concat(out).toString('base64'), pushes: pushes.join('') };
  };

  it('sends the same bytes for the same seed and options, however the clock is sliced', () => {
    const once = run(3, [START + 20_000]);
    const sliced = run(
      3,
      Array.from({ length: 40 }, (_, i) => START + 500 * (i + 1)),
    );
    expect(sliced).toEqual(once);
    expect(run(4, [START + 20_000]).datagrams).not.toBe(once.datagrams);
  });
});

describe('time compression', () => {
  it('at speed 600 a slot is a minute and export headers carry event time a minute apart', () => {
    const s = new Simulation(network, { seed: SEED, startMs: START, speed: 600, rate: 5000 });
    expect(s.slotMs).toBe(60_000);
    const st = s.advance(START + 3_600_000);
    expect(st.eventMs).toBe(START + 3_600_000);
    const e = exportersOf('ipfix')[0] as SimExporter;
    const times = [...new Set(st.datagrams.filter((d) => d.exporter === e).map((d) => u32(d.bytes, 4)))];
    expect(times.length).toBeGreaterThan(50);
    for (const t of times) expect((t * 1000 - START) % 60_000).toBe(0);
    expect(Math.max(...times) * 1000).toBe(START + 3_600_000);
  });
});

describe('exporterKey', () => {
  it('names a supplier exporter uniquely', () => {
    const keys = network.exporters.map((e) => exporterKey(e.supplierId, e.id));
    expect(new Set(keys).size).toBe(keys.length);
  });
});
