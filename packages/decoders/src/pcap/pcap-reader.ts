/**
 * Reader for libpcap and pcapng captures: the UDP payloads they carry, for `flowwatch decode` and
 * the conformance tests. Takes bytes (the caller reads the file), so the package stays free of I/O;
 * decoders never import it.
 *
 * Handles both byte orders, microsecond (0xa1b2c3d4) and nanosecond (0xa1b23c4d) magics, link types
 * Ethernet (1, with any number of 802.1Q / 802.1ad / QinQ tags), Linux cooked SLL (113) and SLL2 (276),
 * raw IP (101, 12, 14 as IPv4, 228 IPv4, 229 IPv6) and BSD loopback (0, 108). IPv4 and IPv6 (extension
 * headers skipped); non-UDP packets are skipped. Fragmented datagrams (IPv4, and IPv6 fragment
 * headers) are reassembled: exporters send datagrams larger than the path MTU (templates, jumbo
 * sFlow), so a capture of them holds fragments (see Reassembly for the bounds).
 */
import { OldestFirst } from '@flowwatch/insertion-order';
import { ipv4ToString, ipv6ToString } from '../common/addresses.js';

export interface PcapUdpPacket {
  /** Capture time, ns since the epoch. */
  timestampNs: number;
  srcAddr: string;
  dstAddr: string;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const VLAN_TAGS = new Set([0x8100, 0x88a8, 0x9100, 0x9200]);

export function parsePcap(buf: Uint8Array): PcapUdpPacket[] {
  if (buf.length < 24) throw new Error(`pcap: ${buf.length} bytes is shorter than the global header`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint32(0, false) === 0x0a0d0d0a) return parsePcapng(buf, dv);
  const magicBE = dv.getUint32(0, false);
  let le: boolean;
  let nanos: boolean;
  if (magicBE === 0xa1b2c3d4 || magicBE === 0xa1b23c4d) {
    le = false;
    nanos = magicBE === 0xa1b23c4d;
  } else {
    const magicLE = dv.getUint32(0, true);
    if (magicLE !== 0xa1b2c3d4 && magicLE !== 0xa1b23c4d) throw new Error(`pcap: bad magic 0x${magicBE.toString(16)}`);
    le = true;
    nanos = magicLE === 0xa1b23c4d;
  }
  const linkType = dv.getUint32(20, le) & 0x0fffffff; // upper bits may carry FCS info
  const out: PcapUdpPacket[] = [];
  const reassembly = new Reassembly();
  let off = 24;
  while (off + 16 <= buf.length) {
    const sec = dv.getUint32(off, le);
    const frac = dv.getUint32(off + 4, le);
    const inclLen = dv.getUint32(off + 8, le);
    off += 16;
    if (off + inclLen > buf.length) break; // truncated capture: stop at the last whole packet
    const pkt = buf.subarray(off, off + inclLen);
    off += inclLen;
    const timestampNs = sec * 1e9 + (nanos ? frac : frac * 1000);
    const l3 = linkLayer(pkt, linkType);
    if (l3 === undefined) continue;
    const udp = ipToUdp(pkt, l3.offset, l3.etype, reassembly, timestampNs);
    if (udp !== undefined) out.push({ timestampNs, ...udp });
  }
  return out;
}

/**
 * pcapng (the default of tshark and dumpcap): Section Header Blocks set the byte order, Interface
 * Description Blocks the link type and timestamp resolution of each interface, and Enhanced (6) or
 * Simple (3) Packet Blocks carry the packets. Other blocks are skipped by their length.
 */
function parsePcapng(buf: Uint8Array, dv: DataView): PcapUdpPacket[] {
  const out: PcapUdpPacket[] = [];
  const reassembly = new Reassembly();
  let le = true;
  let interfaces: { linkType: number; tsDivisor: number }[] = [];
  let off = 0;
  while (off + 12 <= buf.length) {
    const type = dv.getUint32(off, le);
    if (type === 0x0a0d0d0a) {
      // The byte-order magic decides how this section's fields (its length included) are read.
      le = dv.getUint32(off + 8, true) === 0x1a2b3c4d;
      interfaces = [];
    }
    const len = dv.getUint32(off + 4, le);
    if (len < 12 || len % 4 !== 0 || off + len > buf.length) break; // damaged or truncated: stop
    const body = off + 8;
    if (type === 1 && len >= 20) {
      let tsDivisor = 1000; // default resolution 10^-6 s: ns = value * 1000
      // Options start after linktype(2), reserved(2), snaplen(4); if_tsresol is option 9.
      for (let o = body + 8; o + 4 <= off + len - 4; ) {
        const code = dv.getUint16(o, le);
        const olen = dv.getUint16(o + 2, le);
        if (code === 0) break;
        if (code === 9 && olen >= 1) {
          const r = buf[o + 4] as number;
          const units = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** (r & 0x7f);
          tsDivisor = -units; // negative marks "divide by units" below
        }
        o += 4 + ((olen + 3) & ~3);
      }
      interfaces.push({ linkType: dv.getUint16(body, le), tsDivisor });
    } else if ((type === 6 && len >= 32) || (type === 3 && len >= 16)) {
      const iface = interfaces[type === 6 ? dv.getUint32(body, le) : 0];
      if (iface) {
        let timestampNs = 0;
        let dataOff: number;
        let capLen: number;
        if (type === 6) {
          const ts = dv.getUint32(body + 4, le) * 2 ** 32 + dv.getUint32(body + 8, le);
          timestampNs = iface.tsDivisor > 0 ? ts * iface.tsDivisor : (ts / -iface.tsDivisor) * 1e9;
          capLen = dv.getUint32(body + 12, le);
          dataOff = body + 20;
        } else {
          capLen = Math.min(dv.getUint32(body, le), len - 16);
          dataOff = body + 4;
        }
        if (dataOff + capLen <= off + len) {
          const pkt = buf.subarray(dataOff, dataOff + capLen);
          const l3 = linkLayer(pkt, iface.linkType);
          const udp = l3 && ipToUdp(pkt, l3.offset, l3.etype, reassembly, timestampNs);
          if (udp) out.push({ timestampNs, ...udp });
        }
      }
    }
    off += len;
  }
  return out;
}

function linkLayer(p: Uint8Array, linkType: number): { offset: number; etype: number } | undefined {
  switch (linkType) {
    case 1: {
      // Ethernet, then any stack of VLAN tags
      let off = 12;
      if (p.length < 14) return undefined;
      let etype = u16(p, off);
      off += 2;
      while (VLAN_TAGS.has(etype)) {
        if (p.length < off + 4) return undefined;
        etype = u16(p, off + 2);
        off += 4;
      }
      return { offset: off, etype };
    }
    case 113: // Linux cooked SLL: protocol at 14, header 16 bytes
      return p.length < 16 ? undefined : { offset: 16, etype: u16(p, 14) };
    case 276: // SLL2: protocol at 0, header 20 bytes
      return p.length < 20 ? undefined : { offset: 20, etype: u16(p, 0) };
    case 0:
    case 108: // BSD loopback: 4-byte address family in host order; sniff the IP version instead
      return p.length < 5 ? undefined : { offset: 4, etype: versionEtype(p[4] as number) };
    case 12:
    case 14:
    case 101: // raw IP: version nibble decides
      return p.length < 1 ? undefined : { offset: 0, etype: versionEtype(p[0] as number) };
    case 228:
      return { offset: 0, etype: ETHERTYPE_IPV4 };
    case 229:
      return { offset: 0, etype: ETHERTYPE_IPV6 };
    default:
      return undefined;
  }
}

function versionEtype(b: number): number {
  return b >> 4 === 4 ? ETHERTYPE_IPV4 : b >> 4 === 6 ? ETHERTYPE_IPV6 : 0;
}

type UdpPacket = Omit<PcapUdpPacket, 'timestampNs'>;

function ipToUdp(p: Uint8Array, off: number, etype: number, reassembly: Reassembly, timestampNs: number): UdpPacket | undefined {
  let proto: number;
  let l4: number;
  let end: number;
  let srcAddr: string;
  let dstAddr: string;
  if (etype === ETHERTYPE_IPV4) {
    if (p.length < off + 20 || (p[off] as number) >> 4 !== 4) return undefined;
    const ihl = ((p[off] as number) & 0x0f) * 4;
    const total = u16(p, off + 2);
    const frag = u16(p, off + 6);
    proto = p[off + 9] as number;
    srcAddr = ipv4ToString(p, off + 12);
    dstAddr = ipv4ToString(p, off + 16);
    l4 = off + ihl;
    end = Math.min(p.length, off + total);
    if (ihl < 20 || end < l4) return undefined;
    // RFC 791: more-fragments flag 0x2000, offset in 8-byte units in the low 13 bits.
    if ((frag & 0x2000) !== 0 || (frag & 0x1fff) !== 0) {
      if (proto !== 17) return undefined;
      const key = `4 ${srcAddr} ${dstAddr} ${u16(p, off + 4)}`;
      const whole = reassembly.add(key, (frag & 0x1fff) * 8, (frag & 0x2000) !== 0, p.subarray(l4, end), timestampNs);
      return whole && udpOf(whole, 0, whole.length, srcAddr, dstAddr);
    }
  } else if (etype === ETHERTYPE_IPV6) {
    if (p.length < off + 40) return undefined;
    const payloadLen = u16(p, off + 4);
    proto = p[off + 6] as number;
    srcAddr = ipv6ToString(p, off + 8);
    dstAddr = ipv6ToString(p, off + 24);
    l4 = off + 40;
    end = Math.min(p.length, l4 + payloadLen);
    // RFC 8200 s4: hop-by-hop 0, routing 43, destination options 60 are (8 + 8*len) bytes.
    for (let guard = 0; guard < 16 && (proto === 0 || proto === 43 || proto === 60); guard++) {
      if (end < l4 + 8) return undefined;
      proto = p[l4] as number;
      l4 += 8 + 8 * (p[l4 + 1] as number);
    }
    if (proto === 44) {
      // RFC 8200 s4.5: next header, reserved, offset (13 bits, 8-byte units) + M flag, identification.
      if (end < l4 + 8 || (p[l4] as number) !== 17) return undefined;
      const field = u16(p, l4 + 2);
      const id = ((u16(p, l4 + 4) << 16) | u16(p, l4 + 6)) >>> 0;
      const key = `6 ${srcAddr} ${dstAddr} ${id}`;
      const whole = reassembly.add(key, field & 0xfff8, (field & 1) !== 0, p.subarray(l4 + 8, end), timestampNs);
      return whole && udpOf(whole, 0, whole.length, srcAddr, dstAddr);
    }
  } else {
    return undefined;
  }
  if (proto !== 17) return undefined;
  return udpOf(p, l4, end, srcAddr, dstAddr);
}

function udpOf(p: Uint8Array, l4: number, end: number, srcAddr: string, dstAddr: string): UdpPacket | undefined {
  if (end < l4 + 8) return undefined;
  const udpLen = u16(p, l4 + 4);
  const payloadEnd = udpLen >= 8 ? Math.min(end, l4 + udpLen) : end;
  return { srcAddr, dstAddr, srcPort: u16(p, l4), dstPort: u16(p, l4 + 2), payload: p.slice(l4 + 8, payloadEnd) };
}

/**
 * IP fragment reassembly for captures, bounded: at most MAX_PENDING datagrams in progress (the
 * oldest is dropped beyond that), each at most 65,535 bytes, and a datagram whose fragments span
 * more than TIMEOUT_NS of capture time is dropped (RFC 791 suggests a 15 s timer; exporters send
 * the fragments of a datagram back to back). Overlapping fragments drop the whole datagram, as
 * RFC 5722 requires for IPv6 and as is safest for IPv4 (overlaps are an evasion technique).
 */
export class Reassembly {
  static readonly MAX_PENDING = 1024;
  static readonly TIMEOUT_NS = 30e9;
  private readonly pending = new Map<string, { startNs: number; parts: { offset: number; data: Uint8Array }[]; total?: number }>();
  private readonly oldestPending = new OldestFirst(this.pending);

  /** Adds one fragment's payload; returns the reassembled payload when the datagram is complete. */
  add(key: string, offset: number, more: boolean, data: Uint8Array, timestampNs: number): Uint8Array | undefined {
    this.expire(timestampNs);
    let d = this.pending.get(key);
    if (d === undefined) {
      if (this.pending.size >= Reassembly.MAX_PENDING) this.oldestPending.shift();
      d = { startNs: timestampNs, parts: [] };
      this.pending.set(key, d);
    }
    const last = offset + data.length;
    if (last > 65_535 || (more && data.length % 8 !== 0)) {
      this.pending.delete(key);
      return undefined;
    }
    if (!more) d.total = last;
    d.parts.push({ offset, data });
    if (d.total === undefined) return undefined;
    d.parts.sort((a, b) => a.offset - b.offset);
    let covered = 0;
    for (const part of d.parts) {
      if (part.offset > covered) return undefined; // a gap: wait for the missing fragment
      if (part.offset < covered || part.offset + part.data.length > d.total) {
        this.pending.delete(key); // overlap or beyond the end
        return undefined;
      }
      covered = part.offset + part.data.length;
    }
    if (covered !== d.total) return undefined;
    this.pending.delete(key);
    const whole = new Uint8Array(d.total);
    for (const part of d.parts) whole.set(part.data, part.offset);
    return whole;
  }

  private expire(nowNs: number): void {
    for (const [key, d] of this.pending) {
      if (nowNs - d.startNs <= Reassembly.TIMEOUT_NS) break; // insertion order: the oldest first
      this.pending.delete(key);
    }
  }
}

function u16(p: Uint8Array, off: number): number {
  return ((p[off] as number) << 8) | (p[off + 1] as number);
}
