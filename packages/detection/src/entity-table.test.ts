import { describe, expect, it } from 'vitest';
import { EntityTable, HeldEntity } from './entity-table.js';

const entity = () => ({ touched: false, n: 0 });

describe('EntityTable', () => {
  it('never holds more than its capacity and counts evictions', () => {
    const evicted: string[] = [];
    const table = new EntityTable<ReturnType<typeof entity>>(100, (key) => evicted.push(key));
    for (let i = 0; i < 1000; i++) table.set(`k${i}`, entity());
    expect(table.size).toBe(100);
    expect(table.evictions).toBe(900);
    expect(evicted.length).toBe(900);
  });

  it('evicts the least recently seen: entities looked up keep their place', () => {
    const table = new EntityTable<ReturnType<typeof entity>>(10);
    for (let i = 0; i < 10; i++) table.set(`k${i}`, entity());
    // Age everyone once (first insertion marks as seen), then keep k0..k4 busy.
    for (let i = 10; i < 20; i++) {
      for (let k = 0; k < 5; k++) table.get(`k${k}`);
      table.set(`n${i}`, entity());
    }
    for (let k = 0; k < 5; k++) expect(table.peek(`k${k}`)).toBeDefined();
    for (let k = 5; k < 10; k++) expect(table.peek(`k${k}`)).toBeUndefined();
  });

  it('sweeps expired entities without counting them as evictions', () => {
    const table = new EntityTable<ReturnType<typeof entity>>(10);
    for (let i = 0; i < 6; i++) table.set(`k${i}`, { touched: false, n: i });
    expect(table.sweep((v) => v.n % 2 === 0)).toBe(3);
    expect(table.size).toBe(3);
    expect(table.evictions).toBe(0);
  });

  it('evicts in the same order as taking the oldest entry every time, across sweeps, deletes and rounds of the hand', () => {
    // The reference: CLOCK by the Map's first entry, looked up afresh at every eviction.
    const reference = new Map<string, { touched: boolean }>();
    const referenceSet = (key: string) => {
      if (!reference.has(key) && reference.size >= 50) {
        for (;;) {
          const [k, v] = reference.entries().next().value as [string, { touched: boolean }];
          reference.delete(k);
          if (!v.touched) break;
          v.touched = false;
          reference.set(k, v);
        }
      }
      reference.set(key, { touched: false });
    };
    const table = new EntityTable<ReturnType<typeof entity>>(50);
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    for (let step = 0; step < 20_000; step++) {
      const key = `k${Math.floor(random() * 400)}`;
      const r = random();
      if (r < 0.5) {
        if (table.get(key) === undefined) table.set(key, entity());
        const v = reference.get(key);
        if (v !== undefined) v.touched = true;
        else referenceSet(key);
      } else if (r < 0.55) {
        table.delete(key);
        reference.delete(key);
      } else if (r < 0.56) {
        const odd = (k: string) => Number(k.slice(1)) % 2 === 1;
        table.sweep((_, k) => odd(k));
        for (const k of [...reference.keys()]) if (odd(k)) reference.delete(k);
      } else {
        table.set(`n${step}`, entity());
        referenceSet(`n${step}`);
      }
      if (step % 97 === 0) expect([...table.entries()].map(([k]) => k)).toEqual([...reference.keys()]);
    }
    expect(table.evictions).toBeGreaterThan(5_000);
  });
  it('counts what may take an entity out (evictions, deletions, sweeps, replacements, clearing), not insertions or look-ups', () => {
    const table = new EntityTable<ReturnType<typeof entity>>(3);
    const removals = (fn: () => void) => {
      const before = table.removals;
      fn();
      return table.removals - before;
    };
    expect(
      removals(() => {
        for (const k of ['a', 'b', 'c']) table.set(k, entity());
      }),
    ).toBe(0);
    expect(removals(() => table.get('a'))).toBe(0);
    expect(removals(() => table.set('d', entity()))).toBe(1);
    expect(removals(() => table.set('d', entity()))).toBe(1);
    expect(removals(() => table.delete('nothing'))).toBe(0);
    expect(removals(() => table.delete('d'))).toBe(1);
    expect(removals(() => table.sweep(() => false))).toBe(0);
    expect(removals(() => table.sweep(() => true))).toBe(2);
    expect(removals(() => table.clear())).toBe(1);
  });
  it('gives a held entity back only while nothing has left its table', () => {
    const table = new EntityTable<ReturnType<typeof entity>>(2);
    const held = new HeldEntity(table);
    expect(held.get()).toBeUndefined();
    const a = entity();
    table.set('a', a);
    expect(held.hold(a)).toBe(a);
    table.set('b', entity());
    expect(held.get()).toBe(a);
    table.set('c', entity()); // full: evicts a
    expect(table.peek('a')).toBeUndefined();
    expect(held.get()).toBeUndefined();
    held.hold(table.peek('c')!);
    held.release();
    expect(held.get()).toBeUndefined();
  });
});
