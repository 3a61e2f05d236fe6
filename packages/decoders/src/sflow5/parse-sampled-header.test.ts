import { emptyFlow, type FlowRecord } from '@flowwatch/flow-schema';
import { describe, expect, it } from 'vitest';
import { parseEthernetHeader, parseIpv4Header, parseIpv6Header } from './parse-sampled-header.js';

const blank = (): FlowRecord => emptyFlow('SFLOW_5');

const tcp = (sport: number, dport: number, flags: number) => [
  sport >> 8,
  sport & 0xff,
  dport >> 8,
  dport & 0xff,
  0,
  0,
  0,
  1,
  0,
  0,
  0,
  0,
  0x50,
  flags,
  0,
  0,
  0,
  0,
  0,
  0,
];

function v4(proto: number, l4: number[], opts: { options?: number[]; frag?: number } = {}): Uint8Array {
  const o = opts.options ?? [];
  const ihl = 5 + o.length / 4;
  const total = ihl * 4 + l4.length;
  const f = opts.frag ?? 0;
  return Uint8Array.from([
    0x40 | ihl,
    0x2e,
    total >> 8,
    total & 0xff,
    0,
    7,
    f >> 8,
    f & 0xff,
    33,
    proto,
    0,
    0,
    10,
    0,
    0,
    1,
    10,
    0,
    0,
    2,
    ...o,
    ...l4,
  ]);
}

function v6(next: number, rest: number[]): Uint8Array {
  const addr = (last: number) => [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), last];
  return Uint8Array.from([0x6b, 0x81, 0x23, 0x45, 0, rest.length, next, 9, ...addr(1), ...addr(2), ...rest]);
}

describe('sampled header parsing', () => {
  it('IPv4 with options: ports and flags after the options', () => {
    const r = blank();
    const b = v4(6, tcp(1234, 80, 0x02), { options: [1, 1, 1, 0] });
    parseIpv4Header(b, 0, b.length, r);
    expect(r).toMatchObject({
      etype: 2048,
      src_addr: '10.0.0.1',
      dst_addr: '10.0.0.2',
      proto: 6,
      ip_tos: 0x2e,
      ip_ttl: 33,
      src_port: 1234,
      dst_port: 80,
      tcp_flags: 2,
    });
  });

  it('IPv4 fragments: ports only in the first one', () => {
    const first = blank();
    const b1 = v4(17, [0, 53, 0, 54, 0, 8, 0, 0], { frag: 0x2000 });
    parseIpv4Header(b1, 0, b1.length, first);
    expect([first.src_port, first.dst_port]).toEqual([53, 54]);
    const later = blank();
    const b2 = v4(17, [0, 53, 0, 54, 0, 8, 0, 0], { frag: 0x00b9 });
    parseIpv4Header(b2, 0, b2.length, later);
    expect([later.proto, later.src_port, later.dst_port]).toEqual([17, 0, 0]);
  });

  it('IPv6: traffic class, flow label, and extension headers skipped', () => {
    const hopByHop = [60, 0, 0, 0, 0, 0, 0, 0];
    const destOpts = [44, 1, ...new Array(14).fill(0)];
    const fragFirst = [6, 0, 0, 0x01, 0, 0, 0, 9];
    const r = blank();
    const b = v6(0, [...hopByHop, ...destOpts, ...fragFirst, ...tcp(22, 40000, 0x18)]);
    parseIpv6Header(b, 0, b.length, r);
    expect(r).toMatchObject({
      etype: 34525,
      ip_tos: 0xb8,
      ipv6_flow_label: 0x12345,
      ip_ttl: 9,
      src_addr: '2001:db8::1',
      proto: 6,
      src_port: 22,
      dst_port: 40000,
      tcp_flags: 0x18,
    });
    const later = blank();
    const b2 = v6(44, [17, 0, 0, 0x11, 0, 0, 0, 9, 0, 53, 0, 54]);
    parseIpv6Header(b2, 0, b2.length, later);
    expect([later.proto, later.src_port]).toEqual([17, 0]);
  });

  it('ICMPv6 type and code; a header cut short keeps what was read', () => {
    const r = blank();
    const b = v6(58, [135, 0, 0, 0]);
    parseIpv6Header(b, 0, b.length, r);
    expect([r.proto, r.icmp_type, r.icmp_code]).toEqual([58, 135, 0]);
    const cut = blank();
    const t = v4(6, tcp(1, 2, 0x10));
    parseIpv4Header(t, 0, 22, cut);
    expect([cut.src_addr, cut.src_port]).toEqual(['10.0.0.1', 0]);
  });

  it('Ethernet with 802.1Q and QinQ: inner VID (12 bits), EtherType after the tags', () => {
    const macs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const ip = [...v4(1, [8, 0, 0, 0])];
    const r = blank();
    const b = Uint8Array.from([...macs, 0x88, 0xa8, 0x20, 0x0a, 0x81, 0x00, 0xe0, 0x14, 0x08, 0x00, ...ip]);
    parseEthernetHeader(b, 0, b.length, r);
    expect(r).toMatchObject({
      dst_mac: '00:01:02:03:04:05',
      src_mac: '06:07:08:09:0a:0b',
      vlan_id: 20,
      etype: 2048,
      proto: 1,
      icmp_type: 8,
    });
    const arp = blank();
    const a = Uint8Array.from([...macs, 0x08, 0x06, 0, 1]);
    parseEthernetHeader(a, 0, a.length, arp);
    expect([arp.etype, arp.src_addr]).toEqual([0x0806, '']);
  });
});
