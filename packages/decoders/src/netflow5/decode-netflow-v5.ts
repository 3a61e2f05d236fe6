import { emptyFlow, type FlowRecord } from '@flowwatch/flow-schema';
import { ipv4ToString } from '../common/addresses.js';
import type { DecodeContext, DecodeError, DecodeOutput } from '../common/types.js';

/**
 * NetFlow v5 (Cisco "NetFlow Export Datagram Format", version 5): a 24-byte header and `count`
 * 48-byte records, count 1..30. The format has no length field, so the UDP datagram is the unit:
 *
 * - count 0 or above 30: 'bad_count', nothing decoded (the header is not trustworthy).
 * - fewer bytes than 24 + 48*count: 'truncated', the whole records present are kept.
 * - more bytes than 24 + 48*count: the `count` records are decoded (the header is authoritative) and
 *   the trailing bytes are reported as 'bad_count' with the bytes as `raw`. Exporters send exactly
 *   24 + 48*count bytes, so trailing bytes mean a mangled datagram or several messages concatenated
 *   by a capture tool (logstash's netflow5.dat); we never guess a second header inside a datagram.
 *
 * Times: First/Last are SysUptime milliseconds; the flow start is the header's wall clock
 * (unix_secs, unix_nsecs) minus (SysUptime - First), computed modulo 2^32 so a wrapped uptime
 * counter (every 49.7 days) still gives the right age; a First slightly after SysUptime (exporter
 * clock skew) counts as negative age rather than 49 days.
 *
 * ICMP: softflowd-style exporters (and Cisco) put type*256+code in dst_port for ICMP; dst_port is
 * kept as reported and icmp_type/icmp_code are derived from it for proto 1 and 58.
 */
export const NETFLOW_V5_HEADER_BYTES = 24;
export const NETFLOW_V5_RECORD_BYTES = 48;
export const NETFLOW_V5_MAX_RECORDS = 30;

const TWO_32 = 0x1_0000_0000;

export function decodeNetflowV5(buf: Uint8Array, ctx: DecodeContext): DecodeOutput {
  const flows: FlowRecord[] = [];
  const errors: DecodeError[] = [];
  if (buf.length < NETFLOW_V5_HEADER_BYTES) {
    errors.push({ reason: 'truncated', detail: `NetFlow v5 datagram of ${buf.length} bytes, header needs 24`, count: 1, raw: buf });
    return { flows, errors };
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = dv.getUint16(0);
  if (version !== 5) {
    errors.push({ reason: 'bad_version', detail: `version ${version}, expected 5`, count: 1, raw: buf });
    return { flows, errors };
  }
  const count = dv.getUint16(2);
  if (count === 0 || count > NETFLOW_V5_MAX_RECORDS) {
    errors.push({ reason: 'bad_count', detail: `count ${count} outside 1..30 (${buf.length} bytes)`, count: 1, raw: buf });
    return { flows, errors };
  }
  const sysUptime = dv.getUint32(4);
  const unixSecs = dv.getUint32(8);
  const unixNsecs = dv.getUint32(12);
  const flowSequence = dv.getUint32(16);
  // byte 20 engine_type, 21 engine_id; 22-23: 2-bit sampling mode, 14-bit sampling interval
  const interval = dv.getUint16(22) & 0x3fff;
  const samplingRate = interval !== 0 ? interval : ctx.defaultSamplingRate;
  const exportNs = unixSecs * 1e9 + unixNsecs;

  const expected = NETFLOW_V5_HEADER_BYTES + NETFLOW_V5_RECORD_BYTES * count;
  let n = count;
  if (buf.length < expected) {
    n = Math.floor((buf.length - NETFLOW_V5_HEADER_BYTES) / NETFLOW_V5_RECORD_BYTES);
    errors.push({
      reason: 'truncated',
      detail: `count ${count} needs ${expected} bytes, datagram has ${buf.length}`,
      count: count - n,
      raw: buf,
    });
  } else if (buf.length > expected) {
    errors.push({
      reason: 'bad_count',
      detail: `count ${count} accounts for ${expected} bytes, datagram has ${buf.length}: ${buf.length - expected} trailing bytes ignored`,
      count: 1,
      raw: buf.subarray(expected),
    });
  }

  for (let i = 0; i < n; i++) {
    const o = NETFLOW_V5_HEADER_BYTES + i * NETFLOW_V5_RECORD_BYTES;
    const first = dv.getUint32(o + 24);
    const last = dv.getUint32(o + 28);
    const proto = buf[o + 38] as number;
    const dstPort = dv.getUint16(o + 34);
    const isIcmp = proto === 1 || proto === 58;
    const r = emptyFlow('NETFLOW_V5');
    r.time_received_ns = ctx.receivedNs;
    r.sequence_num = flowSequence;
    r.sampling_rate = samplingRate;
    r.sampler_address = ctx.exporter;
    r.time_flow_start_ns = exportNs - ageMs(sysUptime, first) * 1e6;
    r.time_flow_end_ns = exportNs - ageMs(sysUptime, last) * 1e6;
    r.bytes = dv.getUint32(o + 20);
    r.packets = dv.getUint32(o + 16);
    r.src_addr = ipv4ToString(buf, o);
    r.dst_addr = ipv4ToString(buf, o + 4);
    r.etype = 0x0800;
    r.proto = proto;
    r.src_port = dv.getUint16(o + 32);
    r.dst_port = dstPort;
    r.in_if = dv.getUint16(o + 12);
    r.out_if = dv.getUint16(o + 14);
    r.ip_tos = buf[o + 39] as number;
    r.tcp_flags = buf[o + 37] as number;
    // softflowd-style exporters carry ICMP type*256+code in the destination port.
    r.icmp_type = isIcmp ? dstPort >> 8 : 0;
    r.icmp_code = isIcmp ? dstPort & 0xff : 0;
    r.src_as = dv.getUint16(o + 40);
    r.dst_as = dv.getUint16(o + 42);
    r.next_hop = ipv4ToString(buf, o + 8);
    r.src_net = buf[o + 44] as number;
    r.dst_net = buf[o + 45] as number;
    r.supplier_id = ctx.supplierId;
    r.exporter_id = ctx.exporterId;
    flows.push(r);
  }
  return { flows, errors };
}

/** Milliseconds between a SysUptime stamp and the header's SysUptime, modulo 2^32 (uptime wraps). */
function ageMs(sysUptime: number, stamp: number): number {
  const d = (sysUptime - stamp + TWO_32) % TWO_32;
  return d >= 0x8000_0000 ? d - TWO_32 : d;
}
