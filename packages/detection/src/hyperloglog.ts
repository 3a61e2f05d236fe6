/**
 * HyperLogLog (Flajolet et al. 2007) over 32-bit hashes, with 2^p one-byte registers and the
 * small-range (linear counting) correction. The estimate is kept up to date on every register
 * change (the harmonic sum and the count of zero registers are maintained incrementally), so
 * reading it after each insertion costs nothing: scan detection compares it with a threshold on
 * every probe. Standard error 1.04 / sqrt(2^p): 6.5 % at p = 8 (256 bytes), 1.6 % at p = 12.
 */
/** The bias correction of m registers (Flajolet et al.). */
function alphaOf(m: number): number {
  return m === 16 ? 0.673 : m === 32 ? 0.697 : m === 64 ? 0.709 : 0.7213 / (1 + 1.079 / m);
}

export class HyperLogLog {
  readonly registers: Uint8Array;
  readonly #p: number;
  readonly #alphaMM: number;
  #sum: number;
  #zeros: number;

  constructor(p = 8) {
    if (!Number.isInteger(p) || p < 4 || p > 16) throw new RangeError(`HyperLogLog precision ${p} is outside 4..16`);
    const m = 1 << p;
    this.#p = p;
    this.registers = new Uint8Array(m);
    this.#alphaMM = alphaOf(m) * m * m;
    this.#sum = m;
    this.#zeros = m;
  }

  /** Adds a 32-bit hash; true when a register changed (the estimate may have moved). */
  add(hash: number): boolean {
    const s = HyperLogLog.slot(hash, this.#p);
    const index = s >>> 8;
    const rank = s & 0xff;
    const old = this.registers[index]!;
    if (rank <= old) return false;
    this.registers[index] = rank;
    this.#sum += 2 ** -rank - 2 ** -old;
    if (old === 0) this.#zeros--;
    return true;
  }

  count(): number {
    const m = this.registers.length;
    const estimate = this.#alphaMM / this.#sum;
    if (estimate <= 2.5 * m && this.#zeros > 0) return m * Math.log(m / this.#zeros);
    return estimate;
  }

  clear(): void {
    this.registers.fill(0);
    this.#sum = this.registers.length;
    this.#zeros = this.registers.length;
  }

  /** The register a hash sets and its rank, for a union computed apart (rank in the low byte). */
  static slot(hash: number, p: number): number {
    const rest = (hash << p) >>> 0;
    const rank = rest === 0 ? 32 - p + 1 : Math.clz32(rest) + 1;
    return ((hash >>> (32 - p)) << 8) | rank;
  }

  /** The estimate of registers `r` (as `count`, computed from scratch: a union's). */
  static estimate(r: Uint8Array): number {
    const m = r.length;
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < m; i++) {
      const v = r[i]!;
      sum += 2 ** -v;
      if (v === 0) zeros++;
    }
    const estimate = (alphaOf(m) * m * m) / sum;
    if (estimate <= 2.5 * m && zeros > 0) return m * Math.log(m / zeros);
    return estimate;
  }
}

const EXACT_LIMIT = 16;
/** Registers of a union being counted (unionCount), reused. */
let UNION = new Uint8Array(256);

/**
 * Distinct count of hashes that is exact up to 16 values and a HyperLogLog(p) beyond, so the
 * many keys that only ever see one or two values (a client talking to one server) cost a few
 * dozen bytes, and a scanner's key at most 2^p bytes more. The exact values are kept as int32
 * (`hash | 0`, the same 32 bits): small integers, so neither the first (a field) nor the rest (an
 * array made on the second value and kept, emptied, when the counter is cleared) is a boxed number.
 */
export class DistinctCounter {
  /** Distinct values while exact (#hll undefined). */
  #n = 0;
  #first = 0;
  /** The 2nd to 16th values (#n - 1 of them). */
  #more: number[] | undefined;
  #hll: HyperLogLog | undefined;
  readonly #p: number;

  constructor(p = 8) {
    this.#p = p;
  }

  /** Adds a hash; true when the count may have changed. */
  add(hash: number): boolean {
    const hll = this.#hll;
    if (hll !== undefined) return hll.add(hash);
    const v = hash | 0;
    const n = this.#n;
    if (n === 0) {
      this.#first = v;
      this.#n = 1;
      return true;
    }
    if (this.#first === v) return false;
    let more = this.#more;
    if (n > 1 && more!.includes(v)) return false;
    if (n < EXACT_LIMIT) {
      if (more === undefined) {
        more = [];
        this.#more = more;
      }
      more.push(v);
      this.#n = n + 1;
      return true;
    }
    const sketch = new HyperLogLog(this.#p);
    sketch.add(this.#first);
    for (let i = 0; i < more!.length; i++) sketch.add(more![i]!);
    this.#hll = sketch;
    this.#more = undefined;
    return sketch.add(hash);
  }

  count(): number {
    return this.#hll !== undefined ? this.#hll.count() : this.#n;
  }

  clear(): void {
    this.#n = 0;
    if (this.#more !== undefined) this.#more.length = 0;
    this.#hll = undefined;
  }

  /** Whether the exact values hold `v` (an int32). */
  #has(v: number): boolean {
    return this.#n > 0 && (this.#first === v || (this.#n > 1 && this.#more!.includes(v)));
  }

  /** Calls `fn` with each exact value (as int32). */
  #eachExact(fn: (v: number) => void): void {
    if (this.#n === 0) return;
    fn(this.#first);
    for (let i = 1; i < this.#n; i++) fn(this.#more![i - 1]!);
  }

  /**
   * The distinct count of this and `other` together (counters of the same precision): exact
   * while both are, else the HyperLogLog estimate of their registers' maxima.
   */
  unionCount(other: DistinctCounter): number {
    if (this.#hll === undefined && other.#hll === undefined) {
      let n = this.#n;
      other.#eachExact((v) => {
        if (!this.#has(v)) n++;
      });
      return n;
    }
    const p = this.#p;
    const m = 1 << p;
    if (UNION.length !== m) UNION = new Uint8Array(m);
    const r = UNION;
    r.fill(0);
    for (const c of [this, other]) {
      if (c.#hll !== undefined) {
        const h = c.#hll.registers;
        for (let i = 0; i < m; i++) if (h[i]! > r[i]!) r[i] = h[i]!;
      } else
        c.#eachExact((hash) => {
          const s = HyperLogLog.slot(hash, p);
          const i = s >>> 8;
          if ((s & 0xff) > r[i]!) r[i] = s & 0xff;
        });
    }
    return HyperLogLog.estimate(r);
  }

  /** Approximate heap bytes (for the state-per-entity figures). */
  get approximateBytes(): number {
    if (this.#hll !== undefined) return 64 + (1 << this.#p);
    return 48 + (this.#more === undefined ? 0 : 32 + 8 * EXACT_LIMIT);
  }
}
