/**
 * Traffic of the soak benchmark (test/bench/soak-bench.ts, sent by soak-sender.ts): a registry of
 * suppliers, exporters and organisations, flows between a fixed population of hosts inside it,
 * pre-encoded IPFIX and NetFlow v9 datagrams, and the in-place re-stamping that makes a
 * pre-encoded datagram current (event time = now) without encoding it again (encoding costs
 * about 7 µs per flow, as much as the collector's whole decode).
 */
import { type EncoderRecord, type EncoderTemplate, encodeIpfix, encodeNetflowV9 } from '@flowwatch/decoders';
import { mulberry32 } from '@flowwatch/detection';
import type { FlowRecord } from '@flowwatch/flow-schema';
import { TEMPLATE_V4, TEMPLATE_V9 } from './datagrams.js';

export const SOAK_SUPPLIERS = 8;
export const SOAK_EXPORTERS_PER_SUPPLIER = 2;
export const SOAK_ORGANISATIONS = 300;
/** Active hosts per organisation: the state the detector and the rollups hold stays bounded. */
export const SOAK_HOSTS_PER_ORGANISATION = 40;
export const RECORDS_PER_DATAGRAM = 30;

export type SoakProtocol = 'IPFIX' | 'NETFLOW_V9';

export interface SoakExporter {
  supplier: number;
  id: string;
  address: string;
  protocol: SoakProtocol;
  /** IPFIX observation domain / NetFlow v9 source id. */
  domain: number;
}

/** Two exporters per supplier, one IPFIX and one NetFlow v9, at 127.43.<supplier>.<1|2>. */
export function soakExporters(): SoakExporter[] {
  const out: SoakExporter[] = [];
  for (let s = 0; s < SOAK_SUPPLIERS; s++) {
    for (let e = 0; e < SOAK_EXPORTERS_PER_SUPPLIER; e++) {
      out.push({
        supplier: s,
        id: `r${e + 1}`,
        address: `127.43.${s}.${e + 1}`,
        protocol: e % 2 === 0 ? 'IPFIX' : 'NETFLOW_V9',
        domain: 1 + e,
      });
    }
  }
  return out;
}

/** The registry `flowwatch start` gets: 8 suppliers, 300 organisations with a /18 each, 12 services. */
export function soakRegistry() {
  const exporters = soakExporters();
  return {
    suppliers: Array.from({ length: SOAK_SUPPLIERS }, (_, s) => ({
      id: `supplier-${s}`,
      name: `Supplier ${s}`,
      exporters: exporters.filter((e) => e.supplier === s).map((e) => ({ id: e.id, address: e.address, samplingRate: 0 })),
    })),
    organisations: Array.from({ length: SOAK_ORGANISATIONS }, (_, i) => ({
      code: `S${i.toString(36).toUpperCase().padStart(2, '0')}`,
      name: `Organisation ${i}`,
      type: 'acute',
      supplier: `supplier-${i % SOAK_SUPPLIERS}`,
      prefixes: [`10.${i >> 2}.${(i & 3) * 64}.0/18`],
    })),
    services: Array.from({ length: 12 }, (_, k) => ({
      id: `svc-${k}`,
      name: `Service ${k}`,
      supplier: 'supplier-0',
      prefixes: [`10.200.${k}.0/24`],
      ports: k === 11 ? [53] : [443],
    })),
    groups: [],
  };
}

/** Host `h` of organisation `org` (inside its /18). */
export function hostAddress(org: number, h: number): string {
  return `10.${org >> 2}.${(org & 3) * 64 + (h >> 5)}.${10 + (h & 31)}`;
}

/**
 * `count` flows of organisations on `supplier`'s network, ending about a second before `nowMs`:
 * each host talks to 8 usual peers (national services, hosts of other organisations, the internet,
 * DNS), on service ports, with more than 3 packets (not probes), so the background raises no scan.
 */
export function backgroundFlows(supplier: number, count: number, nowMs: number, seed: number): EncoderRecord[] {
  const rnd = mulberry32(seed * 7919 + supplier + 1);
  const orgs = Array.from({ length: SOAK_ORGANISATIONS }, (_, i) => i).filter((i) => i % SOAK_SUPPLIERS === supplier);
  const out: EncoderRecord[] = [];
  for (let n = 0; n < count; n++) {
    const org = orgs[Math.floor(rnd() * orgs.length)] as number;
    const h = Math.floor(rnd() * SOAK_HOSTS_PER_ORGANISATION);
    const peer = (org * 131 + h * 17 + Math.floor(rnd() * 8) * 7) >>> 0;
    const kind = peer % 20;
    let dst: string;
    let dstPort: number;
    let proto = 6;
    if (kind < 9) {
      dst = `10.200.${peer % 11}.${20 + (peer % 200)}`;
      dstPort = 443;
    } else if (kind < 14) {
      const other = (org + 1 + (peer % (SOAK_ORGANISATIONS - 1))) % SOAK_ORGANISATIONS;
      dst = hostAddress(other, peer % SOAK_HOSTS_PER_ORGANISATION);
      dstPort = [445, 389, 88, 3389, 22, 80][peer % 6] as number;
    } else if (kind < 17) {
      dst = `203.0.113.${peer % 250}`;
      dstPort = peer % 3 === 0 ? 80 : 443;
    } else {
      dst = `10.200.11.${53 + (peer % 2)}`;
      dstPort = 53;
      proto = 17;
    }
    const packets = proto === 17 ? 4 + Math.floor(rnd() * 10) : 4 + Math.floor(rnd() * 800);
    const durationMs = 1000 + Math.floor(rnd() * 59_000);
    out.push({
      src_addr: hostAddress(org, h),
      dst_addr: dst,
      src_port: 1024 + Math.floor(rnd() * 60_000),
      dst_port: dstPort,
      proto,
      tcp_flags: proto === 6 ? 0x1b : 0,
      ip_tos: 0,
      bytes: packets * (60 + Math.floor(rnd() * 1400)),
      packets,
      in_if: 1 + (h % 48),
      out_if: 1 + (peer % 48),
      src_as: 0,
      dst_as: 0,
      next_hop: '192.0.2.1',
      src_net: 18,
      dst_net: 24,
      time_flow_start_ns: (nowMs - 1000 - durationMs) * 1e6,
      time_flow_end_ns: (nowMs - 1000) * 1e6,
    });
  }
  return out;
}

/** A vertical port scan: `ports` one-packet SYNs from `src` to `dst`, ports 1..ports, ending at `nowMs`. */
export function portScanFlows(src: string, dst: string, ports: number, nowMs: number): EncoderRecord[] {
  return Array.from({ length: ports }, (_, i) => ({
    src_addr: src,
    dst_addr: dst,
    src_port: 40_000 + (i % 1000),
    dst_port: 1 + i,
    proto: 6,
    tcp_flags: 0x02,
    ip_tos: 0,
    bytes: 44,
    packets: 1,
    in_if: 1,
    out_if: 2,
    src_as: 0,
    dst_as: 0,
    next_hop: '192.0.2.1',
    src_net: 24,
    dst_net: 18,
    time_flow_start_ns: nowMs * 1e6,
    time_flow_end_ns: nowMs * 1e6,
  }));
}

/** Where the time fields of a pre-encoded datagram are, to re-stamp it in place. */
interface TimeLayout {
  protocol: SoakProtocol;
  /** Byte offsets of the records' time fields (IPFIX: u64 ms since the epoch; v9: u32 ms of uptime). */
  offsets: number[];
}

/** A datagram ready to be re-stamped and sent, with what it was last stamped with. */
export interface StampedDatagram {
  bytes: Uint8Array;
  flows: number;
  layout: TimeLayout;
  stampedMs: number;
  /** NetFlow v9 only: sysUptime at `stampedMs`. */
  uptimeMs: number;
}

/** NetFlow v9: the exporter booted this long before the datagrams were built. */
const V9_UPTIME_MS = 3_600_000;

function templateOf(protocol: SoakProtocol): EncoderTemplate {
  return protocol === 'IPFIX' ? TEMPLATE_V4 : TEMPLATE_V9;
}

function timeOffsets(protocol: SoakProtocol, records: number): number[] {
  const template = templateOf(protocol);
  const ids = protocol === 'IPFIX' ? [152, 153] : [21, 22];
  // Message header then one set header: IPFIX RFC 7011 s3.1 (16 + 4), NetFlow v9 RFC 3954 s5.1 (20 + 4).
  const first = protocol === 'IPFIX' ? 20 : 24;
  const recordLength = template.fields.reduce((n, f) => n + f.length, 0);
  const within: number[] = [];
  let at = 0;
  for (const f of template.fields) {
    if (ids.includes(f.id)) within.push(at);
    at += f.length;
  }
  const out: number[] = [];
  for (let r = 0; r < records; r++) for (const w of within) out.push(first + r * recordLength + w);
  return out;
}

/** A template-only datagram (sent first and then now and then, as exporters refresh templates). */
export function templateDatagram(exporter: SoakExporter, nowMs: number, sequence: number): Uint8Array {
  const sets = [{ kind: 'templates' as const, templates: [templateOf(exporter.protocol)] }];
  return exporter.protocol === 'IPFIX'
    ? encodeIpfix({ exportTime: Math.floor(nowMs / 1000), sequence, observationDomainId: exporter.domain }, sets)
    : encodeNetflowV9(
        { sysUptimeMs: V9_UPTIME_MS + (nowMs % 1_000_000), unixSecs: Math.floor(nowMs / 1000), sequence, sourceId: exporter.domain },
        sets,
      );
}

/** One data datagram of `records` for `exporter`, built at `nowMs` (re-stamp it before sending). */
export function dataDatagram(exporter: SoakExporter, records: EncoderRecord[], nowMs: number): StampedDatagram {
  const sets = [{ kind: 'data' as const, template: templateOf(exporter.protocol), records }];
  const bytes =
    exporter.protocol === 'IPFIX'
      ? encodeIpfix({ exportTime: Math.floor(nowMs / 1000), sequence: 0, observationDomainId: exporter.domain }, sets)
      : encodeNetflowV9({ sysUptimeMs: V9_UPTIME_MS, unixSecs: Math.floor(nowMs / 1000), sequence: 0, sourceId: exporter.domain }, sets);
  return {
    bytes,
    flows: records.length,
    layout: { protocol: exporter.protocol, offsets: timeOffsets(exporter.protocol, records.length) },
    stampedMs: nowMs,
    uptimeMs: V9_UPTIME_MS,
  };
}

/**
 * Moves every time in `d` forward by `nowMs - d.stampedMs` (header export time to `nowMs`) and
 * writes the header's sequence number, in place: the flows then end as long before `nowMs` as they
 * did before their build time.
 */
export function restamp(d: StampedDatagram, nowMs: number, sequence: number): Uint8Array {
  const delta = nowMs - d.stampedMs;
  const view = new DataView(d.bytes.buffer, d.bytes.byteOffset, d.bytes.byteLength);
  if (d.layout.protocol === 'IPFIX') {
    view.setUint32(4, Math.floor(nowMs / 1000)); // exportTime
    view.setUint32(8, sequence >>> 0);
    for (const o of d.layout.offsets) {
      const ms = view.getUint32(o) * 0x1_0000_0000 + view.getUint32(o + 4) + delta;
      view.setUint32(o, Math.floor(ms / 0x1_0000_0000));
      view.setUint32(o + 4, ms >>> 0);
    }
  } else {
    // The exporter's uptime runs with the clock; record times are in uptime ms (RFC 3954 s8, 21/22).
    d.uptimeMs += delta;
    view.setUint32(4, d.uptimeMs >>> 0);
    view.setUint32(8, Math.floor(nowMs / 1000));
    view.setUint32(12, sequence >>> 0);
    for (const o of d.layout.offsets) view.setUint32(o, (view.getUint32(o) + delta) >>> 0);
  }
  d.stampedMs = nowMs;
  return d.bytes;
}

/** For tests: the fields of FlowRecord the soak's traffic sets. */
export type SoakFlow = Pick<FlowRecord, 'src_addr' | 'dst_addr' | 'time_flow_end_ns'>;
