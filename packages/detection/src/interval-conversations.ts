/**
 * The conversations of each open interval, with their bytes and packets so far: one
 * open-addressing hash table per slot of the event clock's ring, keyed by a non-zero 32-bit hash
 * of the conversation, cleared when the slot is reused for a new interval. A table starts small
 * and doubles up to `maxKeys`; once full, a further conversation of that interval is not kept: it
 * is reported as new on every record and its totals are the record's own (the caller then counts
 * records, as it would without this table), so memory stays bounded whatever the rate.
 *
 * After `add`, `bytes` and `packets` are the conversation's totals in the interval including this
 * record, and `tracked` says whether they are (false: the record's own, the table was full).
 */
export class IntervalConversations {
  readonly #keys: (Uint32Array | undefined)[];
  readonly #values: (Float32Array | undefined)[];
  readonly #sizes: Uint32Array;
  readonly #starts: Float64Array;
  /** Records of conversations not kept because their interval's table was full. */
  overflowed = 0;
  bytes = 0;
  packets = 0;
  tracked = false;

  constructor(
    private readonly slots: number,
    private readonly intervalMs: number,
    private readonly maxKeys = 1 << 18,
    private readonly initialKeys = 1 << 10,
  ) {
    this.#keys = new Array(slots).fill(undefined);
    this.#values = new Array(slots).fill(undefined);
    this.#sizes = new Uint32Array(slots);
    this.#starts = new Float64Array(slots).fill(Number.NaN);
  }

  /** Adds a record of conversation `key` to interval `start`: whether the conversation is new in it. */
  add(start: number, key: number, bytes: number, packets: number): boolean {
    const slot = Math.floor(start / this.intervalMs) % this.slots;
    if (this.#starts[slot] !== start) {
      this.#starts[slot] = start;
      this.#sizes[slot] = 0;
      const keys = this.#keys[slot];
      // A table keeps the size a busy interval grew it to (allocating and growing it again every
      // interval cost the detector a fifth of its throughput in garbage collection); emptied only.
      if (keys === undefined) {
        this.#keys[slot] = new Uint32Array(2 * this.initialKeys);
        this.#values[slot] = new Float32Array(4 * this.initialKeys);
      } else keys.fill(0);
    }
    const k = key >>> 0 || 1;
    let keys = this.#keys[slot] as Uint32Array;
    let values = this.#values[slot] as Float32Array;
    let i = find(keys, k);
    if (keys[i] === k) {
      this.bytes = values[2 * i]! += bytes;
      this.packets = values[2 * i + 1]! += packets;
      this.tracked = true;
      return false;
    }
    const size = this.#sizes[slot]!;
    if (2 * (size + 1) > keys.length) {
      if (keys.length >= 2 * this.maxKeys) {
        // Full: not kept; reported as new, with the record's own totals.
        this.overflowed++;
        this.bytes = bytes;
        this.packets = packets;
        this.tracked = false;
        return true;
      }
      [keys, values] = grow(keys, values);
      this.#keys[slot] = keys;
      this.#values[slot] = values;
      i = find(keys, k);
    }
    keys[i] = k;
    values[2 * i] = bytes;
    values[2 * i + 1] = packets;
    this.#sizes[slot] = size + 1;
    this.bytes = bytes;
    this.packets = packets;
    this.tracked = true;
    return true;
  }

  get approximateBytes(): number {
    let n = this.#sizes.byteLength + this.#starts.byteLength;
    for (let s = 0; s < this.slots; s++) n += (this.#keys[s]?.byteLength ?? 0) + (this.#values[s]?.byteLength ?? 0);
    return n;
  }
}

/** The index of `k` in `t` by linear probing, or of the free entry where it would go. */
function find(t: Uint32Array, k: number): number {
  const mask = t.length - 1;
  let i = (Math.imul(k, 0x9e3779b1) >>> 0) & mask;
  for (;;) {
    const v = t[i]!;
    if (v === k || v === 0) return i;
    i = (i + 1) & mask;
  }
}

function grow(keys: Uint32Array, values: Float32Array): [Uint32Array, Float32Array] {
  const k2 = new Uint32Array(2 * keys.length);
  const v2 = new Float32Array(4 * keys.length);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (k === 0) continue;
    const j = find(k2, k);
    k2[j] = k;
    v2[2 * j] = values[2 * i]!;
    v2[2 * j + 1] = values[2 * i + 1]!;
  }
  return [k2, v2];
}
