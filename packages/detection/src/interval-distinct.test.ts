import { describe, expect, it } from 'vitest';
import { IntervalDistinct } from './interval-distinct.js';

describe('IntervalDistinct', () => {
  it('reports a key new once per interval, and again in the next interval', () => {
    const d = new IntervalDistinct(4, 60_000, 1 << 12, 4);
    expect(d.firstIn(0, 7)).toBe(true);
    expect(d.firstIn(0, 7)).toBe(false);
    expect(d.firstIn(60_000, 7)).toBe(true);
    expect(d.firstIn(0, 7)).toBe(false);
    // Slot 0 reused by interval 240000: forgotten.
    expect(d.firstIn(240_000, 7)).toBe(true);
  });

  it('counts distinct keys exactly while it grows, among many repeats', () => {
    const d = new IntervalDistinct(2, 60_000, 1 << 16, 4);
    let firsts = 0;
    for (let r = 0; r < 5; r++) for (let k = 1; k <= 20_000; k++) if (d.firstIn(0, Math.imul(k, 2654435761) >>> 0)) firsts++;
    expect(firsts).toBe(20_000);
    expect(d.overflowed).toBe(0);
  });

  it('at its bound reports unknown keys as new without keeping them, and memory stays bounded', () => {
    const d = new IntervalDistinct(1, 60_000, 1 << 10, 4);
    let firsts = 0;
    for (let r = 0; r < 3; r++) for (let k = 1; k <= 5000; k++) if (d.firstIn(0, k)) firsts++;
    // The first 1024 keys are remembered; the other 3976 count as new on each of the three rounds.
    expect(firsts).toBe(1024 + 3 * 3976);
    expect(d.overflowed).toBe(3 * 3976);
    expect(d.approximateBytes).toBeLessThan(4 * 2 * 1024 + 1024);
  });

  it('key 0 is a key like any other (no empty-slot confusion)', () => {
    const d = new IntervalDistinct(1, 1000);
    expect(d.firstIn(0, 0)).toBe(true);
    expect(d.firstIn(0, 0)).toBe(false);
  });
});
