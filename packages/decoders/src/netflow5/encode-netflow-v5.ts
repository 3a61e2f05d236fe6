import type { FlowRecord } from '@flowwatch/flow-schema';
import { NETFLOW_V5_HEADER_BYTES, NETFLOW_V5_MAX_RECORDS, NETFLOW_V5_RECORD_BYTES } from './decode-netflow-v5.js';

/** The NetFlow v5 header fields an encoder chooses (the version and count are implied). */
export interface NetflowV5Header {
  /** SysUptime: ms since the exporter booted (uint32, wraps every 49.7 days). */
  sysUptimeMs: number;
  /** unix_secs / unix_nsecs: the exporter's wall clock when the datagram was sent. */
  unixSecs: number;
  unixNsecs?: number;
  /** flow_sequence: total flows exported before this datagram (uint32). */
  flowSequence: number;
  /** engine_type / engine_id: the slot of the flow-switching engine (uint8 each). */
  engineType?: number;
  engineId?: number;
  /** sampling_interval's top 2 bits: 0 none, 1 deterministic, 2 random. */
  samplingMode?: number;
  /** sampling_interval's low 14 bits: 1 packet in N (0 = not sampled / unknown). */
  samplingInterval?: number;
}

/**
 * One NetFlow v5 datagram (for the simulator and tests). Records carry IPv4 addresses only; missing
 * fields are 0. First/Last come from time_flow_start_ns/end_ns relative to the header's clock (a
 * record without times gets First = Last = SysUptime). For ICMP (proto 1) with dst_port 0, dst_port
 * carries icmp_type*256+icmp_code as exporters do.
 * Throws RangeError (a caller bug) for more than 30 records or a non-IPv4 address.
 */
export function encodeNetflowV5(header: NetflowV5Header, records: Partial<FlowRecord>[]): Uint8Array {
  if (records.length > NETFLOW_V5_MAX_RECORDS) {
    throw new RangeError(`NetFlow v5 carries at most ${NETFLOW_V5_MAX_RECORDS} records per datagram, got ${records.length}`);
  }
  const buf = new Uint8Array(NETFLOW_V5_HEADER_BYTES + NETFLOW_V5_RECORD_BYTES * records.length);
  const dv = new DataView(buf.buffer);
  const unixNsecs = header.unixNsecs ?? 0;
  const uptime = header.sysUptimeMs >>> 0;
  dv.setUint16(0, 5);
  dv.setUint16(2, records.length);
  dv.setUint32(4, uptime);
  dv.setUint32(8, header.unixSecs >>> 0);
  dv.setUint32(12, unixNsecs >>> 0);
  dv.setUint32(16, header.flowSequence >>> 0);
  buf[20] = header.engineType ?? 0;
  buf[21] = header.engineId ?? 0;
  dv.setUint16(22, (((header.samplingMode ?? 0) & 0x3) << 14) | ((header.samplingInterval ?? 0) & 0x3fff));
  const exportNs = header.unixSecs * 1e9 + unixNsecs;

  for (let i = 0; i < records.length; i++) {
    const r = records[i] as Partial<FlowRecord>;
    const o = NETFLOW_V5_HEADER_BYTES + i * NETFLOW_V5_RECORD_BYTES;
    writeIpv4(buf, o, r.src_addr ?? '');
    writeIpv4(buf, o + 4, r.dst_addr ?? '');
    writeIpv4(buf, o + 8, r.next_hop ?? '');
    dv.setUint16(o + 12, r.in_if ?? 0);
    dv.setUint16(o + 14, r.out_if ?? 0);
    dv.setUint32(o + 16, r.packets ?? 0);
    dv.setUint32(o + 20, r.bytes ?? 0);
    dv.setUint32(o + 24, uptimeAt(uptime, exportNs, r.time_flow_start_ns));
    dv.setUint32(o + 28, uptimeAt(uptime, exportNs, r.time_flow_end_ns));
    const proto = r.proto ?? 0;
    let dstPort = r.dst_port ?? 0;
    if (proto === 1 && dstPort === 0) dstPort = (((r.icmp_type ?? 0) & 0xff) << 8) | ((r.icmp_code ?? 0) & 0xff);
    dv.setUint16(o + 32, r.src_port ?? 0);
    dv.setUint16(o + 34, dstPort);
    buf[o + 37] = r.tcp_flags ?? 0;
    buf[o + 38] = proto;
    buf[o + 39] = r.ip_tos ?? 0;
    dv.setUint16(o + 40, r.src_as ?? 0);
    dv.setUint16(o + 42, r.dst_as ?? 0);
    buf[o + 44] = r.src_net ?? 0;
    buf[o + 45] = r.dst_net ?? 0;
  }
  return buf;
}

/** The SysUptime value of a wall-clock time, given the header's uptime and clock (mod 2^32). */
function uptimeAt(uptime: number, exportNs: number, timeNs: number | undefined): number {
  if (timeNs === undefined || timeNs === 0) return uptime;
  return (uptime - Math.round((exportNs - timeNs) / 1e6)) >>> 0;
}

function writeIpv4(buf: Uint8Array, off: number, addr: string): void {
  if (addr === '') return;
  const parts = addr.split('.');
  if (parts.length !== 4) throw new RangeError(`NetFlow v5 carries IPv4 addresses only, got '${addr}'`);
  for (let i = 0; i < 4; i++) {
    const n = Number(parts[i]);
    if (!Number.isInteger(n) || n < 0 || n > 255) throw new RangeError(`not an IPv4 address: '${addr}'`);
    buf[off + i] = n;
  }
}
