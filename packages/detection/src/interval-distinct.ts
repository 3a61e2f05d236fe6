/**
 * Which keys (non-zero 32-bit hashes) have been seen in each open interval: one open-addressing
 * hash set per slot of the event clock's ring, cleared when the slot is reused for a new interval.
 * A set starts small and doubles up to `maxKeys`; once full, every further key of that interval is
 * reported as new (the caller then counts records, as it would without this set), so memory stays
 * bounded whatever the rate.
 */
export class IntervalDistinct {
  readonly #tables: (Uint32Array | undefined)[];
  readonly #sizes: Uint32Array;
  readonly #starts: Float64Array;
  /** Keys an interval held when its set was full (reported as new). */
  overflowed = 0;

  constructor(
    private readonly slots: number,
    private readonly intervalMs: number,
    private readonly maxKeys = 1 << 18,
    private readonly initialKeys = 1 << 10,
  ) {
    this.#tables = new Array(slots).fill(undefined);
    this.#sizes = new Uint32Array(slots);
    this.#starts = new Float64Array(slots).fill(Number.NaN);
  }

  /** Whether `key` (non-zero) is new in interval `start`; it is then seen. */
  firstIn(start: number, key: number): boolean {
    const slot = Math.floor(start / this.intervalMs) % this.slots;
    let table = this.#tables[slot];
    if (this.#starts[slot] !== start) {
      this.#starts[slot] = start;
      this.#sizes[slot] = 0;
      // A set that grew for a busy interval shrinks back when the next one starts.
      if (table === undefined || table.length > 2 * this.initialKeys) table = this.#tables[slot] = new Uint32Array(2 * this.initialKeys);
      else table.fill(0);
    }
    const k = key >>> 0 || 1;
    let t = table as Uint32Array;
    const size = this.#sizes[slot]!;
    if (2 * (size + 1) > t.length) {
      if (t.length >= 2 * this.maxKeys) {
        // At the bound: what is held is still known; anything else is reported as new, not kept.
        if (has(t, k)) return false;
        this.overflowed++;
        return true;
      }
      const bigger = new Uint32Array(2 * t.length);
      for (let i = 0; i < t.length; i++) if (t[i] !== 0) insert(bigger, t[i]!);
      t = this.#tables[slot] = bigger;
    }
    if (!insert(t, k)) return false;
    this.#sizes[slot] = size + 1;
    return true;
  }

  get approximateBytes(): number {
    let n = this.#sizes.byteLength + this.#starts.byteLength;
    for (const t of this.#tables) n += t?.byteLength ?? 0;
    return n;
  }
}

/** Inserts `k` by linear probing; false when it was there. The table has a free entry. */
function insert(t: Uint32Array, k: number): boolean {
  const mask = t.length - 1;
  let i = (Math.imul(k, 0x9e3779b1) >>> 0) & mask;
  for (;;) {
    const v = t[i]!;
    if (v === k) return false;
    if (v === 0) {
      t[i] = k;
      return true;
    }
    i = (i + 1) & mask;
  }
}

function has(t: Uint32Array, k: number): boolean {
  const mask = t.length - 1;
  let i = (Math.imul(k, 0x9e3779b1) >>> 0) & mask;
  for (;;) {
    const v = t[i]!;
    if (v === k) return true;
    if (v === 0) return false;
    i = (i + 1) & mask;
  }
}
