import type { FlowRecord } from '@flowwatch/flow-schema';
import { ipv4ToString, ipv6ToString, macToString } from '../common/addresses.js';
import type { RecordScratch } from './record-decoder.js';

/**
 * A sampled packet's leading bytes in a record (dataLinkFrameSection 315 or ipHeaderPacketSection
 * 313, RFC 7133 / IANA): exporters that export sampled packets, sFlow-like, send one per record.
 * Fills what the record's own fields left empty: MACs, VLAN, addresses, protocol, ports, TTL,
 * ToS, and bytes/packets (the IP length, 1 packet).
 * Encapsulated packets (IP-in-IP, SRv6) are reported by their outer header, as akvorado does by
 * default. Stops quietly at the end of the captured bytes.
 */
export function parsePacketSection(
  buf: Uint8Array,
  dv: DataView,
  p: number,
  len: number,
  ethernet: boolean,
  r: FlowRecord,
  s: RecordScratch,
): void {
  const end = p + len;
  let q = p;
  let etype: number;
  if (ethernet) {
    if (q + 14 > end) return;
    if (r.dst_mac === '') r.dst_mac = macToString(buf, q);
    if (r.src_mac === '') r.src_mac = macToString(buf, q + 6);
    etype = dv.getUint16(q + 12);
    q += 14;
    while ((etype === 0x8100 || etype === 0x88a8) && q + 4 <= end) {
      const vlan = dv.getUint16(q) & 0xfff;
      if (r.src_vlan === 0) {
        r.src_vlan = vlan;
        r.vlan_id = vlan;
      }
      if (r.dst_vlan === 0) r.dst_vlan = vlan;
      etype = dv.getUint16(q + 2);
      q += 4;
    }
    if (etype === 0x8847) {
      // MPLS: the top label, then the stack down to bottom of stack; the payload's version nibble says the rest.
      let first = true;
      while (q + 4 <= end) {
        const entry = dv.getUint32(q);
        if (first && r.mpls_label === 0) r.mpls_label = entry >>> 12;
        first = false;
        q += 4;
        if (entry & 0x100) break;
      }
      if (q >= end) return;
      const v = dv.getUint8(q) >> 4;
      etype = v === 4 ? 0x0800 : v === 6 ? 0x86dd : 0;
    }
  } else {
    if (q >= end) return;
    const v = dv.getUint8(q) >> 4;
    etype = v === 4 ? 0x0800 : v === 6 ? 0x86dd : 0;
  }
  parseIp(buf, dv, q, end, etype, r, s);
}

function parseIp(buf: Uint8Array, dv: DataView, q: number, end: number, etype: number, r: FlowRecord, s: RecordScratch): void {
  let proto: number;
  let l4: number;
  let fragment = false;
  if (etype === 0x0800) {
    if (q + 20 > end) return;
    const ihl = (dv.getUint8(q) & 0x0f) * 4;
    if (r.src_addr === '') r.src_addr = ipv4ToString(buf, q + 12);
    if (r.dst_addr === '') r.dst_addr = ipv4ToString(buf, q + 16);
    s.ipVersion = 4;
    if (r.bytes === 0) r.bytes = dv.getUint16(q + 2);
    if (r.ip_tos === 0) r.ip_tos = dv.getUint8(q + 1);
    if (r.ip_ttl === 0) r.ip_ttl = dv.getUint8(q + 8);
    proto = dv.getUint8(q + 9);
    fragment = (dv.getUint16(q + 6) & 0x1fff) !== 0;
    l4 = q + ihl;
  } else if (etype === 0x86dd) {
    if (q + 40 > end) return;
    const first = dv.getUint32(q);
    proto = dv.getUint8(q + 6);
    l4 = q + 40;
    // Extension headers (hop-by-hop 0, routing 43, destination options 60) before the transport header.
    while ((proto === 0 || proto === 43 || proto === 60) && l4 + 8 <= end) {
      proto = dv.getUint8(l4);
      l4 += (dv.getUint8(l4 + 1) + 1) * 8;
    }
    if (r.src_addr === '') r.src_addr = ipv6ToString(buf, q + 8);
    if (r.dst_addr === '') r.dst_addr = ipv6ToString(buf, q + 24);
    s.ipVersion = 6;
    if (r.bytes === 0) r.bytes = dv.getUint16(q + 4) + 40;
    if (r.ip_tos === 0) r.ip_tos = (first >>> 20) & 0xff;
    if (r.ipv6_flow_label === 0) r.ipv6_flow_label = first & 0xfffff;
    if (r.ip_ttl === 0) r.ip_ttl = dv.getUint8(q + 7);
  } else return;
  if (r.packets === 0) r.packets = 1;
  if (r.proto === 0) r.proto = proto;
  if (fragment) return;
  if ((proto === 6 || proto === 17 || proto === 132) && l4 + 4 <= end) {
    if (r.src_port === 0) r.src_port = dv.getUint16(l4);
    if (r.dst_port === 0) r.dst_port = dv.getUint16(l4 + 2);
    if (proto === 6 && l4 + 14 <= end && r.tcp_flags === 0) r.tcp_flags = dv.getUint8(l4 + 13);
  } else if ((proto === 1 || proto === 58) && l4 + 2 <= end && s.icmpTypeCode < 0) {
    s.icmpTypeCode = (dv.getUint8(l4) << 8) | dv.getUint8(l4 + 1);
  }
}
