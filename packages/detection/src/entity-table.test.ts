import { describe, expect, it } from 'vitest';
import { EntityTable } from './entity-table.js';

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
});
