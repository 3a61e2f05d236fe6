/**
 * Longest-prefix match over IPv4 and IPv6 prefixes, looked up by the address strings a
 * `FlowRecord` carries (dotted quad; RFC 5952 compressed IPv6, any valid RFC 4291 s2.2 form).
 *
 * IPv4: prefixes up to /16 are expanded into a 65,536-slot table indexed by the top 16 bits;
 * longer prefixes live in one Map per length, and a 16-bit mask per /16 says which of the lengths
 * /17../32 have a prefix under it, so a miss costs one array read and a hit one Map look-up per
 * length actually present in that /16. IPv6: a trie on 32-bit words, each node holding one Map per
 * length within its word, checked deepest node and longest length first.
 *
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`, RFC 4291 s2.5.5.2) is IPv4: such addresses are looked up in
 * the IPv4 table, and prefixes inside `::ffff:0:0/96` are stored as IPv4 prefixes. IPv6 prefixes
 * shorter than /96 (such as `::/0`) therefore never match a mapped address.
 *
 * Look-ups never throw and do not allocate; a malformed address returns undefined. Values must not
 * be `undefined` themselves.
 */
export class PrefixTable<T> {
  /** Values of IPv4 prefixes /0../16, indexed by `#short`. */
  readonly #values: T[] = [];
  /** (length << 16 | top 16 bits of the network) -> index in `#values`. */
  readonly #shortIndex = new Map<number, number>();
  /** Per /16: 1 + index in `#values` of its longest covering prefix up to /16; 0 when none. */
  readonly #short = new Int32Array(65_536);
  /** Per /16: the length of that prefix; -1 when none. */
  readonly #shortLength = new Int8Array(65_536).fill(-1);
  /** Per length 17..32: network >>> (32 - length) -> value. */
  readonly #long: Array<Map<number, T> | undefined> = new Array(33).fill(undefined);
  /** Per /16: bit (length - 17) set when a prefix of that length lies under it. */
  readonly #longMask = new Uint16Array(65_536);
  readonly #root6: WordNode<T> = newWordNode();
  #size = 0;

  /** Number of distinct prefixes stored. */
  get size(): number {
    return this.#size;
  }

  /**
   * Stores `value` for `cidr` (`10.1.0.0/16`, `2001:db8::/32`; a bare address is a host prefix).
   * Host bits are cleared; adding a prefix already present replaces its value. A malformed prefix
   * is a configuration bug the config schema should have refused, so it throws.
   */
  add(cidr: string, value: T): void {
    const prefix = parsePrefix(cidr);
    if (prefix === undefined) throw new RangeError(`not an IPv4 or IPv6 prefix: ${JSON.stringify(cidr)}`);
    if (prefix.version === 4) this.#add4(prefix.words[0]!, prefix.length, value);
    else this.#add6(prefix.words, prefix.length, value);
  }

  /** The value of the longest prefix containing `address`, or undefined (also when malformed). */
  lookup(address: string): T | undefined {
    const ip = parseIPv4(address, 0, address.length);
    if (ip >= 0) return this.#lookup4(ip);
    if (!parseIPv6(address)) return undefined;
    const w0 = WORDS[0]!;
    const w1 = WORDS[1]!;
    const w2 = WORDS[2]!;
    const w3 = WORDS[3]!;
    if (w0 === 0 && w1 === 0 && w2 === 0xffff) return this.#lookup4(w3);
    return this.#lookup6(w0, w1, w2, w3);
  }

  /** `lookup` of an IPv4 address already parsed (parseIPv4): one parse for several tables. */
  lookupIPv4(ip: number): T | undefined {
    return this.#lookup4(ip);
  }

  #add4(ip: number, length: number, value: T): void {
    const network = length === 0 ? 0 : ((ip >>> (32 - length)) << (32 - length)) >>> 0;
    const top = network >>> 16;
    if (length <= 16) {
      const key = length * 65_536 + top;
      const existing = this.#shortIndex.get(key);
      if (existing !== undefined) {
        this.#values[existing] = value;
        return;
      }
      const index = this.#values.push(value) - 1;
      this.#shortIndex.set(key, index);
      this.#size++;
      // Expand over the /16s it covers, unless a longer (more specific) prefix already holds one.
      const end = top + (1 << (16 - length));
      for (let i = top; i < end; i++) {
        if (this.#shortLength[i]! <= length) {
          this.#short[i] = index + 1;
          this.#shortLength[i] = length;
        }
      }
      return;
    }
    let map = this.#long[length];
    if (map === undefined) this.#long[length] = map = new Map();
    const key = network >>> (32 - length);
    if (!map.has(key)) this.#size++;
    map.set(key, value);
    this.#longMask[top]! |= 1 << (length - 17);
  }

  #lookup4(ip: number): T | undefined {
    const top = ip >>> 16;
    let mask = this.#longMask[top]!;
    while (mask !== 0) {
      const bit = 31 - Math.clz32(mask);
      const length = 17 + bit;
      const value = this.#long[length]!.get(ip >>> (32 - length));
      if (value !== undefined) return value;
      mask ^= 1 << bit;
    }
    const index = this.#short[top]!;
    return index === 0 ? undefined : this.#values[index - 1];
  }

  #add6(words: Uint32Array, length: number, value: T): void {
    if (length >= 96 && words[0] === 0 && words[1] === 0 && words[2] === 0xffff) {
      this.#add4(words[3]!, length - 96, value);
      return;
    }
    // A prefix of length 32d + r (r in 1..32; /0 is d = 0, r = 0) lives in the node at depth d.
    const depth = length === 0 ? 0 : (length - 1) >>> 5;
    const within = length - 32 * depth;
    let node = this.#root6;
    for (let d = 0; d < depth; d++) {
      node.children ??= new Map();
      let child = node.children.get(words[d]!);
      if (child === undefined) node.children.set(words[d]!, (child = newWordNode()));
      node = child;
    }
    let map = node.maps[within];
    if (map === undefined) {
      node.maps[within] = map = new Map();
      node.lengths.push(within);
      node.lengths.sort((a, b) => b - a);
    }
    const key = within === 0 ? 0 : words[depth]! >>> (32 - within);
    if (!map.has(key)) this.#size++;
    map.set(key, value);
  }

  #lookup6(w0: number, w1: number, w2: number, w3: number): T | undefined {
    const n0 = this.#root6;
    const n1 = n0.children?.get(w0);
    const n2 = n1?.children?.get(w1);
    const n3 = n2?.children?.get(w2);
    let value: T | undefined;
    if (n3 !== undefined && (value = matchWord(n3, w3)) !== undefined) return value;
    if (n2 !== undefined && (value = matchWord(n2, w2)) !== undefined) return value;
    if (n1 !== undefined && (value = matchWord(n1, w1)) !== undefined) return value;
    return matchWord(n0, w0);
  }
}

interface WordNode<T> {
  /** Lengths within this word (0..32) that have a Map, longest first. */
  lengths: number[];
  maps: Array<Map<number, T> | undefined>;
  /** Next word -> node, for prefixes longer than this node's word. */
  children: Map<number, WordNode<T>> | undefined;
}

function newWordNode<T>(): WordNode<T> {
  return { lengths: [], maps: new Array(33).fill(undefined), children: undefined };
}

function matchWord<T>(node: WordNode<T>, word: number): T | undefined {
  const lengths = node.lengths;
  for (let i = 0; i < lengths.length; i++) {
    const length = lengths[i]!;
    const value = node.maps[length]!.get(length === 0 ? 0 : word >>> (32 - length));
    if (value !== undefined) return value;
  }
  return undefined;
}

/** A parsed prefix: IPv4 (`words[0]` the address) or IPv6; IPv4-mapped IPv6 prefixes become IPv4. */
export interface ParsedPrefix {
  version: 4 | 6;
  /** Prefix length in bits, after mapping (`::ffff:10.0.0.0/104` is IPv4 /8). */
  length: number;
  /** The address as four 32-bit words, host bits not yet cleared. */
  words: Uint32Array;
}

/** Parses `address/length` (a bare address is a host prefix); undefined when malformed. */
export function parsePrefix(cidr: string): ParsedPrefix | undefined {
  const slash = cidr.indexOf('/');
  const end = slash < 0 ? cidr.length : slash;
  let length = -1;
  if (slash >= 0) {
    const digits = cidr.length - slash - 1;
    if (digits < 1 || digits > 3 || (digits > 1 && cidr.charCodeAt(slash + 1) === 48)) return undefined;
    length = 0;
    for (let i = slash + 1; i < cidr.length; i++) {
      const c = cidr.charCodeAt(i);
      if (c < 48 || c > 57) return undefined;
      length = length * 10 + (c - 48);
    }
  }
  const ip = parseIPv4(cidr, 0, end);
  if (ip >= 0) {
    if (length > 32) return undefined;
    return { version: 4, length: length < 0 ? 32 : length, words: Uint32Array.of(ip, 0, 0, 0) };
  }
  if (!parseIPv6(cidr.slice(0, end))) return undefined;
  if (length > 128) return undefined;
  if (length < 0) length = 128;
  const words = Uint32Array.from(WORDS);
  if (length >= 96 && words[0] === 0 && words[1] === 0 && words[2] === 0xffff) {
    return { version: 4, length: length - 96, words: Uint32Array.of(words[3]!, 0, 0, 0) };
  }
  return { version: 6, length, words };
}

/**
 * `s[start, end)` as a dotted-quad IPv4 address, as an unsigned 32-bit number; -1 when malformed.
 * Leading zeros are refused (`010` is octal to some parsers), as flow-schema's pattern does.
 */
export function parseIPv4(s: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else if (c === 46 && digits !== 0 && dots < 3) {
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

/** Scratch for IPv6 parsing: single-threaded, so one set of buffers serves every table. */
const GROUPS = new Uint16Array(8);
const WORDS = new Uint32Array(4);

/**
 * Parses an IPv6 address (RFC 4291 s2.2: full, `::`-compressed, trailing dotted IPv4) into
 * `WORDS`; false when malformed. Zone identifiers (`%eth0`) are refused.
 */
function parseIPv6(s: string): boolean {
  const n = s.length;
  if (n < 2 || n > 45) return false;
  let i = 0;
  let count = 0;
  let gap = -1;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    if (count === 8) return false;
    const groupStart = i;
    let group = 0;
    let digits = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      let h: number;
      if (c >= 48 && c <= 57) h = c - 48;
      else if ((c | 32) >= 97 && (c | 32) <= 102) h = (c | 32) - 87;
      else break;
      group = group * 16 + h;
      digits++;
    }
    if (i < n && s.charCodeAt(i) === 46) {
      // RFC 4291 s2.2 (3): the last 32 bits as a dotted quad.
      if (count > 6) return false;
      const v4 = parseIPv4(s, groupStart, n);
      if (v4 < 0) return false;
      GROUPS[count++] = v4 >>> 16;
      GROUPS[count++] = v4 & 0xffff;
      break;
    }
    if (digits === 0 || digits > 4) return false;
    GROUPS[count++] = group;
    if (i === n) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < n && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = count;
      i++;
    } else if (i === n) {
      return false;
    }
  }
  if (gap < 0) {
    if (count !== 8) return false;
  } else {
    if (count > 7) return false;
    const zeros = 8 - count;
    for (let j = count - 1; j >= gap; j--) GROUPS[j + zeros] = GROUPS[j]!;
    for (let j = gap; j < gap + zeros; j++) GROUPS[j] = 0;
  }
  WORDS[0] = (GROUPS[0]! << 16) | GROUPS[1]!;
  WORDS[1] = (GROUPS[2]! << 16) | GROUPS[3]!;
  WORDS[2] = (GROUPS[4]! << 16) | GROUPS[5]!;
  WORDS[3] = (GROUPS[6]! << 16) | GROUPS[7]!;
  return true;
}
