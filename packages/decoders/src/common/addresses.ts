/** Address formatting shared by every decoder; hot path, so no allocation beyond the string. */

export function ipv4ToString(buf: Uint8Array, offset: number): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

export function ipv4FromUint32(n: number): string {
  return `${(n >>> 24) & 0xff}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/** RFC 5952 text form: lower case, leading zeros dropped, the longest run (>= 2) of zero groups as '::'.
 *  IPv4-mapped addresses (::ffff:a.b.c.d) keep the dotted tail. */
export function ipv6ToString(buf: Uint8Array, offset: number): string {
  const groups = new Array<number>(8);
  for (let i = 0; i < 8; i++) groups[i] = ((buf[offset + 2 * i] as number) << 8) | (buf[offset + 2 * i + 1] as number);
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${ipv4ToString(buf, offset + 12)}`;
  }
  let bestStart = -1;
  let bestLen = 0;
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
  if (bestLen < 2) return groups.map((g) => g.toString(16)).join(':');
  const head = groups
    .slice(0, bestStart)
    .map((g) => g.toString(16))
    .join(':');
  const tail = groups
    .slice(bestStart + bestLen)
    .map((g) => g.toString(16))
    .join(':');
  return `${head}::${tail}`;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function macToString(buf: Uint8Array, offset: number): string {
  return `${HEX[buf[offset] as number]}:${HEX[buf[offset + 1] as number]}:${HEX[buf[offset + 2] as number]}:${HEX[buf[offset + 3] as number]}:${HEX[buf[offset + 4] as number]}:${HEX[buf[offset + 5] as number]}`;
}
