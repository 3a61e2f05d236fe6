/**
 * Keys joined from two strings (`supplier/exporter`, `A>B`), built once and then handed out as the
 * same string object: a key built per flow costs an allocation and a hash (and, past 12
 * characters, a cons string that every Map look-up flattens again), a cached one neither (its
 * hash is kept in the string). Bounded: past `max` keys the cache starts over (only a cache; the
 * keys are equal either way).
 */
export class KeyCache {
  readonly #byFirst = new Map<string, Map<string, string>>();
  #count = 0;

  constructor(
    readonly separator: string,
    readonly max = 1 << 18,
  ) {}

  /** `${a}${separator}${b}`. */
  key(a: string, b: string): string {
    const key = this.#byFirst.get(a)?.get(b);
    return key !== undefined ? key : this.#add(a, b);
  }

  #add(a: string, b: string): string {
    if (this.#count >= this.max) this.#clear();
    let seconds = this.#byFirst.get(a);
    if (seconds === undefined) {
      seconds = new Map();
      this.#byFirst.set(a, seconds);
    }
    const key = `${a}${this.separator}${b}`;
    seconds.set(b, key);
    this.#count++;
    return key;
  }

  #clear(): void {
    this.#byFirst.clear();
    this.#count = 0;
  }
}
