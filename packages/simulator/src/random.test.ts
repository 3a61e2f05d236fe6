import { describe, expect, it } from 'vitest';
import { AliasTable, Random } from './random.js';

const draws = (r: Random, n: number, f: (r: Random) => number) => Array.from({ length: n }, () => f(r));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

describe('Random', () => {
  it('gives the same numbers for the same keys and different ones for other keys', () => {
    const a = draws(Random.derive(1, 'slot', 7), 20, (r) => r.u32());
    expect(draws(Random.derive(1, 'slot', 7), 20, (r) => r.u32())).toEqual(a);
    expect(draws(Random.derive(1, 'slot', 8), 20, (r) => r.u32())).not.toEqual(a);
    expect(draws(Random.derive(2, 'slot', 7), 20, (r) => r.u32())).not.toEqual(a);
  });

  it('is uniform enough: every tenth of [0, 1) gets its share', () => {
    const xs = draws(Random.derive('uniform'), 100_000, (r) => r.next());
    const bins = new Array<number>(10).fill(0);
    for (const x of xs) bins[Math.floor(x * 10)]!++;
    for (const b of bins) expect(Math.abs(b - 10_000)).toBeLessThan(500); // > 5 sigma
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
  });

  it('draws Poisson counts with the right mean and variance, small and large', () => {
    for (const lambda of [0.3, 4, 25, 400]) {
      const xs = draws(Random.derive('poisson', lambda), 20_000, (r) => r.poisson(lambda));
      const m = mean(xs);
      const v = mean(xs.map((x) => (x - m) ** 2));
      expect(Math.abs(m - lambda) / lambda).toBeLessThan(0.05);
      expect(Math.abs(v - lambda) / lambda).toBeLessThan(0.1);
      expect(xs.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
    }
    expect(Random.derive('p').poisson(0)).toBe(0);
  });

  it('draws log-normal values around their median and Pareto values with a heavy tail', () => {
    const ln = draws(Random.derive('ln'), 20_000, (r) => r.logNormal(1000, 1));
    expect(median(ln)).toBeGreaterThan(950);
    expect(median(ln)).toBeLessThan(1050);
    const p = draws(Random.derive('pareto'), 20_000, (r) => r.pareto(100, 1.2));
    expect(Math.min(...p)).toBeGreaterThanOrEqual(100);
    // P(X > 10 xm) = 10^-1.2 = 6.3%
    const share = p.filter((x) => x > 1000).length / p.length;
    expect(share).toBeGreaterThan(0.055);
    expect(share).toBeLessThan(0.072);
  });
});

describe('AliasTable', () => {
  it('picks indexes in proportion to their weights, never a zero weight', () => {
    const weights = [5, 0, 1, 3, 1];
    const table = new AliasTable(weights);
    const rng = Random.derive('alias');
    const counts = new Array<number>(weights.length).fill(0);
    const n = 100_000;
    for (let i = 0; i < n; i++) counts[table.sample(rng)]!++;
    expect(counts[1]).toBe(0);
    for (const [i, w] of weights.entries()) expect(Math.abs((counts[i] as number) / n - w / 10)).toBeLessThan(0.01);
  });

  it('refuses no weights', () => {
    expect(() => new AliasTable([])).toThrow(RangeError);
    expect(() => new AliasTable([0, 0])).toThrow(RangeError);
  });
});
