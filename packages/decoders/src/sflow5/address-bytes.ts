/** Text addresses to bytes, for the encoders (not the hot decode path). Throw RangeError on bad text. */

export function ipv4ToBytes(addr: string, out: Uint8Array, off: number): void {
  const parts = addr.split('.');
  if (parts.length !== 4) throw new RangeError(`not an IPv4 address: '${addr}'`);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    const n = Number(p);
    if (p === '' || !Number.isInteger(n) || n < 0 || n > 255) throw new RangeError(`not an IPv4 address: '${addr}'`);
    out[off + i] = n;
  }
}

/** RFC 4291 s2.2 text forms, including '::' and a dotted IPv4 tail. */
export function ipv6ToBytes(addr: string, out: Uint8Array, off: number): void {
  const bad = () => new RangeError(`not an IPv6 address: '${addr}'`);
  let text = addr;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = new Uint8Array(4);
    ipv4ToBytes(text.slice(lastColon + 1), v4, 0);
    tail.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    const before = text.slice(0, lastColon + 1);
    text = before.endsWith('::') ? before : text.slice(0, lastColon);
  }
  const halves = text.split('::');
  if (halves.length > 2) throw bad();
  const parse = (s: string): number[] =>
    s === ''
      ? []
      : s.split(':').map((g) => {
          if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad();
          return Number.parseInt(g, 16);
        });
  const head = parse(halves[0] as string);
  const rest = halves.length === 2 ? parse(halves[1] as string) : [];
  const explicit = head.length + rest.length + tail.length;
  if (halves.length === 1 ? explicit !== 8 : explicit > 7) throw bad();
  const groups = [...head, ...new Array<number>(8 - explicit).fill(0), ...rest, ...tail];
  for (let i = 0; i < 8; i++) {
    out[off + 2 * i] = (groups[i] as number) >> 8;
    out[off + 2 * i + 1] = (groups[i] as number) & 0xff;
  }
}

export function isIpv6Text(addr: string): boolean {
  return addr.includes(':');
}

export function macToBytes(mac: string, out: Uint8Array, off: number): void {
  if (mac === '') return;
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new RangeError(`not a MAC address: '${mac}'`);
  for (let i = 0; i < 6; i++) out[off + i] = Number.parseInt(parts[i] as string, 16);
}
