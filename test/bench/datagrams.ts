import {
  type EncoderRecord,
  type EncoderTemplate,
  encodeIpfix,
  encodeNetflowV5,
  encodeNetflowV9,
  encodeSflowV5,
} from '@flowwatch/decoders';
import type { FlowRecord } from '@flowwatch/flow-schema';

/** Deterministic flow-like records for benchmarks (IPv4, TCP/UDP mix, realistic field spread). */
export function sampleRecords(n: number, seed = 1): Partial<FlowRecord>[] {
  const out: Partial<FlowRecord>[] = [];
  let x = seed;
  const rnd = () => {
    x = (x * 1_103_515_245 + 12_345) >>> 0;
    return x;
  };
  const base = Date.UTC(2026, 10, 21, 10) * 1e6;
  for (let i = 0; i < n; i++) {
    const r = rnd();
    out.push({
      src_addr: `10.${r & 255}.${(r >> 8) & 255}.${(r >> 16) & 255}`,
      dst_addr: `172.16.${(r >> 4) & 255}.${(r >> 12) & 255}`,
      src_port: 1024 + (r % 60_000),
      dst_port: [443, 53, 445, 80, 3389, 22][r % 6] as number,
      proto: r % 5 === 0 ? 17 : 6,
      bytes: 40 + (r % 150_000),
      packets: 1 + (r % 120),
      tcp_flags: 0x1b,
      in_if: 1 + (r % 48),
      out_if: 1 + ((r >> 3) % 48),
      src_as: 64_512,
      dst_as: 65_001,
      next_hop: '192.0.2.1',
      src_net: 24,
      dst_net: 16,
      ip_tos: 0,
      time_flow_start_ns: base - 30e9,
      time_flow_end_ns: base - 1e9,
    });
  }
  return out;
}

/** A typical 20-field IPv4 template as routers export (RFC 3954/7011 IEs). */
export const TEMPLATE_V4: EncoderTemplate = {
  id: 256,
  fields: [
    { id: 8, length: 4 },
    { id: 12, length: 4 },
    { id: 7, length: 2 },
    { id: 11, length: 2 },
    { id: 4, length: 1 },
    { id: 6, length: 1 },
    { id: 5, length: 1 },
    { id: 1, length: 8 },
    { id: 2, length: 8 },
    { id: 10, length: 4 },
    { id: 14, length: 4 },
    { id: 16, length: 4 },
    { id: 17, length: 4 },
    { id: 15, length: 4 },
    { id: 9, length: 1 },
    { id: 13, length: 1 },
    { id: 152, length: 8 },
    { id: 153, length: 8 },
    { id: 61, length: 1 },
    { id: 89, length: 1 },
  ],
};
/** The same for NetFlow v9 (times relative to sysUptime, 4-byte counters). */
export const TEMPLATE_V9: EncoderTemplate = {
  id: 256,
  fields: TEMPLATE_V4.fields.map((f) =>
    f.id === 152 ? { id: 22, length: 4 } : f.id === 153 ? { id: 21, length: 4 } : f.id === 1 || f.id === 2 ? { id: f.id, length: 4 } : f,
  ),
};

const EXPORT_SECS = Math.floor(Date.UTC(2026, 10, 21, 10) / 1000);

export function ipfixDatagrams(count: number, perDatagram = 30): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const records = sampleRecords(perDatagram, i + 1) as EncoderRecord[];
    const sets = i === 0 ? [{ kind: 'templates' as const, templates: [TEMPLATE_V4] }] : [];
    out.push(
      encodeIpfix({ exportTime: EXPORT_SECS, sequence: i * perDatagram, observationDomainId: 1 }, [
        ...sets,
        { kind: 'data', template: TEMPLATE_V4, records },
      ]),
    );
  }
  return out;
}

export function netflowV9Datagrams(count: number, perDatagram = 30): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const records = sampleRecords(perDatagram, i + 1) as EncoderRecord[];
    const sets = i === 0 ? [{ kind: 'templates' as const, templates: [TEMPLATE_V9] }] : [];
    out.push(
      encodeNetflowV9({ sysUptimeMs: 3_600_000, unixSecs: EXPORT_SECS, sequence: i, sourceId: 1 }, [
        ...sets,
        { kind: 'data', template: TEMPLATE_V9, records },
      ]),
    );
  }
  return out;
}

export function netflowV5Datagrams(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) =>
    encodeNetflowV5({ sysUptimeMs: 3_600_000, unixSecs: EXPORT_SECS, flowSequence: i * 30 }, sampleRecords(30, i + 1)),
  );
}

export function sflowDatagrams(count: number, perDatagram = 8): Uint8Array[] {
  return Array.from({ length: count }, (_, i) =>
    encodeSflowV5({
      agentAddress: '192.0.2.10',
      sequence: i,
      uptimeMs: 3_600_000,
      flowSamples: sampleRecords(perDatagram, i + 1).map((flow) => ({ flow: { ...flow, bytes: 1500, packets: 1 }, samplingRate: 1000 })),
    }),
  );
}
