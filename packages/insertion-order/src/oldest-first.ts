/**
 * Takes a Map's entries oldest first, in its insertion order, for bounded maps that drop their
 * oldest entry (FIFO), their least recently used one (LRU: a use deletes the key and sets it again,
 * so it goes to the back) or run a CLOCK over it (`shift`, then `set` again to give a second chance).
 *
 * `map.delete(map.keys().next().value)` costs O(entries deleted since the Map last rehashed): V8
 * keeps deleted entries as holes until then, and a new iterator starts from the front and walks
 * over all of them. A map kept full by a stream of new keys deletes one at every insertion: the
 * detector's full entity table took 12 us an eviction at 20,000 entries, 40 us at 200,000. `shift`
 * keeps one iterator (the hand) from call to call instead, so each hole is walked over once: O(1)
 * amortised.
 *
 * Why the hand's next entry is the oldest: everything before it has been deleted (it deletes what
 * it passes). A Map only ever appends (a new key, or a key deleted and set again), updates in
 * place or deletes, so nothing the owner does with the map breaks that, `clear` included. Keep
 * the same Map: one put in its place needs an OldestFirst of its own.
 */
export class OldestFirst<K, V> {
  #hand: MapIterator<[K, V]> | undefined;

  constructor(private readonly map: Map<K, V>) {}

  /** Deletes the oldest entry and returns it; undefined when the map is empty. */
  shift(): [K, V] | undefined {
    let next = this.#hand?.next();
    if (next === undefined || next.done) {
      // The hand passed the last entry (a finished iterator never sees later ones): from the front.
      this.#hand = this.map.entries();
      next = this.#hand.next();
      if (next.done) return undefined;
    }
    this.map.delete(next.value[0]);
    return next.value;
  }
}
