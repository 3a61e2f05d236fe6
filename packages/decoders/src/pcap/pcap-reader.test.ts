import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parsePcap } from './pcap-reader.js';

const CORPUS = new URL('../../../../../shared/corpus/', import.meta.url);

/** A classic pcap file around the given link-layer frames. */
function pcap(frames: Uint8Array[], opts: { le?: boolean; nanos?: boolean; linkType?: number } = {}): Uint8Array {
  const le = opts.le ?? true;
  const total = 24 + frames.reduce((n, f) => n + 16 + f.length, 0);
  const buf = new Uint8Array(total);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, opts.nanos ? 0xa1b23c4d : 0xa1b2c3d4, le);
  dv.setUint16(4, 2, le);
  dv.setUint16(6, 4, le);
  dv.setUint32(16, 65535, le);
  dv.setUint32(20, opts.linkType ?? 1, le);
  let off = 24;
  frames.forEach((f, i) => {
    dv.setUint32(off, 1_700_000_000 + i, le);
    dv.setUint32(off + 4, 123, le);
    dv.setUint32(off + 8, f.length, le);
    dv.setUint32(off + 12, f.length, le);
    buf.set(f, off + 16);
    off += 16 + f.length;
  });
  return buf;
}

const payload = Uint8Array.from([1, 2, 3, 4, 5]);

function udp(src: number, dst: number, data: Uint8Array): number[] {
  const len = 8 + data.length;
  return [src >> 8, src & 0xff, dst >> 8, dst & 0xff, len >> 8, len & 0xff, 0, 0, ...data];
}

function ipv4(proto: number, l4: number[], frag = 0): number[] {
  const total = 20 + l4.length;
  return [0x45, 0, total >> 8, total & 0xff, 0, 1, frag >> 8, frag & 0xff, 64, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2, ...l4];
}

function ipv6(next: number, l4: number[]): number[] {
  const src = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1];
  const dst = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 2];
  return [0x60, 0, 0, 0, l4.length >> 8, l4.length & 0xff, next, 64, ...src, ...dst, ...l4];
}

const mac = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
const eth = (etype: number, body: number[], tags: number[] = []) => Uint8Array.from([...mac, ...tags, etype >> 8, etype & 0xff, ...body]);

describe('parsePcap', () => {
  const v4 = ipv4(17, udp(5000, 2055, payload));

  it('reads little- and big-endian, micro- and nanosecond files', () => {
    for (const le of [true, false]) {
      for (const nanos of [false, true]) {
        const [p] = parsePcap(pcap([eth(0x0800, v4)], { le, nanos }));
        expect(p).toEqual({
          timestampNs: 1_700_000_000e9 + (nanos ? 123 : 123_000),
          srcAddr: '192.0.2.1',
          dstAddr: '198.51.100.2',
          srcPort: 5000,
          dstPort: 2055,
          payload,
        });
      }
    }
  });

  it('walks 802.1Q and QinQ tags, Linux cooked captures and raw IP', () => {
    const q = [0x81, 0x00, 0, 10];
    const ad = [0x88, 0xa8, 0, 20];
    expect(parsePcap(pcap([eth(0x0800, v4, q), eth(0x0800, v4, [...ad, ...q])]))).toHaveLength(2);
    const sll = Uint8Array.from([0, 0, 0, 1, 0, 6, ...mac.slice(0, 6), 0, 0, 0x08, 0x00, ...v4]);
    expect(parsePcap(pcap([sll], { linkType: 113 }))[0]?.dstPort).toBe(2055);
    expect(parsePcap(pcap([Uint8Array.from(v4)], { linkType: 101 }))[0]?.srcAddr).toBe('192.0.2.1');
  });

  it('reads UDP over IPv6, past extension headers', () => {
    const hopByHop = [17, 0, 0, 0, 0, 0, 0, 0];
    const [p] = parsePcap(pcap([eth(0x86dd, ipv6(0, [...hopByHop, ...udp(1, 6343, payload)]))]));
    expect(p).toMatchObject({ srcAddr: '2001:db8::1', dstAddr: '2001:db8::2', srcPort: 1, dstPort: 6343, payload });
    expect(parsePcap(pcap([Uint8Array.from(ipv6(17, udp(1, 2, payload)))], { linkType: 229 }))).toHaveLength(1);
  });

  it('skips non-UDP packets, incomplete fragments and ARP', () => {
    const tcp = ipv4(6, new Array(20).fill(0));
    const moreFragments = ipv4(17, udp(1, 2, payload), 0x2000);
    const laterFragment = ipv4(17, udp(1, 2, payload), 0x0010);
    const v6frag = ipv6(44, [17, 0, 0, 1, 0, 0, 0, 1, ...udp(1, 2, payload)]);
    expect(
      parsePcap(pcap([eth(0x0800, tcp), eth(0x0800, moreFragments), eth(0x0800, laterFragment), eth(0x86dd, v6frag), eth(0x0806, [])])),
    ).toEqual([]);
  });

  it('reassembles IPv4 fragments in any order, interleaved with other traffic', () => {
    const big = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff);
    const l4 = udp(40000, 4739, big); // 3008 bytes: fragments of 1480, 1480 and 48
    const fragment = (id: number, offset: number, more: boolean) => {
      const body = l4.slice(offset, Math.min(l4.length, offset + 1480));
      const total = 20 + body.length;
      const flags = (more ? 0x2000 : 0) | (offset / 8);
      return eth(0x0800, [
        0x45,
        0,
        total >> 8,
        total & 0xff,
        id >> 8,
        id & 0xff,
        flags >> 8,
        flags & 0xff,
        64,
        17,
        0,
        0,
        192,
        0,
        2,
        1,
        198,
        51,
        100,
        2,
        ...body,
      ]);
    };
    const packets = parsePcap(
      pcap([fragment(7, 1480, true), eth(0x0800, v4), fragment(7, 2960, false), fragment(8, 0, true), fragment(7, 0, true)]),
    );
    expect(packets).toHaveLength(2);
    expect(packets[0]?.payload).toEqual(payload);
    expect(packets[1]).toMatchObject({ srcAddr: '192.0.2.1', srcPort: 40000, dstPort: 4739 });
    expect(Buffer.from(packets[1]?.payload ?? []).equals(Buffer.from(big))).toBe(true);
  });

  it('reassembles IPv6 fragments and drops datagrams with overlapping fragments', () => {
    const big = Uint8Array.from({ length: 2000 }, (_, i) => (i * 13) & 0xff);
    const l4 = udp(1, 6343, big);
    const fragment = (id: number, offset: number, length: number, more: boolean) => {
      const field = offset | (more ? 1 : 0);
      return eth(0x86dd, ipv6(44, [17, 0, field >> 8, field & 0xff, 0, 0, 0, id, ...l4.slice(offset, offset + length)]));
    };
    const [p] = parsePcap(pcap([fragment(1, 1232, 776, false), fragment(1, 0, 1232, true)]));
    expect(p).toMatchObject({ srcAddr: '2001:db8::1', srcPort: 1, dstPort: 6343 });
    expect(Buffer.from(p?.payload ?? []).equals(Buffer.from(big))).toBe(true);
    // Fragments overlapping by 8 bytes: the datagram is dropped, not guessed.
    expect(parsePcap(pcap([fragment(2, 0, 1232, true), fragment(2, 1224, 784, false)]))).toEqual([]);
  });

  it('reads the corpus captures', () => {
    const [p] = parsePcap(new Uint8Array(readFileSync(new URL('akvorado/sflow/data-qinq.pcap', CORPUS))));
    expect(p).toMatchObject({ srcAddr: '172.17.128.58', dstPort: 6343 });
    expect(() => parsePcap(new Uint8Array(10))).toThrow();
  });
});

describe('pcapng', () => {
  it('reads the same UDP payloads from a pcapng conversion of a pcap (tshark -F pcapng)', async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const src = new URL('akvorado/netflow/data+templates.pcap', CORPUS).pathname;
    const out = join(mkdtempSync(join(tmpdir(), 'fw-pcapng-')), 'x.pcapng');
    execFileSync('editcap', ['-F', 'pcapng', src, out]);
    const a = parsePcap(new Uint8Array(readFileSync(src)));
    const b = parsePcap(new Uint8Array(readFileSync(out)));
    expect(b.length).toBeGreaterThan(0);
    expect(b.map((p) => [p.srcAddr, p.srcPort, p.dstPort, Buffer.from(p.payload).toString('hex'), p.timestampNs])).toEqual(
      a.map((p) => [p.srcAddr, p.srcPort, p.dstPort, Buffer.from(p.payload).toString('hex'), p.timestampNs]),
    );
  });
});
