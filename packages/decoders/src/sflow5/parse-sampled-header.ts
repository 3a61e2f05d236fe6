import type { FlowRecord } from '@flowwatch/flow-schema';
import { ipv4ToString, ipv6ToString, macToString } from '../common/addresses.js';

/**
 * Fills a flow record from the first bytes of a sampled packet (sFlow raw packet header record).
 * Only the outermost IP packet is read: tunnels (VXLAN, GRE, IP-in-IP) keep the outer addresses and
 * ports, as a router accounting for its links sees them. Parsing stops quietly where the header was
 * cut short by the agent; nothing here throws.
 */

const ETYPE_IPV4 = 0x0800;
const ETYPE_IPV6 = 0x86dd;
/** 802.1Q, 802.1ad (QinQ S-tag) and the legacy pre-standard QinQ TPIDs. */
const TPID_8021Q = 0x8100;
const TPID_8021AD = 0x88a8;
const TPID_9100 = 0x9100;
/** At most this many VLAN tags are walked (QinQ uses 2; more is a malformed or hostile header). */
const MAX_VLAN_TAGS = 4;
/** At most this many IPv6 extension headers are walked. */
const MAX_IPV6_EXT_HEADERS = 8;

/**
 * Ethernet II, then VLAN tags, then IPv4/IPv6. etype is the EtherType after the tags. vlan_id is the
 * VID (12 bits) of the innermost tag, as goflow2 (the last tag parsed wins) and Akvorado (QinQ
 * reports the inner C-tag) do; goflow2 also keeps the PCP/DEI bits, we do not.
 */
export function parseEthernetHeader(buf: Uint8Array, off: number, end: number, r: FlowRecord): void {
  if (end - off < 14) return;
  r.dst_mac = macToString(buf, off);
  r.src_mac = macToString(buf, off + 6);
  let etype = u16(buf, off + 12);
  off += 14;
  for (let i = 0; i < MAX_VLAN_TAGS && (etype === TPID_8021Q || etype === TPID_8021AD || etype === TPID_9100); i++) {
    if (end - off < 4) {
      r.etype = etype;
      return;
    }
    r.vlan_id = u16(buf, off) & 0x0fff;
    etype = u16(buf, off + 2);
    off += 4;
  }
  r.etype = etype;
  if (etype === ETYPE_IPV4) parseIpv4Header(buf, off, end, r);
  else if (etype === ETYPE_IPV6) parseIpv6Header(buf, off, end, r);
}

/** RFC 791: options skipped by IHL; ports and flags only in the first fragment (offset 0). */
export function parseIpv4Header(buf: Uint8Array, off: number, end: number, r: FlowRecord): void {
  if (end - off < 20 || (buf[off] as number) >> 4 !== 4) return;
  const ihl = ((buf[off] as number) & 0x0f) * 4;
  r.etype = ETYPE_IPV4;
  r.ip_tos = buf[off + 1] as number;
  r.ip_ttl = buf[off + 8] as number;
  const proto = buf[off + 9] as number;
  r.proto = proto;
  r.src_addr = ipv4ToString(buf, off + 12);
  r.dst_addr = ipv4ToString(buf, off + 16);
  if (ihl < 20 || (u16(buf, off + 6) & 0x1fff) !== 0) return; // bad IHL, or not the first fragment
  parseTransport(buf, off + ihl, end, proto, r);
}

/**
 * RFC 8200: hop-by-hop (0), routing (43), destination options (60) are 8 + 8*len bytes; AH (51)
 * 4*(len+2); fragment (44) 8 bytes, and a non-first fragment carries no transport header. proto is
 * the upper-layer protocol after the extension headers.
 */
export function parseIpv6Header(buf: Uint8Array, off: number, end: number, r: FlowRecord): void {
  if (end - off < 40 || (buf[off] as number) >> 4 !== 6) return;
  const w = u32(buf, off);
  r.etype = ETYPE_IPV6;
  r.ip_tos = (w >>> 20) & 0xff;
  r.ipv6_flow_label = w & 0xfffff;
  r.ip_ttl = buf[off + 7] as number;
  r.src_addr = ipv6ToString(buf, off + 8);
  r.dst_addr = ipv6ToString(buf, off + 24);
  let next = buf[off + 6] as number;
  off += 40;
  for (let i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
    if (next === 0 || next === 43 || next === 60) {
      if (end - off < 8) break;
      next = buf[off] as number;
      off += 8 + 8 * (buf[off + 1] as number);
    } else if (next === 51) {
      if (end - off < 8) break;
      next = buf[off] as number;
      off += 4 * ((buf[off + 1] as number) + 2);
    } else if (next === 44) {
      if (end - off < 8) break;
      const fragOffset = u16(buf, off + 2) >> 3;
      next = buf[off] as number;
      off += 8;
      if (fragOffset !== 0) {
        r.proto = next;
        return;
      }
    } else {
      break;
    }
  }
  r.proto = next;
  parseTransport(buf, off, end, next, r);
}

function parseTransport(buf: Uint8Array, off: number, end: number, proto: number, r: FlowRecord): void {
  const avail = end - off;
  if (proto === 6 || proto === 17 || proto === 132) {
    // TCP, UDP, SCTP: ports first; TCP flags at byte 13 (the low 8 flag bits, like goflow2)
    if (avail < 4) return;
    r.src_port = u16(buf, off);
    r.dst_port = u16(buf, off + 2);
    if (proto === 6 && avail >= 14) r.tcp_flags = buf[off + 13] as number;
  } else if (proto === 1 || proto === 58) {
    if (avail < 2) return;
    r.icmp_type = buf[off] as number;
    r.icmp_code = buf[off + 1] as number;
  }
}

function u16(buf: Uint8Array, off: number): number {
  return ((buf[off] as number) << 8) | (buf[off + 1] as number);
}

function u32(buf: Uint8Array, off: number): number {
  return (
    (((buf[off] as number) << 24) | ((buf[off + 1] as number) << 16) | ((buf[off + 2] as number) << 8) | (buf[off + 3] as number)) >>> 0
  );
}
