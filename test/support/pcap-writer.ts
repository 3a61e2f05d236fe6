/**
 * Writes classic libpcap files (Ethernet link type) for tests: synthetic traffic for exporters
 * such as softflowd to turn into flows, and captured export datagrams wrapped in
 * Ethernet/IPv4/UDP so tshark and `flowwatch decode` can read them.
 */

export interface PcapPacket {
  /** Capture time, ms since the epoch. */
  timeMs: number;
  frame: Uint8Array;
}

export function writePcap(packets: readonly PcapPacket[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262_144, 16);
  header.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  const parts: Buffer[] = [header];
  for (const p of packets) {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(Math.floor(p.timeMs / 1000), 0);
    rec.writeUInt32LE(Math.round((p.timeMs % 1000) * 1000), 4);
    rec.writeUInt32LE(p.frame.length, 8);
    rec.writeUInt32LE(p.frame.length, 12);
    parts.push(rec, Buffer.from(p.frame));
  }
  return Buffer.concat(parts);
}

function checksum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
  if (b.length % 2) s += (b[b.length - 1] as number) << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}

function ipv4Bytes(a: string): Buffer {
  return Buffer.from(a.split('.').map(Number));
}

const ETH = Buffer.from('0011223344556677889900aa0800', 'hex'); // dst, src MAC, EtherType IPv4

/** An Ethernet/IPv4 frame carrying TCP (with flags) or UDP, `payloadBytes` of zeros. */
export function ipv4Frame(p: {
  src: string;
  dst: string;
  proto: 6 | 17;
  srcPort: number;
  dstPort: number;
  payloadBytes: number;
  tcpFlags?: number;
  id?: number;
  payload?: Uint8Array;
}): Buffer {
  const payload = p.payload ? Buffer.from(p.payload) : Buffer.alloc(p.payloadBytes);
  let l4: Buffer;
  if (p.proto === 17) {
    l4 = Buffer.alloc(8);
    l4.writeUInt16BE(p.srcPort, 0);
    l4.writeUInt16BE(p.dstPort, 2);
    l4.writeUInt16BE(8 + payload.length, 4);
  } else {
    l4 = Buffer.alloc(20);
    l4.writeUInt16BE(p.srcPort, 0);
    l4.writeUInt16BE(p.dstPort, 2);
    l4.writeUInt32BE(1000, 4);
    l4[12] = 5 << 4;
    l4[13] = p.tcpFlags ?? 0x18;
    l4.writeUInt16BE(65535, 14);
  }
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length + payload.length, 2);
  ip.writeUInt16BE((p.id ?? 0) & 0xffff, 4);
  ip[8] = 64;
  ip[9] = p.proto;
  ipv4Bytes(p.src).copy(ip, 12);
  ipv4Bytes(p.dst).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  return Buffer.concat([ETH, ip, l4, payload]);
}

/** Wraps a captured UDP payload (an export datagram) as if seen on the wire. */
export function udpDatagramFrame(src: string, srcPort: number, dst: string, dstPort: number, payload: Uint8Array, id = 0): Buffer {
  return ipv4Frame({ src, dst, proto: 17, srcPort, dstPort, payloadBytes: 0, payload, id });
}
