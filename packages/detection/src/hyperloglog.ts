/**
 * HyperLogLog (Flajolet et al. 2007) over 32-bit hashes, with 2^p one-byte registers and the
 * small-range (linear counting) correction. The estimate is kept up to date on every register
 * change (the harmonic sum and the count of zero registers are maintained incrementally), so
 * reading it after each insertion costs nothing: scan detection compares it with a threshold on
 * every probe. Standard error 1.04 / sqrt(2^p): 6.5 % at p = 8 (256 bytes), 1.6 % at p = 12.
 */
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
    const alpha = m === 16 ? 0.673 : m === 32 ? 0.697 : m === 64 ? 0.709 : 0.7213 / (1 + 1.079 / m);
    this.#alphaMM = alpha * m * m;
    this.#sum = m;
    this.#zeros = m;
  }

  /** Adds a 32-bit hash; true when a register changed (the estimate may have moved). */
  add(hash: number): boolean {
    const p = this.#p;
    const index = hash >>> (32 - p);
    const rest = (hash << p) >>> 0;
    const rank = rest === 0 ? 32 - p + 1 : Math.clz32(rest) + 1;
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
}

const EXACT_LIMIT = 16;

/**
 * Distinct count of hashes that is exact up to 16 values and a HyperLogLog(p) beyond, so the
 * many keys that only ever see one or two values (a client talking to one server) cost a few
 * dozen bytes, and a scanner's key at most 2^p bytes more.
 */
export class DistinctCounter {
  #exact: number[] | undefined = [];
  #hll: HyperLogLog | undefined;
  readonly #p: number;

  constructor(p = 8) {
    this.#p = p;
  }

  /** Adds a hash; true when the count may have changed. */
  add(hash: number): boolean {
    const exact = this.#exact;
    if (exact !== undefined) {
      if (exact.includes(hash)) return false;
      if (exact.length < EXACT_LIMIT) {
        exact.push(hash);
        return true;
      }
      const hll = new HyperLogLog(this.#p);
      for (let i = 0; i < exact.length; i++) hll.add(exact[i]!);
      this.#hll = hll;
      this.#exact = undefined;
    }
    return this.#hll!.add(hash);
  }

  count(): number {
    return this.#exact !== undefined ? this.#exact.length : this.#hll!.count();
  }

  clear(): void {
    this.#exact = [];
    this.#hll = undefined;
  }

  /** Approximate heap bytes (for the state-per-entity figures). */
  get approximateBytes(): number {
    return this.#exact !== undefined ? 32 + 8 * this.#exact.length : 64 + (1 << this.#p);
  }
}
