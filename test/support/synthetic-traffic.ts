import { ipv4Frame, type PcapPacket, writePcap } from './pcap-writer.js';

export interface Conversation {
  src: string;
  dst: string;
  proto: 6 | 17;
  srcPort: number;
  dstPort: number;
  packets: number;
  /** IP-layer bytes of all its packets (what NetFlow and IPFIX count as octets). */
  bytes: number;
}

/**
 * A deterministic capture of `count` one-directional conversations (TCP and UDP, sizes and packet
 * counts spread out), with the ground truth an exporter must report for each. TCP conversations
 * end with FIN so exporters expire them.
 */
export function syntheticTraffic(count: number, startMs = Date.UTC(2026, 10, 21, 10)): { pcap: Buffer; conversations: Conversation[] } {
  const packets: PcapPacket[] = [];
  const conversations: Conversation[] = [];
  let t = startMs;
  let id = 1;
  for (let i = 0; i < count; i++) {
    const proto: 6 | 17 = i % 3 === 0 ? 17 : 6;
    const c: Conversation = {
      src: `10.${(i >> 8) & 255}.${i & 255}.${1 + (i % 200)}`,
      dst: `172.16.${i % 7}.${10 + (i % 50)}`,
      proto,
      srcPort: 20_000 + i,
      dstPort: [53, 443, 445, 3389, 22, 80, 123][i % 7] as number,
      packets: 1 + ((i * 7) % 23),
      bytes: 0,
    };
    for (let k = 0; k < c.packets; k++) {
      const last = k === c.packets - 1;
      const frame = ipv4Frame({
        src: c.src,
        dst: c.dst,
        proto,
        srcPort: c.srcPort,
        dstPort: c.dstPort,
        payloadBytes: (i * 37 + k * 11) % 1200,
        tcpFlags: proto === 6 ? (k === 0 ? 0x02 : last ? 0x11 : 0x18) : undefined,
        id: id++,
      });
      c.bytes += frame.length - 14;
      packets.push({ timeMs: t, frame });
      t += 3;
    }
    conversations.push(c);
  }
  return { pcap: writePcap(packets), conversations };
}
