import { describe, expect, it } from 'vitest';
import { IntervalConversations } from './interval-conversations.js';

describe('IntervalConversations', () => {
  it('reports a conversation new once per interval and sums its records, again from zero in the next interval', () => {
    const c = new IntervalConversations(4, 60_000, 1 << 12, 4);
    expect(c.add(0, 7, 100, 1)).toBe(true);
    expect([c.bytes, c.packets, c.tracked]).toEqual([100, 1, true]);
    expect(c.add(0, 7, 50, 2)).toBe(false);
    expect([c.bytes, c.packets]).toEqual([150, 3]);
    expect(c.add(60_000, 7, 10, 1)).toBe(true);
    expect(c.bytes).toBe(10);
    expect(c.add(0, 7, 1, 1)).toBe(false);
    expect(c.bytes).toBe(151);
    // Slot 0 reused by interval 240000: forgotten.
    expect(c.add(240_000, 7, 5, 1)).toBe(true);
    expect(c.bytes).toBe(5);
  });

  it('counts distinct conversations and their totals exactly while it grows, among many repeats', () => {
    const c = new IntervalConversations(2, 60_000, 1 << 16, 4);
    let firsts = 0;
    for (let r = 0; r < 5; r++) for (let k = 1; k <= 20_000; k++) if (c.add(0, Math.imul(k, 2654435761) >>> 0, k, 1)) firsts++;
    expect(firsts).toBe(20_000);
    expect(c.overflowed).toBe(0);
    c.add(0, Math.imul(12_345, 2654435761) >>> 0, 0, 0);
    expect([c.bytes, c.packets]).toEqual([5 * 12_345, 5]);
  });

  it('when full, reports a conversation it does not hold as new with the record as its totals, and memory stays bounded', () => {
    const c = new IntervalConversations(1, 60_000, 1 << 10, 4);
    let firsts = 0;
    for (let r = 0; r < 3; r++) for (let k = 1; k <= 5000; k++) if (c.add(0, k, 10, 1)) firsts++;
    // The first 1024 conversations are kept; the other 3976 count as new on each of the three rounds.
    expect(firsts).toBe(1024 + 3 * 3976);
    expect(c.overflowed).toBe(3 * 3976);
    c.add(0, 4999, 10, 1);
    expect([c.bytes, c.tracked]).toEqual([10, false]);
    c.add(0, 1000, 10, 1);
    expect([c.bytes, c.tracked]).toEqual([40, true]);
    expect(c.approximateBytes).toBeLessThan(12 * 2 * 1024 + 1024);
  });
});
