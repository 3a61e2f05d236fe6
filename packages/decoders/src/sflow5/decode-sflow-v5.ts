import { emptyFlow, type FlowRecord } from '@flowwatch/flow-schema';
import { ipv4ToString, ipv6ToString } from '../common/addresses.js';
import type { DecodeContext, DecodeError, DecodeOutput } from '../common/types.js';
import { parseEthernetHeader, parseIpv4Header, parseIpv6Header } from './parse-sampled-header.js';
import type { InterfaceCounters, SflowDecodeOutput } from './types.js';

/**
 * sFlow version 5 (sflow.org/sflow_version_5.txt), XDR-encoded, big-endian, 4-byte aligned.
 *
 * One FlowRecord per flow sample (compact, format 1, or expanded, format 3), as goflow2 does:
 * - packets = 1, bytes = the raw packet header record's frame_length (the original packet's length on
 *   the wire, goflow2's choice; Akvorado reports the IP total length instead), or the length field
 *   of a sampled IPv4/IPv6 record; sampling_rate is the sample's. Consumers scale by sampling_rate.
 * - sampler_address is the agent address in the datagram, not ctx.exporter (the UDP source): sFlow
 *   names its agent explicitly and relays/NAT change the source; sequence_num is the datagram's.
 * - in_if/out_if: the compact form packs a 2-bit format over a 30-bit value, the expanded form has
 *   separate words. Format 0 is an ifIndex (0x3fffffff, "internal interface", becomes 0); format 1
 *   (packet discarded, value = reason) gives out_if 0 and a forwarding_status "dropped" code
 *   (RFC 7270 s4.12); format 2 (multiple interfaces) gives 0.
 * - Records are applied in order, so a later record overrides an earlier one (goflow2 behaviour).
 *
 * Counter samples (2 compact, 4 expanded) with generic interface counters (record format 1) go to
 * `counters` of decodeSflowV5WithCounters. Every other sample type (discard samples, format 5;
 * enterprise samples) and record format is skipped by its length: not an error.
 *
 * Never throws. A sample running past the datagram stops decoding ('truncated'); fewer samples than
 * announced is 'bad_count'; bytes after the announced samples are ignored; a record running
 * past its sample drops that sample ('bad_length') and decoding continues with the next sample, since
 * samples are framed by their own lengths. Loops are bounded by the bytes present, never by counts.
 */

const FLOW_SAMPLE = 1;
const COUNTER_SAMPLE = 2;
const FLOW_SAMPLE_EXPANDED = 3;
const COUNTER_SAMPLE_EXPANDED = 4;

const RECORD_RAW_HEADER = 1;
const RECORD_SAMPLED_IPV4 = 3;
const RECORD_SAMPLED_IPV6 = 4;
const RECORD_EXTENDED_SWITCH = 1001;
const RECORD_EXTENDED_ROUTER = 1002;
const RECORD_EXTENDED_GATEWAY = 1003;
const COUNTERS_GENERIC_INTERFACE = 1;

const HEADER_PROTOCOL_ETHERNET = 1;
const HEADER_PROTOCOL_IPV4 = 11;
const HEADER_PROTOCOL_IPV6 = 12;

const INTERNAL_INTERFACE = 0x3fffffff;
const TWO_32 = 0x1_0000_0000;

export function decodeSflowV5(buf: Uint8Array, ctx: DecodeContext): DecodeOutput {
  return decode(buf, ctx, undefined);
}

/** decodeSflowV5 plus the generic interface counters of counter samples. */
export function decodeSflowV5WithCounters(buf: Uint8Array, ctx: DecodeContext): SflowDecodeOutput {
  const counters: InterfaceCounters[] = [];
  const out = decode(buf, ctx, counters);
  return { flows: out.flows, errors: out.errors, counters };
}

/** Datagram-level values every sample needs; one object per datagram. */
interface Datagram {
  agent: string;
  subAgentId: number;
  sequence: number;
}

function decode(buf: Uint8Array, ctx: DecodeContext, counters: InterfaceCounters[] | undefined): DecodeOutput {
  const flows: FlowRecord[] = [];
  const errors: DecodeError[] = [];
  const len = buf.length;
  if (len < 8) {
    errors.push({ reason: 'truncated', detail: `sFlow datagram of ${len} bytes`, count: 1, raw: buf });
    return { flows, errors };
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = dv.getUint32(0);
  if (version !== 5) {
    errors.push({ reason: 'bad_version', detail: `sFlow version ${version}, expected 5`, count: 1, raw: buf });
    return { flows, errors };
  }
  const agentType = dv.getUint32(4);
  let off = 8;
  let agent: string;
  if (agentType === 1) {
    if (len < off + 4 + 16) return truncatedHeader(buf, errors, flows);
    agent = ipv4ToString(buf, off);
    off += 4;
  } else if (agentType === 2) {
    if (len < off + 16 + 16) return truncatedHeader(buf, errors, flows);
    agent = ipv6ToString(buf, off);
    off += 16;
  } else {
    errors.push({ reason: 'invalid_record', detail: `agent address type ${agentType}, expected 1 or 2`, count: 1, raw: buf });
    return { flows, errors };
  }
  const dg: Datagram = { agent, subAgentId: dv.getUint32(off), sequence: dv.getUint32(off + 4) };
  // off + 8: uptime (unused: samples carry no timestamps of their own)
  const numSamples = dv.getUint32(off + 12);
  off += 16;

  let i = 0;
  for (; i < numSamples && off + 8 <= len; i++) {
    const tag = dv.getUint32(off);
    const sampleLen = dv.getUint32(off + 4);
    const start = off + 8;
    const end = start + sampleLen;
    if (end > len) {
      errors.push({
        reason: 'truncated',
        detail: `sample ${i} (tag ${tag}) of ${sampleLen} bytes at offset ${off}, datagram has ${len}`,
        // The announced count is the sender's word: never count more samples than the bytes left could frame.
        count: Math.min(numSamples - i, 1 + ((len - off) >>> 3)),
        raw: buf.subarray(off),
      });
      return { flows, errors };
    }
    off = end;
    if (tag === FLOW_SAMPLE || tag === FLOW_SAMPLE_EXPANDED) {
      decodeFlowSample(buf, dv, start, end, tag === FLOW_SAMPLE_EXPANDED, dg, ctx, flows, errors);
    } else if (counters !== undefined && (tag === COUNTER_SAMPLE || tag === COUNTER_SAMPLE_EXPANDED)) {
      decodeCounterSample(buf, dv, start, end, tag === COUNTER_SAMPLE_EXPANDED, dg, counters, errors);
    }
    // anything else (discard samples, enterprise formats): skipped by its length
  }
  if (i < numSamples) {
    errors.push({
      reason: 'bad_count',
      detail: `${numSamples} samples announced, datagram ends after ${i}`,
      count: Math.min(numSamples - i, 1 + ((len - off) >>> 3)),
    });
  }
  // Bytes after the announced samples are ignored, as goflow2, Akvorado and tshark do (some agents
  // and test captures pad datagrams); unlike NetFlow v5, every sample is framed by its own length.
  return { flows, errors };
}

function truncatedHeader(buf: Uint8Array, errors: DecodeError[], flows: FlowRecord[]): DecodeOutput {
  errors.push({ reason: 'truncated', detail: `sFlow header cut at ${buf.length} bytes`, count: 1, raw: buf });
  return { flows, errors };
}

function decodeFlowSample(
  buf: Uint8Array,
  dv: DataView,
  off: number,
  end: number,
  expanded: boolean,
  dg: Datagram,
  ctx: DecodeContext,
  flows: FlowRecord[],
  errors: DecodeError[],
): void {
  const fixed = expanded ? 44 : 32;
  if (end - off < fixed) {
    errors.push({
      reason: 'bad_length',
      detail: `flow sample of ${end - off} bytes, needs ${fixed}`,
      count: 1,
      raw: buf.subarray(off, end),
    });
    return;
  }
  const r = newFlow(dg, ctx);
  let numRecords: number;
  if (expanded) {
    // sequence, source_id type, source_id index, rate, pool, drops, input fmt/value, output fmt/value, n
    r.sampling_rate = dv.getUint32(off + 12);
    r.in_if = interfaceValue(dv.getUint32(off + 24), dv.getUint32(off + 28), false, r);
    r.out_if = interfaceValue(dv.getUint32(off + 32), dv.getUint32(off + 36), true, r);
    numRecords = dv.getUint32(off + 40);
  } else {
    // sequence, source_id, rate, pool, drops, input, output, n
    r.sampling_rate = dv.getUint32(off + 8);
    const input = dv.getUint32(off + 20);
    const output = dv.getUint32(off + 24);
    r.in_if = interfaceValue(input >>> 30, input & INTERNAL_INTERFACE, false, r);
    r.out_if = interfaceValue(output >>> 30, output & INTERNAL_INTERFACE, true, r);
    numRecords = dv.getUint32(off + 28);
  }
  off += fixed;
  for (let i = 0; i < numRecords && off + 8 <= end; i++) {
    const tag = dv.getUint32(off);
    const recLen = dv.getUint32(off + 4);
    const start = off + 8;
    const recEnd = start + recLen;
    if (recEnd > end) {
      errors.push({
        reason: 'bad_length',
        detail: `flow record ${i} (tag ${tag}) of ${recLen} bytes runs past its sample (${end - start} left)`,
        count: 1,
        raw: buf.subarray(off, end),
      });
      return;
    }
    off = recEnd;
    if (!applyFlowRecord(buf, dv, tag, start, recEnd, r)) {
      errors.push({
        reason: 'bad_length',
        detail: `flow record tag ${tag} of ${recLen} bytes is too short`,
        count: 1,
        raw: buf.subarray(start - 8, recEnd),
      });
      return;
    }
  }
  flows.push(r);
}

/**
 * The ifIndex to report for an interface (format, value) pair; a discarded packet's reason code
 * (sflow_version_5.txt "Encoding of dropped packets": ICMP unreachable codes 0-15, 256+) sets
 * forwarding_status to an RFC 7270 dropped code.
 */
function interfaceValue(format: number, value: number, isOutput: boolean, r: FlowRecord): number {
  if (format === 0) return value === INTERNAL_INTERFACE ? 0 : value;
  if (format === 1 && isOutput) r.forwarding_status = dropStatus(value);
  return 0;
}

function dropStatus(reason: number): number {
  switch (reason) {
    case 4: // fragmentation needed and DF set
    case 262: // packet too big
      return 133;
    case 9: // administratively prohibited (net, host, communication)
    case 10:
    case 13:
    case 258: // ACL
      return 129;
    case 257: // TTL exceeded
      return 137;
    case 260: // RED
      return 139;
    case 261: // traffic shaping / rate limiting
      return 138;
    default:
      return reason <= 15 ? 131 : 128; // other unreachables: unroutable; else unknown
  }
}

/** Applies one flow record to r; false when the record is shorter than its format needs. */
function applyFlowRecord(buf: Uint8Array, dv: DataView, tag: number, off: number, end: number, r: FlowRecord): boolean {
  const n = end - off;
  switch (tag) {
    case RECORD_RAW_HEADER: {
      if (n < 16) return false;
      const protocol = dv.getUint32(off);
      const headerLen = dv.getUint32(off + 12);
      if (headerLen > n - 16) return false;
      r.bytes = dv.getUint32(off + 4); // frame_length; off + 8 is 'stripped'
      const h = off + 16;
      if (protocol === HEADER_PROTOCOL_ETHERNET) parseEthernetHeader(buf, h, h + headerLen, r);
      else if (protocol === HEADER_PROTOCOL_IPV4) parseIpv4Header(buf, h, h + headerLen, r);
      else if (protocol === HEADER_PROTOCOL_IPV6) parseIpv6Header(buf, h, h + headerLen, r);
      return true;
    }
    case RECORD_SAMPLED_IPV4: {
      if (n < 32) return false;
      r.bytes = dv.getUint32(off);
      r.proto = dv.getUint32(off + 4) & 0xff;
      r.src_addr = ipv4ToString(buf, off + 8);
      r.dst_addr = ipv4ToString(buf, off + 12);
      r.src_port = dv.getUint32(off + 16) & 0xffff;
      r.dst_port = dv.getUint32(off + 20) & 0xffff;
      r.tcp_flags = dv.getUint32(off + 24) & 0xff;
      r.ip_tos = dv.getUint32(off + 28) & 0xff;
      r.etype = 0x0800;
      return true;
    }
    case RECORD_SAMPLED_IPV6: {
      if (n < 56) return false;
      r.bytes = dv.getUint32(off);
      r.proto = dv.getUint32(off + 4) & 0xff;
      r.src_addr = ipv6ToString(buf, off + 8);
      r.dst_addr = ipv6ToString(buf, off + 24);
      r.src_port = dv.getUint32(off + 40) & 0xffff;
      r.dst_port = dv.getUint32(off + 44) & 0xffff;
      r.tcp_flags = dv.getUint32(off + 48) & 0xff;
      r.ip_tos = dv.getUint32(off + 52) & 0xff;
      r.etype = 0x86dd;
      return true;
    }
    case RECORD_EXTENDED_SWITCH: {
      if (n < 16) return false;
      r.src_vlan = vlan(dv.getUint32(off));
      r.dst_vlan = vlan(dv.getUint32(off + 8));
      return true;
    }
    case RECORD_EXTENDED_ROUTER: {
      const a = readAddress(buf, dv, off, end);
      if (a < 0 || end - a < 8) return false;
      r.next_hop = lastAddress;
      r.src_net = dv.getUint32(a) & 0xff;
      r.dst_net = dv.getUint32(a + 4) & 0xff;
      return true;
    }
    case RECORD_EXTENDED_GATEWAY:
      return applyGateway(buf, dv, off, end, r);
    default:
      return true; // unknown record formats are skipped by their length
  }
}

/** sFlow uses 0xffffffff (and anything past 4095) for "unknown VLAN". */
function vlan(v: number): number {
  return v <= 4095 ? v : 0;
}

/**
 * Extended gateway (1003): next hop, own AS, src_as, src_peer_as, then the destination AS path as
 * segments. Like goflow2: dst_as is the path's last AS (else own AS), src_as the src_as field (else
 * own AS), next_hop_as the path's first AS, bgp_next_hop the next hop. Communities are not read.
 */
function applyGateway(buf: Uint8Array, dv: DataView, off: number, end: number, r: FlowRecord): boolean {
  let p = readAddress(buf, dv, off, end);
  if (p < 0 || end - p < 16) return false;
  const nextHop = lastAddress;
  const ownAs = dv.getUint32(p);
  const srcAs = dv.getUint32(p + 4);
  const segments = dv.getUint32(p + 12);
  p += 16;
  let firstAs = -1;
  let lastAs = -1;
  for (let s = 0; s < segments && end - p >= 8; s++) {
    const count = dv.getUint32(p + 4);
    p += 8;
    if (count > (end - p) >>> 2) return false;
    if (count > 0) {
      if (firstAs < 0) firstAs = dv.getUint32(p);
      lastAs = dv.getUint32(p + 4 * (count - 1));
    }
    p += 4 * count;
  }
  r.bgp_next_hop = nextHop;
  r.src_as = srcAs > 0 ? srcAs : ownAs;
  r.dst_as = lastAs >= 0 ? lastAs : ownAs;
  if (firstAs >= 0) r.next_hop_as = firstAs;
  return true;
}

/** Set by readAddress: avoids allocating a result object per record on the hot path. */
let lastAddress = '';

/** Reads an sFlow address union at off; returns the offset after it, or -1 when malformed. */
function readAddress(buf: Uint8Array, dv: DataView, off: number, end: number): number {
  if (end - off < 4) return -1;
  const type = dv.getUint32(off);
  if (type === 1) {
    if (end - off < 8) return -1;
    lastAddress = ipv4ToString(buf, off + 4);
    return off + 8;
  }
  if (type === 2) {
    if (end - off < 20) return -1;
    lastAddress = ipv6ToString(buf, off + 4);
    return off + 20;
  }
  if (type === 0) {
    lastAddress = '';
    return off + 4;
  }
  return -1;
}

function decodeCounterSample(
  buf: Uint8Array,
  dv: DataView,
  off: number,
  end: number,
  expanded: boolean,
  dg: Datagram,
  counters: InterfaceCounters[],
  errors: DecodeError[],
): void {
  const fixed = expanded ? 16 : 12;
  if (end - off < fixed) {
    errors.push({
      reason: 'bad_length',
      detail: `counter sample of ${end - off} bytes, needs ${fixed}`,
      count: 1,
      raw: buf.subarray(off, end),
    });
    return;
  }
  const sampleSequenceNum = dv.getUint32(off);
  let sourceIdType: number;
  let sourceIdIndex: number;
  if (expanded) {
    sourceIdType = dv.getUint32(off + 4);
    sourceIdIndex = dv.getUint32(off + 8);
  } else {
    const s = dv.getUint32(off + 4);
    sourceIdType = s >>> 24;
    sourceIdIndex = s & 0xffffff;
  }
  const numRecords = dv.getUint32(off + fixed - 4);
  off += fixed;
  for (let i = 0; i < numRecords && off + 8 <= end; i++) {
    const tag = dv.getUint32(off);
    const recLen = dv.getUint32(off + 4);
    const start = off + 8;
    if (start + recLen > end) {
      errors.push({
        reason: 'bad_length',
        detail: `counter record ${i} (tag ${tag}) of ${recLen} bytes runs past its sample`,
        count: 1,
        raw: buf.subarray(off, end),
      });
      return;
    }
    off = start + recLen;
    if (tag !== COUNTERS_GENERIC_INTERFACE) continue;
    if (recLen < 88) {
      errors.push({
        reason: 'bad_length',
        detail: `generic interface counters of ${recLen} bytes, needs 88`,
        count: 1,
        raw: buf.subarray(start - 8, off),
      });
      continue;
    }
    const s = start;
    counters.push({
      agentAddress: dg.agent,
      subAgentId: dg.subAgentId,
      sequenceNum: dg.sequence,
      sampleSequenceNum,
      sourceIdType,
      sourceIdIndex,
      ifIndex: dv.getUint32(s),
      ifType: dv.getUint32(s + 4),
      ifSpeed: u64(dv, s + 8),
      ifDirection: dv.getUint32(s + 16),
      ifStatus: dv.getUint32(s + 20),
      ifInOctets: u64(dv, s + 24),
      ifInUcastPkts: dv.getUint32(s + 32),
      ifInMulticastPkts: dv.getUint32(s + 36),
      ifInBroadcastPkts: dv.getUint32(s + 40),
      ifInDiscards: dv.getUint32(s + 44),
      ifInErrors: dv.getUint32(s + 48),
      ifInUnknownProtos: dv.getUint32(s + 52),
      ifOutOctets: u64(dv, s + 56),
      ifOutUcastPkts: dv.getUint32(s + 64),
      ifOutMulticastPkts: dv.getUint32(s + 68),
      ifOutBroadcastPkts: dv.getUint32(s + 72),
      ifOutDiscards: dv.getUint32(s + 76),
      ifOutErrors: dv.getUint32(s + 80),
      ifPromiscuousMode: dv.getUint32(s + 84),
    });
  }
}

function u64(dv: DataView, off: number): number {
  return dv.getUint32(off) * TWO_32 + dv.getUint32(off + 4);
}

/** A record with the sample-independent fields set (a literal, one hidden class for every record). */
function newFlow(dg: Datagram, ctx: DecodeContext): FlowRecord {
  const r = emptyFlow('SFLOW_5');
  r.time_received_ns = ctx.receivedNs;
  r.sequence_num = dg.sequence;
  r.sampler_address = dg.agent;
  r.packets = 1;
  r.supplier_id = ctx.supplierId;
  r.exporter_id = ctx.exporterId;
  return r;
}
