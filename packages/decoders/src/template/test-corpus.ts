/**
 * Test-only helpers for the shared conformance corpus (/work/shared/corpus, beside the checkout):
 * loading files, and comparing our FlowRecords with Logstash's expected events (its field names
 * mapped to ours) and with tshark's text decodes.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FlowRecord } from '@flowwatch/flow-schema';
import type { DecodeContext, DecodeError } from '../common/types.js';

/** packages/decoders/src/template/ -> the corpus directory beside the repository. */
export const CORPUS_DIR = fileURLToPath(new URL('../../../../../shared/corpus/', import.meta.url));

export function corpusFile(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(CORPUS_DIR + rel));
}

export function corpusJson<T>(rel: string): T {
  return JSON.parse(readFileSync(CORPUS_DIR + rel, 'utf8')) as T;
}

export interface LogstashContext {
  context: string;
  spec_line: number;
  files_in_order: string[];
  expected_event_count: string[];
  assertions: { event: number; field: string; expected: string }[];
  expected_events_json?: { netflow?: Record<string, unknown> }[];
  json_compare?: { decode_index: number; expected_events_json_index: number }[];
}

export function ctxFor(exporter: string, defaultSamplingRate = 0): DecodeContext {
  return { exporter, receivedNs: 1_700_000_000e9, supplierId: 'sup', exporterId: 'exp', defaultSamplingRate };
}

/** Which decoder a datagram is for, from its 16-bit version. */
export function versionOf(buf: Uint8Array): number {
  return buf.length >= 2 ? (buf[0]! << 8) | buf[1]! : -1;
}

/**
 * Logstash field names (v9 names and IPFIX IE names) per FlowRecord field, in order of
 * preference: the first present in an event is the one our decoder should reproduce (the same
 * preferences as fields.ts: octetDeltaCount before octetTotalCount, in_bytes before out_bytes).
 */
const LOGSTASH_FIELDS: [keyof FlowRecord, string[]][] = [
  ['src_addr', ['ipv4_src_addr', 'ipv6_src_addr', 'sourceIPv4Address', 'sourceIPv6Address']],
  ['dst_addr', ['ipv4_dst_addr', 'ipv6_dst_addr', 'destinationIPv4Address', 'destinationIPv6Address']],
  ['src_port', ['l4_src_port', 'sourceTransportPort']],
  ['dst_port', ['l4_dst_port', 'destinationTransportPort']],
  ['proto', ['protocol', 'protocolIdentifier']],
  ['bytes', ['in_bytes', 'octetDeltaCount', 'octetTotalCount', 'out_bytes', 'fwd_flow_delta_bytes']],
  ['packets', ['in_pkts', 'packetDeltaCount', 'packetTotalCount', 'out_pkts']],
  ['in_if', ['input_snmp', 'ingressInterface']],
  ['out_if', ['output_snmp', 'egressInterface']],
  ['tcp_flags', ['tcp_flags', 'tcpControlBits']],
  ['ip_tos', ['src_tos', 'ipClassOfService']],
  ['src_as', ['src_as', 'bgpSourceAsNumber']],
  ['dst_as', ['dst_as', 'bgpDestinationAsNumber']],
  ['src_net', ['src_mask']],
  ['dst_net', ['dst_mask']],
  ['next_hop', ['ipv4_next_hop', 'ipNextHopIPv4Address', 'ipNextHopIPv6Address']],
  ['bgp_next_hop', ['bgp_ipv4_next_hop']],
  ['src_mac', ['in_src_mac', 'sourceMacAddress', 'out_src_mac']],
  ['dst_mac', ['in_dst_mac', 'destinationMacAddress', 'out_dst_mac']],
  ['src_vlan', ['src_vlan', 'vlanId']],
  ['dst_vlan', ['dst_vlan']],
  ['post_nat_src_addr', ['xlate_src_addr_ipv4', 'postNATSourceIPv4Address']],
  ['post_nat_dst_addr', ['xlate_dst_addr_ipv4', 'postNATDestinationIPv4Address']],
  ['post_nat_src_port', ['xlate_src_port', 'postNAPTSourceTransportPort']],
  ['post_nat_dst_port', ['xlate_dst_port', 'postNAPTDestinationTransportPort']],
  ['forwarding_status', ['forwarding_status']],
  ['flow_direction', ['direction', 'flowDirection']],
  ['observation_point_id', ['observationPointId']],
  ['ip_ttl', ['maximumTTL']],
  ['sampling_rate', ['sampling_interval', 'samplingInterval']],
  ['time_flow_start_ns', ['flowStartMilliseconds', 'flowStartSeconds', 'flowStartMicroseconds', 'first_switched', 'flow_start_msec']],
  ['time_flow_end_ns', ['flowEndMilliseconds', 'flowEndSeconds', 'flowEndMicroseconds', 'last_switched']],
];

const TIME_FIELDS = new Set<keyof FlowRecord>(['time_flow_start_ns', 'time_flow_end_ns']);

/** True when a Logstash event is a flow (has addresses), not an options record. */
export function isFlowEvent(ev: Record<string, unknown>): boolean {
  return LOGSTASH_FIELDS[0]![1].some((k) => k in ev) || LOGSTASH_FIELDS[1]![1].some((k) => k in ev);
}

/** Our expectation from a Logstash event: only the fields it has that we map. */
export function expectedFromLogstash(ev: Record<string, unknown>): Partial<FlowRecord> {
  const out: Record<string, unknown> = {};
  for (const [field, keys] of LOGSTASH_FIELDS) {
    const key = keys.find((k) => k in ev);
    if (key === undefined) continue;
    const v = ev[key];
    if (TIME_FIELDS.has(field)) {
      // ISO text with milliseconds (micros were stripped from the corpus), or ms since the epoch
      // (NSEL flow_start_msec): compare at 1 ms.
      // '#{nanos}' is the spec's Ruby interpolation of sub-millisecond digits, left unexpanded.
      const ms = typeof v === 'number' ? (key.endsWith('Seconds') ? v * 1000 : v) : Date.parse(String(v).replace('#{nanos}', ''));
      out[field] = ms * 1e6;
    } else if (field === 'forwarding_status' && typeof v === 'object' && v !== null) {
      // Logstash splits the byte: status in the top 2 bits, reason code in the low 6 (RFC 7270 s4.12).
      const fs = v as { status: number; reason: number };
      out[field] = (fs.status << 6) | fs.reason;
    } else out[field] = v;
  }
  return out as Partial<FlowRecord>;
}

/** The fields of `actual` that differ from `expected` (times compared to the millisecond). */
export function diffFlow(actual: FlowRecord, expected: Partial<FlowRecord>): string[] {
  const diffs: string[] = [];
  for (const [k, v] of Object.entries(expected)) {
    let a = actual[k as keyof FlowRecord] as unknown;
    if (TIME_FIELDS.has(k as keyof FlowRecord)) a = Math.floor(Math.round((a as number) / 1e3) / 1e3) * 1e6;
    if (a !== v) diffs.push(`${k}: got ${String(a)}, expected ${String(v)}`);
  }
  return diffs;
}

export function errorSummary(errors: DecodeError[]): string[] {
  return errors.map((e) => `${e.reason}: ${e.detail}`);
}

/**
 * Per-flow values from a tshark -V text decode of NetFlow v9 / IPFIX: one entry per data record
 * ("Flow N" block), with the fields we cross-check.
 */
export interface TsharkFlow {
  /** NetFlow v9: flow start/end (ms since the epoch) from the header's CurrentSecs and SysUptime. */
  startMs?: number;
  endMs?: number;
  src?: string;
  dst?: string;
  srcPort?: number;
  dstPort?: number;
  proto?: number;
  octets?: number;
  packets?: number;
}

function unset(a: string | undefined): boolean {
  return a === undefined || a === '0.0.0.0' || a === '::';
}

export function parseTshark(text: string): TsharkFlow[] {
  const flows: TsharkFlow[] = [];
  let cur: TsharkFlow | undefined;
  let uptimeMs = -1;
  let secs = -1;
  for (const line of text.split('\n')) {
    let h: RegExpMatchArray | null;
    if ((h = line.match(/^ {4}SysUptime: ([\d.]+) seconds/))) uptimeMs = Math.round(Number(h[1]) * 1000);
    else if ((h = line.match(/^ {8}CurrentSecs: (\d+)/))) secs = Number(h[1]);
    if (/^\s+Flow \d+( \(.*\))?$/.test(line)) {
      cur = {};
      flows.push(cur);
      continue;
    }
    if (/^\s+(FlowSet|Set) \d+ \[id=/.test(line)) cur = undefined;
    if (cur === undefined) continue;
    let m: RegExpMatchArray | null;
    // First occurrence wins: "Octets" may appear again as e.g. permanent octets.
    // Addresses: a record with both IPv4 and IPv6 fields (Procera) has the unused one all-zero.
    if ((m = line.match(/^\s+SrcAddr: (\S+)/)) && unset(cur.src)) cur.src = m[1];
    else if ((m = line.match(/^\s+DstAddr: (\S+)/)) && unset(cur.dst)) cur.dst = m[1];
    else if ((m = line.match(/^\s+SrcPort: (\d+)/)) && cur.srcPort === undefined) cur.srcPort = Number(m[1]);
    else if ((m = line.match(/^\s+DstPort: (\d+)/)) && cur.dstPort === undefined) cur.dstPort = Number(m[1]);
    else if ((m = line.match(/^\s+Protocol: .*\((\d+)\)$/)) && cur.proto === undefined) cur.proto = Number(m[1]);
    else if ((m = line.match(/^\s+Octets: (\d+)$/)) && cur.octets === undefined) cur.octets = Number(m[1]);
    else if ((m = line.match(/^\s+Packets: (\d+)$/)) && cur.packets === undefined) cur.packets = Number(m[1]);
    else if ((m = line.match(/^\s+(Start|End)Time: ([\d.]+) seconds$/)) && uptimeMs >= 0 && secs >= 0) {
      // RFC 3954 s5.1: sysUptime-relative; tshark prints them relative to boot.
      const at = secs * 1000 - (uptimeMs - Math.round(Number(m[2]) * 1000));
      if (m[1] === 'Start') cur.startMs ??= at;
      else cur.endMs ??= at;
    }
  }
  return flows;
}
