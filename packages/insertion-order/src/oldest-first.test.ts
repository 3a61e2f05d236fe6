import { describe, expect, it } from 'vitest';
import { OldestFirst } from './oldest-first.js';

/** The reference: the Map's first entry, from a new iterator every time. */
function referenceShift<K, V>(map: Map<K, V>): [K, V] | undefined {
  const first = map.entries().next();
  if (first.done) return undefined;
  map.delete(first.value[0]);
  return first.value;
}

describe('OldestFirst', () => {
  it('takes entries in insertion order, behind moves, after the hand ran out and after a clear', () => {
    const map = new Map<string, number>([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]);
    const oldest = new OldestFirst(map);
    expect(oldest.shift()).toEqual(['a', 1]);
    map.delete('b'); // an LRU move: b goes behind c
    map.set('b', 2);
    map.set('c', 30); // an update keeps its place
    map.set('d', 4);
    expect(oldest.shift()).toEqual(['c', 30]);
    expect(oldest.shift()).toEqual(['b', 2]);
    expect(oldest.shift()).toEqual(['d', 4]);
    expect(oldest.shift()).toBeUndefined(); // the hand is done: a new one from the front next time
    map.set('e', 5);
    map.set('f', 6);
    expect(oldest.shift()).toEqual(['e', 5]);
    map.clear();
    map.set('g', 7);
    expect(oldest.shift()).toEqual(['g', 7]);
    expect(map.size).toBe(0);
  });

  it('keeps its place when the map rehashes under it (growing, and shrinking after many deletes)', () => {
    const map = new Map<number, number>();
    const oldest = new OldestFirst(map);
    for (let i = 0; i < 1000; i++) map.set(i, i);
    expect(oldest.shift()?.[0]).toBe(0);
    for (let i = 1000; i < 5000; i++) map.set(i, i); // grows
    for (let i = 1; i < 4990; i++) if (i % 7 !== 0) map.delete(i); // shrinks
    expect(oldest.shift()?.[0]).toBe(7);
    expect(oldest.shift()?.[0]).toBe(14);
  });

  it('shifts the same entries as the reference across inserts, updates, deletes, LRU and CLOCK moves, drains and clears', () => {
    const map = new Map<string, number>();
    const reference = new Map<string, number>();
    const oldest = new OldestFirst(map);
    let seed = 11;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const both = (fn: (m: Map<string, number>) => void) => {
      fn(map);
      fn(reference);
    };
    const shiftBoth = () => {
      const got = oldest.shift();
      expect(got).toEqual(referenceShift(reference));
      return got;
    };
    let evictions = 0;
    let drains = 0;
    let cap = 1;
    for (let step = 0; step < 60_000; step++) {
      // A bounded map whose bound changes now and then: from one entry to more than the keys.
      if (step % 3_000 === 0) cap = [1, 5, 50, 400, 1_000][Math.floor(random() * 5)] ?? 1;
      const key = `k${Math.floor(random() * 800)}`;
      const r = random();
      if (r < 0.5) {
        // Insert (evicting the oldest first when full), or update in place.
        if (!map.has(key) && map.size >= cap) {
          const got = shiftBoth();
          evictions++;
          // CLOCK: a second chance sends the entry to the back.
          if (got !== undefined && random() < 0.2) {
            both((m) => m.set(got[0], got[1]));
            continue;
          }
        }
        both((m) => m.set(key, step));
      } else if (r < 0.65) {
        both((m) => m.delete(key));
      } else if (r < 0.95) {
        // LRU: a use moves the key to the back.
        both((m) => {
          if (m.delete(key)) m.set(key, step);
        });
      } else if (r < 0.9995) {
        shiftBoth();
      } else if (r < 0.9998) {
        // Drain: the hand runs out, and must start from the front again once keys come back.
        while (map.size > 0) shiftBoth();
        expect(shiftBoth()).toBeUndefined();
        drains++;
      } else {
        both((m) => m.clear());
      }
      if (step % 101 === 0) expect([...map]).toEqual([...reference]);
    }
    expect([...map]).toEqual([...reference]);
    expect(evictions).toBeGreaterThan(10_000);
    expect(drains).toBeGreaterThan(3);
  });
});
