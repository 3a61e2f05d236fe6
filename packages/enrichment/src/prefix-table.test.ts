import { describe, expect, it } from 'vitest';
import { PrefixTable, parseIPv4, parsePrefix } from './prefix-table.js';

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function randomBits(random: () => number, bits: number): bigint {
  let value = 0n;
  for (let i = 0; i < bits; i += 16) value = (value << 16n) | BigInt(Math.floor(random() * 65_536));
  return value & ((1n << BigInt(bits)) - 1n);
}

function formatV4(value: bigint): string {
  const n = Number(value);
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function fullV6(value: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return groups.join(':');
}

/** RFC 5952 form, produced by the WHATWG URL parser rather than by the code under test. */
function compressedV6(value: bigint): string {
  return new URL(`http://[${fullV6(value)}]/`).hostname.slice(1, -1);
}

interface Reference {
  bits: 32 | 128;
  network: bigint;
  length: number;
  value: number;
}

/** Longest prefix by brute force; among equal prefixes the last added wins. */
function bruteForce(prefixes: Reference[], bits: 32 | 128, address: bigint): number | undefined {
  let best: Reference | undefined;
  for (const p of prefixes) {
    if (p.bits !== bits) continue;
    const shift = BigInt(bits - p.length);
    if (address >> shift !== p.network >> shift) continue;
    if (best === undefined || p.length >= best.length) best = p;
  }
  return best?.value;
}

describe('PrefixTable', () => {
  it('matches a brute-force reference on random IPv4 and IPv6 prefixes', () => {
    const random = rng(42);
    const table = new PrefixTable<number>();
    const reference: Reference[] = [];
    // Prefixes cluster around a few bases so that they nest and overlap, as real allocations do.
    const bases4 = Array.from({ length: 8 }, () => randomBits(random, 32));
    const bases6 = Array.from({ length: 8 }, () => randomBits(random, 128));
    const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
    const near = (base: bigint, bits: 32 | 128): bigint => {
      const keep = Math.floor(random() * bits);
      const low = (1n << BigInt(bits - keep)) - 1n;
      return (base & ~low & ((1n << BigInt(bits)) - 1n)) | (randomBits(random, bits) & low);
    };
    for (let i = 0; i < 3000; i++) {
      const v6 = random() < 0.4;
      const bits = v6 ? 128 : 32;
      const length = Math.floor(random() * (bits + 1));
      const address = near(pick(v6 ? bases6 : bases4), bits);
      // Host bits left set on purpose: add() must clear them.
      const text = v6 ? `${random() < 0.5 ? compressedV6(address) : fullV6(address)}/${length}` : `${formatV4(address)}/${length}`;
      const shift = BigInt(bits - length);
      table.add(text, i);
      reference.push({ bits, network: (address >> shift) << shift, length, value: i });
    }
    const distinct = new Set(reference.map((p) => `${p.bits}/${p.network}/${p.length}`));
    expect(table.size).toBe(distinct.size);
    let hits = 0;
    for (let i = 0; i < 4000; i++) {
      const v6 = random() < 0.5;
      const bits = v6 ? 128 : 32;
      const address = random() < 0.8 ? near(pick(v6 ? bases6 : bases4), bits) : randomBits(random, bits);
      const text = v6 ? compressedV6(address) : formatV4(address);
      const expected = bruteForce(reference, bits, address);
      if (expected !== undefined) hits++;
      expect(table.lookup(text), text).toBe(expected);
      if (v6) expect(table.lookup(fullV6(address).toUpperCase()), fullV6(address)).toBe(expected);
    }
    expect(hits).toBeGreaterThan(1000);
  });

  it('clears host bits and replaces a prefix added twice', () => {
    const table = new PrefixTable<string>();
    table.add('10.1.2.3/16', 'a');
    table.add('10.1.0.0/16', 'b');
    table.add('2001:db8::1/32', 'c');
    table.add('2001:db8:ffff::/32', 'd');
    expect(table.size).toBe(2);
    expect(table.lookup('10.1.200.1')).toBe('b');
    expect(table.lookup('2001:db8:1::1')).toBe('d');
  });

  it('handles /0, /32 and /128, and the default route only when nothing longer matches', () => {
    const table = new PrefixTable<string>();
    table.add('0.0.0.0/0', 'v4-default');
    table.add('::/0', 'v6-default');
    table.add('192.0.2.7/32', 'host4');
    table.add('192.0.2.0/24', 'net4');
    table.add('2001:db8::7/128', 'host6');
    table.add('2001:db8::/64', 'net6');
    table.add('255.255.255.255', 'broadcast');
    expect(table.lookup('192.0.2.7')).toBe('host4');
    expect(table.lookup('192.0.2.8')).toBe('net4');
    expect(table.lookup('8.8.8.8')).toBe('v4-default');
    expect(table.lookup('0.0.0.0')).toBe('v4-default');
    expect(table.lookup('255.255.255.255')).toBe('broadcast');
    expect(table.lookup('2001:db8::7')).toBe('host6');
    expect(table.lookup('2001:db8::8')).toBe('net6');
    expect(table.lookup('2001:db8:0:1::7')).toBe('v6-default');
    expect(table.lookup('::')).toBe('v6-default');
    expect(table.lookup('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')).toBe('v6-default');
  });

  it('a shorter prefix added after a longer one does not hide it', () => {
    const table = new PrefixTable<string>();
    table.add('10.1.0.0/16', 'sixteen');
    table.add('10.0.0.0/8', 'eight');
    table.add('10.1.2.0/24', 'twenty-four');
    expect(table.lookup('10.1.9.9')).toBe('sixteen');
    expect(table.lookup('10.2.0.1')).toBe('eight');
    expect(table.lookup('10.1.2.1')).toBe('twenty-four');
  });

  it('looks IPv4-mapped IPv6 addresses up as IPv4, and stores mapped prefixes as IPv4', () => {
    const table = new PrefixTable<string>();
    table.add('192.0.2.0/24', 'v4');
    table.add('::ffff:198.51.100.0/120', 'mapped');
    table.add('::/0', 'v6-default');
    expect(table.lookup('::ffff:192.0.2.1')).toBe('v4');
    expect(table.lookup('::ffff:c000:201')).toBe('v4');
    expect(table.lookup('0:0:0:0:0:FFFF:192.0.2.1')).toBe('v4');
    expect(table.lookup('198.51.100.9')).toBe('mapped');
    expect(table.lookup('::ffff:203.0.113.1')).toBeUndefined();
    // IPv4-compatible (deprecated) addresses are plain IPv6.
    expect(table.lookup('::192.0.2.1')).toBe('v6-default');
    expect(parsePrefix('::ffff:10.0.0.0/104')).toMatchObject({ version: 4, length: 8 });
  });

  it('returns undefined for malformed addresses, never throws', () => {
    const table = new PrefixTable<string>();
    table.add('0.0.0.0/0', 'v4');
    table.add('::/0', 'v6');
    const malformed = [
      '',
      ' ',
      '1',
      '1.2.3',
      '1.2.3.4.5',
      '1.2.3.256',
      '1.2.3.04',
      '1..2.3',
      '.1.2.3',
      '1.2.3.',
      '1.2.3.4 ',
      '-1.2.3.4',
      ':',
      ':::',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7::8',
      '12345::',
      ':1::',
      '1::2:',
      'g::',
      'fe80::1%eth0',
      '::ffff:1.2.3',
      '::ffff:1.2.3.4:5',
      '1:2:3:4:5:6:7:1.2.3.4',
      'x'.repeat(1000),
    ];
    for (const address of malformed) expect(table.lookup(address), JSON.stringify(address)).toBeUndefined();
    expect(table.lookup('1:2:3:4:5:6:1.2.3.4')).toBe('v6');
    expect(table.lookup('1::')).toBe('v6');
    expect(table.lookup('::1')).toBe('v6');
  });

  it('refuses malformed prefixes when adding', () => {
    const table = new PrefixTable<string>();
    for (const cidr of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/08', '::/129', 'nope/8', '10.0.0.0/8/8']) {
      expect(() => table.add(cidr, 'x'), cidr).toThrow(RangeError);
    }
    expect(table.size).toBe(0);
  });

  it('parses dotted quads without leading zeros', () => {
    expect(parseIPv4('255.255.255.255', 0, 15)).toBe(4_294_967_295);
    expect(parseIPv4('x10.0.0.1', 1, 9)).toBe(0x0a000001);
    expect(parseIPv4('10.0.0.01', 0, 9)).toBe(-1);
  });
});
