/**
 * ClickHouse's Native format, written column by column: the binary form ClickHouse itself uses
 * between servers and clients. Inserting it skips text parsing altogether, which in embedded
 * ClickHouse (chDB 26.7) was the bulk of an insert's time (docs/storage.md "Inserts").
 *
 * A block is: number of columns (VarUInt), number of rows (VarUInt), then for each column its
 * name and type (String: VarUInt length + bytes) and its values, one after another:
 * fixed-width little-endian integers, `DateTime64(3)` as Int64 milliseconds, `IPv6` as 16 bytes
 * in network order, `String` as VarUInt length + UTF-8 bytes. A column may be declared with a
 * type other than the table's (`String` for a `LowCardinality(String)` column): ClickHouse
 * converts it (`input_format_native_allow_types_conversion`, on by default).
 */

/** The column types this writer encodes. */
export type NativeType = 'UInt8' | 'UInt16' | 'UInt32' | 'UInt64' | "DateTime64(3, 'UTC')" | 'IPv6' | 'String';

const WIDTH: Record<NativeType, number> = {
  UInt8: 1,
  UInt16: 2,
  UInt32: 4,
  UInt64: 8,
  "DateTime64(3, 'UTC')": 8,
  IPv6: 16,
  String: 0,
};

const TWO_32 = 2 ** 32;
const TWO_64 = 2 ** 64;

/** A growable byte buffer with a DataView over it. */
class Bytes {
  buf: Uint8Array;
  view: DataView;
  length = 0;
  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(64, capacity));
    this.view = new DataView(this.buf.buffer);
  }
  /** Makes room for `n` more bytes and returns the offset to write them at. */
  reserve(n: number): number {
    const at = this.length;
    if (at + n > this.buf.length) {
      const next = new Uint8Array(Math.max(at + n, this.buf.length * 2));
      next.set(this.buf.subarray(0, at));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    this.length = at + n;
    return at;
  }
  varUInt(v: number): void {
    // reserve() may replace this.buf: call it before reading the field.
    while (v >= 0x80) {
      const at = this.reserve(1);
      this.buf[at] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    const at = this.reserve(1);
    this.buf[at] = v;
  }
  string(s: string): void {
    // Mostly short ASCII: the length byte and the bytes in one pass, falling back to the encoder
    // (and a rewrite) at the first other character.
    const n = s.length;
    if (n < 0x80) {
      const at = this.reserve(1 + n);
      const buf = this.buf;
      buf[at] = n;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        buf[at + 1 + i] = c;
      }
      if (i === n) return;
      this.length = at;
    }
    const bytes = encoder.encode(s);
    this.varUInt(bytes.length);
    const at = this.reserve(bytes.length);
    this.buf.set(bytes, at);
  }
}

const encoder = new TextEncoder();

/** One column of a block being built. Values are appended in row order. */
export class NativeColumn {
  readonly data: Bytes;
  private readonly width: number;
  rows = 0;
  constructor(
    readonly name: string,
    readonly type: NativeType,
    capacity = 1024,
  ) {
    this.width = WIDTH[type];
    this.data = new Bytes(this.width ? this.width * capacity : 16 * capacity);
  }

  /** UInt8/16/32, or UInt64 and DateTime64(3) from a non-negative integer up to 2^53. */
  number(v: number): void {
    const d = this.data;
    const at = d.reserve(this.width);
    switch (this.width) {
      case 1:
        d.buf[at] = v;
        break;
      case 2:
        d.view.setUint16(at, v, true);
        break;
      case 4:
        d.view.setUint32(at, v, true);
        break;
      case 8:
        // Counts and offsets mostly fit in 32 bits; beyond 2^64-1 (an estimate scaled by a huge
        // sampling rate) saturates.
        if (v < TWO_32) {
          d.view.setUint32(at, v, true);
          d.view.setUint32(at + 4, 0, true);
        } else if (v >= TWO_64) {
          d.view.setUint32(at, 0xffffffff, true);
          d.view.setUint32(at + 4, 0xffffffff, true);
        } else {
          d.view.setUint32(at, v % TWO_32, true);
          d.view.setUint32(at + 4, Math.floor(v / TWO_32), true);
        }
        break;
      default:
        throw new Error(`column ${this.name} (${this.type}) does not take numbers`);
    }
    this.rows++;
  }

  /** UInt64 from its decimal text (Kafka offsets), exact over the whole range. */
  decimal(text: string): void {
    const n = Number(text);
    if (Number.isSafeInteger(n) && n >= 0) {
      this.number(n);
      return;
    }
    const v = BigInt(text);
    if (v < 0n || v >= 1n << 64n) throw new RangeError(`${text} is out of the UInt64 range`);
    const at = this.data.reserve(8);
    this.data.view.setBigUint64(at, v, true);
    this.rows++;
  }

  text(s: string): void {
    if (this.type !== 'String') throw new Error(`column ${this.name} (${this.type}) does not take strings`);
    this.data.string(s);
    this.rows++;
  }

  /**
   * Rows written while this column held `fromByte` to `toByte` bytes, `rows` of them, as a column
   * of their own sharing these bytes (not copied): for inserting part of a block. The slice is
   * full, so a value appended to it first copies its bytes to a buffer of its own.
   */
  slice(fromByte: number, toByte: number, rows: number): NativeColumn {
    const c = new NativeColumn(this.name, this.type, 0);
    c.data.buf = this.data.buf.subarray(fromByte, toByte);
    c.data.length = toByte - fromByte;
    c.rows = rows;
    return c;
  }

  /** IPv6 from an IPv4 (stored IPv4-mapped, ::ffff:a.b.c.d) or IPv6 address; '' is ::. */
  address(a: string): void {
    if (!this.tryAddress(a)) throw new Error(`column ${this.name}: not an address: ${a}`);
  }

  /** Removes the last value of a fixed-width column (IPv6 included). */
  pop(): void {
    if (this.width === 0) throw new Error(`column ${this.name} (${this.type}): pop takes fixed-width values only`);
    if (this.rows === 0) throw new Error(`column ${this.name} is empty`);
    this.data.length -= this.width;
    this.rows--;
  }

  /** `address`, or false (and nothing appended) when `a` is not an address: checked and written in one parse. */
  tryAddress(a: string): boolean {
    if (this.type !== 'IPv6') throw new Error(`column ${this.name} (${this.type}) does not take addresses`);
    const at = this.data.reserve(16);
    const out = this.data.buf;
    out.fill(0, at, at + 16);
    if (a !== '' && !writeAddress(a, out, at)) {
      this.data.length = at;
      return false;
    }
    this.rows++;
    return true;
  }
}

const scratch = new Uint8Array(16);

/** Whether an IPv6 column can take `a` ('' included, stored as ::): see writeAddress. */
export function isAddress(a: string): boolean {
  return a === '' || writeAddress(a, scratch, 0);
}

/**
 * Writes the 16 bytes of `a` at `out[at..]` (zeroed by the caller); false when `a` is not an
 * IPv4 dotted quad or an RFC 4291 s2.2 IPv6 text form (with an embedded dotted quad allowed).
 */
export function writeAddress(a: string, out: Uint8Array, at: number): boolean {
  if (a.indexOf(':') < 0) {
    if (!writeIPv4(a, 0, a.length, out, at + 12)) return false;
    out[at + 10] = 0xff;
    out[at + 11] = 0xff;
    return true;
  }
  // Groups before and after '::' are collected separately, then placed.
  const head: number[] = [];
  const tail: number[] = [];
  let groups = head;
  let i = 0;
  const end = a.length;
  if (a.startsWith('::')) {
    groups = tail;
    i = 2;
    if (i === end) return true;
  } else if (a.charCodeAt(0) === 58) return false;
  while (i < end) {
    let j = i;
    let v = 0;
    while (j < end && j - i < 5) {
      const c = a.charCodeAt(j);
      const h = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (h < 0) break;
      v = v * 16 + h;
      j++;
    }
    if (j < end && a.charCodeAt(j) === 46) {
      // An embedded IPv4 address ends the text (RFC 4291 s2.2, form 3).
      const room = groups === head ? 8 - head.length : 8 - head.length - tail.length;
      if (room < 2) return false;
      const quad = new Uint8Array(4);
      if (!writeIPv4(a, i, end, quad, 0)) return false;
      groups.push(((quad[0] as number) << 8) | (quad[1] as number), ((quad[2] as number) << 8) | (quad[3] as number));
      i = end;
      break;
    }
    if (j === i || j - i > 4) return false;
    groups.push(v);
    i = j;
    if (i === end) break;
    if (a.charCodeAt(i) !== 58) return false;
    i++;
    if (i < end && a.charCodeAt(i) === 58) {
      if (groups === tail) return false;
      groups = tail;
      i++;
      if (i === end) break;
    } else if (i === end) return false;
  }
  const compressed = groups === tail;
  if (compressed ? head.length + tail.length > 7 : head.length !== 8) return false;
  for (let k = 0; k < head.length; k++) {
    out[at + 2 * k] = (head[k] as number) >> 8;
    out[at + 2 * k + 1] = (head[k] as number) & 0xff;
  }
  const start = 8 - tail.length;
  for (let k = 0; k < tail.length; k++) {
    out[at + 2 * (start + k)] = (tail[k] as number) >> 8;
    out[at + 2 * (start + k) + 1] = (tail[k] as number) & 0xff;
  }
  return true;
}

function writeIPv4(a: string, from: number, end: number, out: Uint8Array, at: number): boolean {
  let part = 0;
  let v = 0;
  let digits = 0;
  for (let i = from; i < end; i++) {
    const c = a.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part === 3) return false;
      out[at + part++] = v;
      v = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && v === 0) return false; // no leading zeros (they read as octal elsewhere)
      v = v * 10 + (c - 48);
      if (v > 255 || ++digits > 3) return false;
    } else return false;
  }
  if (digits === 0 || part !== 3) return false;
  out[at + 3] = v;
  return true;
}

/** A Native block of the given columns; every column must hold the same number of rows. */
export function encodeNativeBlock(columns: readonly NativeColumn[]): Uint8Array {
  const rows = columns[0]?.rows ?? 0;
  const head = new Bytes(64 + columns.length * 48);
  head.varUInt(columns.length);
  head.varUInt(rows);
  const chunks: Uint8Array[] = [];
  let total = 0;
  let headFrom = 0;
  for (const c of columns) {
    if (c.rows !== rows) throw new Error(`column ${c.name} has ${c.rows} rows, the block ${rows}`);
    head.string(c.name);
    head.string(c.type);
    const h = head.buf.subarray(headFrom, head.length);
    chunks.push(h.slice(), c.data.buf.subarray(0, c.data.length));
    total += h.length + c.data.length;
    headFrom = head.length;
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
