import type { FlowRecord } from '@flowwatch/flow-schema';
import { ipv4ToString, ipv6ToString, macToString } from '../common/addresses.js';
import type { CompiledTemplate } from './compiled-template.js';
import { VARIABLE_LENGTH } from './compiled-template.js';
import { H } from './fields.js';
import { parsePacketSection } from './packet-section.js';

/** Seconds between the NTP era 0 epoch (1900) and the Unix epoch (RFC 7011 s6.1.10). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;
const TWO_32 = 4_294_967_296;

/**
 * Per-record values that do not go straight into FlowRecord: times to resolve against the header,
 * sampling parameters, reverse (RFC 5103) counters. One instance is reused for every record.
 */
export class RecordScratch {
  startUp = -1;
  endUp = -1;
  startNs = -1;
  endNs = -1;
  startDeltaUs = -1;
  endDeltaUs = -1;
  durationMs = -1;
  sysInitMs = -1;
  samplingInterval = 0;
  pktInterval = 0;
  pktSpace = 0;
  samplingSize = 0;
  samplingPopulation = 0;
  samplingProbability = 0;
  samplerId = -1;
  icmpTypeCode = -1;
  icmpType = -1;
  icmpCode = -1;
  ipVersion = 0;
  family = 0;
  revBytes = 0;
  revPackets = 0;
  revTcpFlags = -1;

  reset(): void {
    this.startUp = -1;
    this.endUp = -1;
    this.startNs = -1;
    this.endNs = -1;
    this.startDeltaUs = -1;
    this.endDeltaUs = -1;
    this.durationMs = -1;
    this.sysInitMs = -1;
    this.samplingInterval = 0;
    this.pktInterval = 0;
    this.pktSpace = 0;
    this.samplingSize = 0;
    this.samplingPopulation = 0;
    this.samplingProbability = 0;
    this.samplerId = -1;
    this.icmpTypeCode = -1;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.ipVersion = 0;
    this.family = 0;
    this.revBytes = 0;
    this.revPackets = 0;
    this.revTcpFlags = -1;
  }

  /** The sampling rate the record itself states, 0 when it states none. */
  recordRate(): number {
    if (this.samplingInterval > 0) return this.samplingInterval;
    if (this.pktInterval > 0) return Math.max(1, Math.round((this.pktInterval + this.pktSpace) / this.pktInterval));
    if (this.samplingSize > 0 && this.samplingPopulation > 0) return Math.max(1, Math.round(this.samplingPopulation / this.samplingSize));
    if (this.samplingProbability > 0 && this.samplingProbability <= 1) return Math.round(1 / this.samplingProbability);
    return 0;
  }
}

/** Unsigned big-endian integer of 1 to 8 bytes (reduced-size encoding, RFC 7011 s6.2). */
export function readUint(dv: DataView, p: number, len: number): number {
  switch (len) {
    case 1:
      return dv.getUint8(p);
    case 2:
      return dv.getUint16(p);
    case 4:
      return dv.getUint32(p);
    case 8:
      return dv.getUint32(p) * TWO_32 + dv.getUint32(p + 4);
    default: {
      let v = 0;
      for (let i = 0; i < len; i++) v = v * 256 + dv.getUint8(p + i);
      return v;
    }
  }
}

function ntpToNs(dv: DataView, p: number): number {
  const sec = dv.getUint32(p);
  const frac = dv.getUint32(p + 4);
  return (sec - NTP_UNIX_OFFSET_S) * 1e9 + Math.round((frac * 1e9) / TWO_32);
}

/** All-zero address: when a record carries both an IPv4 and an IPv6 field, the unused one is zero. */
function zero(buf: Uint8Array, p: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (buf[p + i] !== 0) return false;
  return true;
}

/** Apply one field. Lengths were validated when the template was compiled (fields.ts). */
function applyField(h: number, buf: Uint8Array, dv: DataView, p: number, len: number, r: FlowRecord, s: RecordScratch): void {
  switch (h) {
    case H.BYTES:
      r.bytes = readUint(dv, p, len);
      return;
    case H.PACKETS:
      r.packets = readUint(dv, p, len);
      return;
    case H.PROTO:
      r.proto = readUint(dv, p, len);
      return;
    case H.TOS:
      r.ip_tos = readUint(dv, p, len);
      return;
    case H.TCP_FLAGS:
      r.tcp_flags = readUint(dv, p, len);
      return;
    case H.SRC_PORT:
      r.src_port = readUint(dv, p, len);
      return;
    case H.SRC_ADDR:
      if (r.src_addr !== '' && zero(buf, p, len)) return;
      if (len === 4) {
        r.src_addr = ipv4ToString(buf, p);
        s.family = 4;
      } else {
        r.src_addr = ipv6ToString(buf, p);
        s.family = 6;
      }
      return;
    case H.SRC_NET:
      r.src_net = readUint(dv, p, len);
      return;
    case H.IN_IF:
      r.in_if = readUint(dv, p, len);
      return;
    case H.DST_PORT:
      r.dst_port = readUint(dv, p, len);
      return;
    case H.DST_ADDR:
      if (r.dst_addr !== '' && zero(buf, p, len)) return;
      if (len === 4) r.dst_addr = ipv4ToString(buf, p);
      else r.dst_addr = ipv6ToString(buf, p);
      if (s.family === 0) s.family = len === 4 ? 4 : 6;
      return;
    case H.DST_NET:
      r.dst_net = readUint(dv, p, len);
      return;
    case H.OUT_IF:
      r.out_if = readUint(dv, p, len);
      return;
    case H.NEXT_HOP:
      if (r.next_hop !== '' && zero(buf, p, len)) return;
      r.next_hop = len === 4 ? ipv4ToString(buf, p) : ipv6ToString(buf, p);
      return;
    case H.SRC_AS:
      r.src_as = readUint(dv, p, len);
      return;
    case H.DST_AS:
      r.dst_as = readUint(dv, p, len);
      return;
    case H.NEXT_HOP_AS:
      r.next_hop_as = readUint(dv, p, len);
      return;
    case H.BGP_NEXT_HOP:
      if (r.bgp_next_hop !== '' && zero(buf, p, len)) return;
      r.bgp_next_hop = len === 4 ? ipv4ToString(buf, p) : ipv6ToString(buf, p);
      return;
    case H.END_UPTIME:
      s.endUp = readUint(dv, p, len);
      return;
    case H.START_UPTIME:
      s.startUp = readUint(dv, p, len);
      return;
    case H.FLOW_LABEL:
      r.ipv6_flow_label = readUint(dv, p, len) & 0xfffff;
      return;
    case H.ICMP_TYPE_CODE:
      s.icmpTypeCode = readUint(dv, p, len) & 0xffff;
      return;
    case H.ICMP_TYPE:
      s.icmpType = readUint(dv, p, len) & 0xff;
      return;
    case H.ICMP_CODE:
      s.icmpCode = readUint(dv, p, len) & 0xff;
      return;
    case H.SAMPLING_INTERVAL:
      s.samplingInterval = readUint(dv, p, len);
      return;
    case H.SAMPLER_ID:
      s.samplerId = readUint(dv, p, len);
      return;
    case H.PKT_INTERVAL:
      s.pktInterval = readUint(dv, p, len);
      return;
    case H.PKT_SPACE:
      s.pktSpace = readUint(dv, p, len);
      return;
    case H.SAMPLING_SIZE:
      s.samplingSize = readUint(dv, p, len);
      return;
    case H.SAMPLING_POPULATION:
      s.samplingPopulation = readUint(dv, p, len);
      return;
    case H.SAMPLING_PROBABILITY:
      s.samplingProbability = len === 8 ? dv.getFloat64(p) : dv.getFloat32(p);
      return;
    case H.SRC_MAC:
      r.src_mac = macToString(buf, p);
      return;
    case H.DST_MAC:
      r.dst_mac = macToString(buf, p);
      return;
    case H.SRC_VLAN: {
      const v = readUint(dv, p, len) & 0xfff;
      r.src_vlan = v;
      r.vlan_id = v;
      return;
    }
    case H.DST_VLAN:
      r.dst_vlan = readUint(dv, p, len) & 0xfff;
      return;
    case H.IP_VERSION:
      s.ipVersion = readUint(dv, p, len);
      return;
    case H.DIRECTION:
      r.flow_direction = readUint(dv, p, len);
      return;
    case H.MPLS_LABEL:
      // RFC 7012 mplsTopLabelStackSection: label (20 bits), traffic class (3), bottom of stack (1).
      r.mpls_label = readUint(dv, p, 3) >>> 4;
      return;
    case H.FORWARDING_STATUS:
      // Originally unsigned32, now unsigned8 (RFC 7270 s4.12): the status is the low byte either way.
      r.forwarding_status = readUint(dv, p, len) & 0xff;
      return;
    case H.TTL:
      r.ip_ttl = readUint(dv, p, len) & 0xff;
      return;
    case H.POST_NAT_SRC_ADDR:
      if (r.post_nat_src_addr !== '' && zero(buf, p, len)) return;
      r.post_nat_src_addr = len === 4 ? ipv4ToString(buf, p) : ipv6ToString(buf, p);
      return;
    case H.POST_NAT_DST_ADDR:
      if (r.post_nat_dst_addr !== '' && zero(buf, p, len)) return;
      r.post_nat_dst_addr = len === 4 ? ipv4ToString(buf, p) : ipv6ToString(buf, p);
      return;
    case H.POST_NAT_SRC_PORT:
      r.post_nat_src_port = readUint(dv, p, len);
      return;
    case H.POST_NAT_DST_PORT:
      r.post_nat_dst_port = readUint(dv, p, len);
      return;
    case H.OBS_POINT:
      r.observation_point_id = readUint(dv, p, len);
      return;
    case H.START_SEC:
      s.startNs = readUint(dv, p, len) * 1e9;
      return;
    case H.END_SEC:
      s.endNs = readUint(dv, p, len) * 1e9;
      return;
    case H.START_MS:
      s.startNs = readUint(dv, p, len) * 1e6;
      return;
    case H.END_MS:
      s.endNs = readUint(dv, p, len) * 1e6;
      return;
    case H.START_NTP:
      s.startNs = ntpToNs(dv, p);
      return;
    case H.END_NTP:
      s.endNs = ntpToNs(dv, p);
      return;
    case H.START_DELTA_US:
      s.startDeltaUs = readUint(dv, p, len);
      return;
    case H.END_DELTA_US:
      s.endDeltaUs = readUint(dv, p, len);
      return;
    case H.SYS_INIT_MS:
      s.sysInitMs = readUint(dv, p, len);
      return;
    case H.DURATION_MS:
      s.durationMs = readUint(dv, p, len);
      return;
    case H.DURATION_US:
      s.durationMs = readUint(dv, p, len) / 1000;
      return;
    case H.REV_BYTES:
      s.revBytes = readUint(dv, p, len);
      return;
    case H.REV_PACKETS:
      s.revPackets = readUint(dv, p, len);
      return;
    case H.REV_TCP_FLAGS:
      s.revTcpFlags = readUint(dv, p, len);
      return;
    case H.DATALINK_SECTION:
      parsePacketSection(buf, dv, p, len, true, r, s);
      return;
    case H.IP_SECTION:
      parsePacketSection(buf, dv, p, len, false, r, s);
      return;
    default:
      return;
  }
}

/** Decode a record of a fixed-length template at `p` (the caller checked it fits). */
export function decodeFixedRecord(buf: Uint8Array, dv: DataView, p: number, t: CompiledTemplate, r: FlowRecord, s: RecordScratch): void {
  const hs = t.liveHandlers;
  const offs = t.liveOffsets;
  const lens = t.liveLengths;
  for (let i = 0; i < hs.length; i++) applyField(hs[i]!, buf, dv, p + offs[i]!, lens[i]!, r, s);
}

/**
 * Decode a record of a template with variable-length fields (RFC 7011 s7: a 1-byte length, or 255
 * then a 2-byte length). Returns the offset after the record, or -1 when it overruns `end`.
 */
export function decodeVariableRecord(
  buf: Uint8Array,
  dv: DataView,
  p: number,
  end: number,
  t: CompiledTemplate,
  r: FlowRecord,
  s: RecordScratch,
): number {
  const hs = t.handlers;
  const lens = t.lengths;
  for (let i = 0; i < hs.length; i++) {
    let len = lens[i]!;
    if (len === VARIABLE_LENGTH) {
      if (p >= end) return -1;
      len = dv.getUint8(p);
      p += 1;
      if (len === 255) {
        if (p + 2 > end) return -1;
        len = dv.getUint16(p);
        p += 2;
      }
      if (p + len > end) return -1;
      // Only packet sections are decoded from variable-length fields; the rest are skipped by length.
      const hv = hs[i]!;
      if (hv === H.DATALINK_SECTION || hv === H.IP_SECTION) applyField(hv, buf, dv, p, len, r, s);
      p += len;
      continue;
    }
    if (p + len > end) return -1;
    const h = hs[i]!;
    if (h !== H.SKIP) applyField(h, buf, dv, p, len, r, s);
    p += len;
  }
  return p;
}
