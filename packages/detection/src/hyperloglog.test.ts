import { describe, expect, it } from 'vitest';
import { hashNumber, hashString, mulberry32 } from './hash.js';
import { DistinctCounter, HyperLogLog } from './hyperloglog.js';

describe('HyperLogLog', () => {
  it.each([8, 10, 12])('stays within its error bound at p = %i (1.04/sqrt(m) standard error)', (p) => {
    const m = 1 << p;
    const sigma = 1.04 / Math.sqrt(m);
    const random = mulberry32(p * 7919);
    let sumSq = 0;
    let worst = 0;
    const trials = 40;
    for (let t = 0; t < trials; t++) {
      const n = 200 + Math.floor(random() * 20_000);
      const hll = new HyperLogLog(p);
      const salt = Math.floor(random() * 1e9);
      for (let i = 0; i < n; i++) hll.add(hashString(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${salt}`));
      const rel = (hll.count() - n) / n;
      sumSq += rel * rel;
      worst = Math.max(worst, Math.abs(rel));
    }
    const rms = Math.sqrt(sumSq / trials);
    // The observed root-mean-square error is near the theoretical one; no trial beyond 4 sigma.
    expect(rms).toBeLessThan(1.5 * sigma);
    expect(worst).toBeLessThan(4 * sigma);
  });

  it('counts small sets almost exactly (linear counting) and ignores repeats', () => {
    const hll = new HyperLogLog(10);
    for (let r = 0; r < 5; r++) for (let i = 0; i < 50; i++) hll.add(hashNumber(i));
    expect(Math.abs(hll.count() - 50)).toBeLessThan(2);
    hll.clear();
    expect(hll.count()).toBe(0);
  });

  it('reports whether a register changed', () => {
    const hll = new HyperLogLog(8);
    expect(hll.add(hashNumber(1))).toBe(true);
    expect(hll.add(hashNumber(1))).toBe(false);
  });
});

describe('DistinctCounter', () => {
  it('is exact up to 16 values, then approximate within the sketch bound', () => {
    const c = new DistinctCounter(8);
    for (let i = 0; i < 16; i++) {
      c.add(hashNumber(i));
      c.add(hashNumber(i));
    }
    expect(c.count()).toBe(16);
    for (let i = 16; i < 1000; i++) c.add(hashNumber(i));
    expect(Math.abs(c.count() - 1000) / 1000).toBeLessThan(4 * (1.04 / 16));
    c.clear();
    expect(c.count()).toBe(0);
  });

  it('forgets its values when cleared, exactly again after it had become a sketch', () => {
    const c = new DistinctCounter(8);
    for (let i = 0; i < 100; i++) c.add(hashNumber(i));
    c.clear();
    expect(c.add(hashNumber(1))).toBe(true);
    expect(c.add(hashNumber(1))).toBe(false);
    for (let i = 0; i < 10; i++) c.add(hashNumber(i));
    expect(c.count()).toBe(10);
    c.clear();
    for (let i = 50; i < 53; i++) c.add(hashNumber(i));
    expect(c.count()).toBe(3);
    expect(c.add(hashNumber(1))).toBe(true);
  });

  it('counts the union of two counters: exact while both are, else within the sketch bound of the union', () => {
    const a = new DistinctCounter(8);
    const b = new DistinctCounter(8);
    for (let i = 0; i < 10; i++) a.add(hashNumber(i));
    for (let i = 5; i < 15; i++) b.add(hashNumber(i));
    expect(a.unionCount(b)).toBe(15);
    // One exact, one a sketch: 0-9 and 5-1,004 are 1,005 values (not 10 + 1,000).
    for (let i = 15; i < 1005; i++) b.add(hashNumber(i));
    const bound = 4 * (1.04 / 16);
    expect(Math.abs(a.unionCount(b) - 1005) / 1005).toBeLessThan(bound);
    expect(Math.abs(b.unionCount(a) - 1005) / 1005).toBeLessThan(bound);
    // Both sketches, half shared: 0-1,499 against 750-2,249 are 2,250.
    const c = new DistinctCounter(8);
    const d = new DistinctCounter(8);
    for (let i = 0; i < 1500; i++) c.add(hashNumber(i));
    for (let i = 750; i < 2250; i++) d.add(hashNumber(i));
    expect(Math.abs(c.unionCount(d) - 2250) / 2250).toBeLessThan(bound);
    // The same registers as one counter given both sets.
    const e = new DistinctCounter(8);
    for (let i = 0; i < 2250; i++) e.add(hashNumber(i));
    expect(c.unionCount(d)).toBeCloseTo(e.count(), 6);
  });
});
