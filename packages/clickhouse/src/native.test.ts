import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { encodeNativeBlock, isAddress, NativeColumn, writeAddress } from './native.js';

const bytesOf = (a: string) => {
  const out = new Uint8Array(16);
  expect(writeAddress(a, out, 0)).toBe(true);
  return Buffer.from(out).toString('hex');
};

describe('writeAddress', () => {
  it('writes IPv4 as IPv4-mapped IPv6 and IPv6 in network order', () => {
    expect(bytesOf('10.1.2.3')).toBe('00000000000000000000ffff0a010203');
    expect(bytesOf('2001:db8::1')).toBe('20010db8000000000000000000000001');
    expect(bytesOf('::')).toBe('00000000000000000000000000000000');
    expect(bytesOf('::1')).toBe('00000000000000000000000000000001');
    expect(bytesOf('fe80::')).toBe('fe800000000000000000000000000000');
    expect(bytesOf('1:2:3:4:5:6:7:8')).toBe('00010002000300040005000600070008');
    expect(bytesOf('::ffff:192.0.2.1')).toBe('00000000000000000000ffffc0000201');
    expect(bytesOf('64:ff9b::198.51.100.7')).toBe('0064ff9b0000000000000000c6336407');
    expect(bytesOf('2001:DB8:0:0:0:0:0:ABCD')).toBe('20010db800000000000000000000abcd');
  });

  it('refuses what is not an address, as Node does (and zone ids, which an IPv6 column cannot hold)', () => {
    for (const a of [
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.2.3.4',
      '1..2.3',
      'x',
      ':1',
      '1:',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '12345::',
      'fe80::1%eth0',
      '::1.2.3',
      '1:2:3:4:5:6:7::8:9',
    ]) {
      expect(isAddress(a), a).toBe(false);
    }
    expect(isAddress('')).toBe(true);
  });

  it('accepts every address Node accepts, except zone ids', () => {
    const samples: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const g = Array.from({ length: 8 }, (_, k) => ((i * 2654435761 + k * 40503) >>> (k % 16)) & 0xffff);
      const full = g.map((x) => x.toString(16)).join(':');
      samples.push(full, full.replace(/(^|:)0(:0)+(:|$)/, '::'), `${(i * 7) & 255}.${i & 255}.${(i >> 3) & 255}.${(i * 13) & 255}`);
    }
    for (const a of samples) expect(isAddress(a), a).toBe(isIP(a) !== 0);
  });
});

describe('encodeNativeBlock', () => {
  it('writes the bytes ClickHouse writes for the same block', () => {
    // From chDB 26.7: SELECT toUInt16(7) AS a, 'xy' AS b,
    //   toDateTime64('2026-01-01 00:00:00.001', 3, 'UTC') AS t, toIPv6('10.0.0.1') AS ip FORMAT Native
    const a = new NativeColumn('a', 'UInt16');
    const b = new NativeColumn('b', 'String');
    const t = new NativeColumn('t', "DateTime64(3, 'UTC')");
    const ip = new NativeColumn('ip', 'IPv6');
    a.number(7);
    b.text('xy');
    t.number(Date.UTC(2026, 0, 1, 0, 0, 0, 1));
    ip.address('10.0.0.1');
    expect(Buffer.from(encodeNativeBlock([a, b, t, ip])).toString('hex')).toBe(
      // (its fifth column dropped: the count is 04 where ClickHouse wrote 05)
      '04' +
        '0101610655496e7431360700' +
        '016206537472696e67027879' +
        '0174144461746554696d65363428332c2027555443272901a8da769b010000' +
        '0269700449507636' +
        '00000000000000000000' +
        'ffff0a000001',
    );
  });

  it('encodes 64-bit values exactly, lengths as VarUInt, UTF-8 strings, and checks row counts', () => {
    const n = new NativeColumn('n', 'UInt64');
    const s = new NativeColumn('s', 'String');
    n.decimal('18446744073709551615');
    n.number(2 ** 53 - 1);
    n.decimal('9007199254740993');
    s.text('é'.repeat(100));
    s.text('');
    s.text('a\tb\n');
    const out = Buffer.from(encodeNativeBlock([n, s]));
    expect(out.subarray(0, 2)).toEqual(Buffer.from([2, 3]));
    const data = out.subarray(2 + 1 + 1 + 1 + 6);
    expect(data.readBigUInt64LE(0)).toBe(18446744073709551615n);
    expect(data.readBigUInt64LE(8)).toBe(2n ** 53n - 1n);
    expect(data.readBigUInt64LE(16)).toBe(9007199254740993n);
    const strings = data.subarray(24 + 1 + 1 + 1 + 6);
    expect(strings.subarray(0, 2)).toEqual(Buffer.from([200, 1])); // 200 bytes as VarUInt
    expect(strings.subarray(2, 202).toString()).toBe('é'.repeat(100));
    expect(strings.subarray(202)).toEqual(Buffer.from([0, 4, 0x61, 9, 0x62, 10]));
    expect(() => n.decimal('18446744073709551616')).toThrow(RangeError);
    n.number(2 ** 70);
    expect(Buffer.from(encodeNativeBlock([n])).readBigUInt64LE(2 + 1 + 1 + 1 + 6 + 24)).toBe(2n ** 64n - 1n);
    expect(() => encodeNativeBlock([n, s])).toThrow(/rows/);
  });

  it('grows its buffers: 5,000 strings of every length class in a column sized for one', () => {
    const s = new NativeColumn('s', 'String', 1);
    // Non-ASCII first, last (after the ASCII bytes were written) and nowhere.
    const want = Array.from({ length: 5000 }, (_, i) =>
      i % 7 === 0 ? 'ü'.repeat(i % 300) : i % 5 === 0 ? `${'x'.repeat(i % 300)}ü` : 'x'.repeat(i % 300),
    );
    for (const v of want) s.text(v);
    const out = Buffer.from(encodeNativeBlock([s]));
    let at = 1 + 2 + (1 + 1) + (1 + 6); // columns, rows (VarUInt 5000: 2 bytes), name 's', type 'String'
    const got: string[] = [];
    for (let k = 0; k < 5000; k++) {
      let len = 0;
      for (let shift = 1; ; shift *= 128) {
        const b = out[at++];
        if (b === undefined || shift > 2 ** 28) throw new Error(`no string length at ${at - 1}`);
        len += (b & 0x7f) * shift;
        if (b < 0x80) break;
      }
      got.push(out.subarray(at, at + len).toString());
      at += len;
    }
    expect(at).toBe(out.length);
    expect(got).toEqual(want);
  });
});
