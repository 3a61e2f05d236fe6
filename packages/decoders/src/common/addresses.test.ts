import { describe, expect, it } from 'vitest';
import { ipv4FromUint32, ipv4ToString, ipv6ToString, macToString } from './addresses.js';

const v6 = (hex: string) => Uint8Array.from(Buffer.from(hex.replace(/:/g, ''), 'hex'));

describe('address formatting', () => {
  it('formats IPv4', () => {
    expect(ipv4ToString(Uint8Array.from([10, 0, 255, 1]), 0)).toBe('10.0.255.1');
    expect(ipv4FromUint32(0xc0a80001)).toBe('192.168.0.1');
  });

  it('formats IPv6 per RFC 5952', () => {
    expect(ipv6ToString(v6('2001:0db8:0000:0000:0000:0000:0000:0001'), 0)).toBe('2001:db8::1');
    expect(ipv6ToString(v6('0000:0000:0000:0000:0000:0000:0000:0000'), 0)).toBe('::');
    expect(ipv6ToString(v6('0000:0000:0000:0000:0000:0000:0000:0001'), 0)).toBe('::1');
    expect(ipv6ToString(v6('2001:0db8:0000:0001:0000:0000:0000:0001'), 0)).toBe('2001:db8:0:1::1');
    expect(ipv6ToString(v6('2001:0db8:0000:0000:0001:0000:0000:0001'), 0)).toBe('2001:db8::1:0:0:1');
    expect(ipv6ToString(v6('2001:0db8:0001:0001:0001:0001:0001:0001'), 0)).toBe('2001:db8:1:1:1:1:1:1');
    expect(ipv6ToString(v6('2001:0db8:0000:0001:0001:0001:0001:0001'), 0)).toBe('2001:db8:0:1:1:1:1:1');
    expect(ipv6ToString(v6('fe80:0000:0000:0000:0200:5eff:fe00:5301'), 0)).toBe('fe80::200:5eff:fe00:5301');
    expect(ipv6ToString(v6('0000:0000:0000:0000:0000:ffff:c000:0201'), 0)).toBe('::ffff:192.0.2.1');
  });

  it('formats MAC addresses', () => {
    expect(macToString(Uint8Array.from([0, 0x1b, 0x21, 0xaa, 0xbb, 0x0c]), 0)).toBe('00:1b:21:aa:bb:0c');
  });
});
