import { OldestFirst } from '@flowwatch/insertion-order';

/** A value an EntityTable holds: `touched` is set on every look-up and read by eviction. */
export interface Tracked {
  touched: boolean;
}

/**
 * The state of up to `capacity` entities of one detector family, keyed by entity key. When full,
 * inserting evicts the least recently seen entity, approximated by the CLOCK (second-chance)
 * algorithm over the Map's insertion order: the oldest entry is evicted unless it was looked up
 * since it was (re)inserted, in which case it moves to the back with its mark cleared. A look-up
 * only sets a flag (no re-ordering), so the hot path stays one Map read. Evictions are counted.
 */
export class EntityTable<V extends Tracked> {
  readonly #map = new Map<string, V>();
  /** CLOCK's hand (a new iterator per eviction walked every hole deletions left in the Map). */
  readonly #oldest = new OldestFirst(this.#map);
  #evictions = 0;
  #removals = 0;

  constructor(
    readonly capacity: number,
    private readonly onEvict?: (key: string, value: V) => void,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity ${capacity} must be a positive integer`);
  }

  get size(): number {
    return this.#map.size;
  }

  /** Entities evicted since creation. */
  get evictions(): number {
    return this.#evictions;
  }

  /**
   * Changes that may have taken an entity out of the table (evictions, deletions, sweeps,
   * replacements, clearing): an entity held across look-ups is still the table's while this has
   * not moved (HeldEntity).
   */
  get removals(): number {
    return this.#removals;
  }

  /** The entity, marked as seen; undefined when not tracked. */
  get(key: string): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) v.touched = true;
    return v;
  }

  /** The entity without marking it seen. */
  peek(key: string): V | undefined {
    return this.#map.get(key);
  }

  /** Stores a new entity (evicting one first when full). */
  set(key: string, value: V): void {
    // The size first: below capacity, no second look-up of a key the caller has just missed.
    if (this.#map.size >= this.capacity && !this.#map.has(key)) this.#evictOne();
    // New entities enter unmarked: a burst of one-off keys (random spoofed sources) evicts its own
    // members before entities that were seen again.
    value.touched = false;
    const size = this.#map.size;
    this.#map.set(key, value);
    // Not one more: `key`'s entity was replaced.
    if (this.#map.size === size) this.#removals++;
  }

  delete(key: string): boolean {
    if (!this.#map.delete(key)) return false;
    this.#removals++;
    return true;
  }

  entries(): IterableIterator<[string, V]> {
    return this.#map.entries();
  }

  /** Calls `fn` for every entity; `fn` may delete the one it is given (Map.forEach semantics). */
  forEach(fn: (value: V, key: string) => void): void {
    this.#map.forEach(fn);
  }

  values(): IterableIterator<V> {
    return this.#map.values();
  }

  /** Removes every entity for which `expired` holds (not counted as evictions). */
  sweep(expired: (value: V, key: string) => boolean): number {
    let n = 0;
    // forEach, not for-of over entries: no [key, value] array per entry (hundreds of thousands a sweep).
    const map = this.#map;
    map.forEach((value, key) => {
      if (expired(value, key)) {
        map.delete(key);
        n++;
      }
    });
    this.#removals += n;
    return n;
  }

  clear(): void {
    this.#map.clear();
    this.#removals++;
  }

  #evictOne(): void {
    // At most two passes: the first clears every mark, so the second finds an entry to evict.
    for (let guard = 2 * this.#map.size + 1; guard > 0; guard--) {
      const oldest = this.#oldest.shift();
      if (oldest === undefined) return;
      const [key, value] = oldest;
      if (value.touched) {
        value.touched = false;
        this.#map.set(key, value);
        continue;
      }
      this.#evictions++;
      this.#removals++;
      this.onEvict?.(key, value);
      return;
    }
  }
}

/**
 * One entity of `table` held across look-ups (a run of one exporter's records needs its supplier's
 * and exporter's entities for every record): `get` gives it back while nothing has left the table
 * since it was held (`removals`), so the holder never updates an entity the table no longer has.
 */
export class HeldEntity<V extends Tracked> {
  #value: V | undefined;
  #removals = -1;

  constructor(readonly table: EntityTable<V>) {}

  /** The held entity; undefined when none is held or it may have left the table. */
  get(): V | undefined {
    return this.#removals === this.table.removals ? this.#value : undefined;
  }

  /** Holds `value`, which must be in the table now. */
  hold(value: V): V {
    this.#value = value;
    this.#removals = this.table.removals;
    return value;
  }

  release(): void {
    this.#value = undefined;
    this.#removals = -1;
  }
}
