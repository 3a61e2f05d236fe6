/**
 * Address arithmetic for the generated network. Addresses are produced in the text form the
 * decoders print (IPv4 dotted quad, IPv6 compressed per RFC 5952), so a flow the simulator sends
 * and the record the collector decodes compare equal field by field.
 */

export function ipv4ToString(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function ipv4ToNumber(text: string): number {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new RangeError(`not an IPv4 address: ${text}`);
  return (((parts[0] as number) << 24) | ((parts[1] as number) << 16) | ((parts[2] as number) << 8) | (parts[3] as number)) >>> 0;
}

/** An IPv4 prefix as a base address (number) and length. */
export interface Ipv4Prefix {
  base: number;
  length: number;
}

export function parseIpv4Prefix(cidr: string): Ipv4Prefix {
  const [addr, len] = cidr.split('/');
  const length = Number(len);
  if (addr === undefined || !Number.isInteger(length) || length < 0 || length > 32) throw new RangeError(`not an IPv4 prefix: ${cidr}`);
  const mask = length === 0 ? 0 : (0xffff_ffff << (32 - length)) >>> 0;
  return { base: (ipv4ToNumber(addr) & mask) >>> 0, length };
}

export function ipv4PrefixToString(p: Ipv4Prefix): string {
  return `${ipv4ToString(p.base)}/${p.length}`;
}

export function ipv4PrefixSize(p: Ipv4Prefix): number {
  return 2 ** (32 - p.length);
}

/** RFC 5952 text of eight 16-bit groups: lower case, no leading zeros, the longest run of 2+ zero groups as `::`. */
export function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => (g & 0xffff).toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** The first four groups of an IPv6 /64 or shorter prefix (the rest is the interface id). */
export type Ipv6Prefix = readonly [number, number, number, number];

export function ipv6Address(prefix: Ipv6Prefix, g4: number, g5: number, g6: number, g7: number): string {
  return formatIpv6([prefix[0], prefix[1], prefix[2], prefix[3], g4 & 0xffff, g5 & 0xffff, g6 & 0xffff, g7 & 0xffff]);
}

export function ipv6PrefixText(prefix: Ipv6Prefix, length: number): string {
  return `${formatIpv6([prefix[0], prefix[1], prefix[2], prefix[3], 0, 0, 0, 0])}/${length}`;
}
