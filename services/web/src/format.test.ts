import { describe, expect, it } from 'vitest';
import { bps, si } from './format.js';

describe('si', () => {
  it.each([
    [0, '0'],
    [5, '5'],
    [20, '20'],
    [100, '100'],
    [500, '500'],
    [1500, '1.5 k'],
    [1000, '1 k'],
    [123_456, '123 k'],
    [100_000_000, '100 M'],
    [500_000_000, '500 M'],
    [1_230_000_000, '1.23 G'],
    [-2500, '-2.5 k'],
  ])('%d -> %s', (n, text) => {
    expect(si(n)).toBe(text);
  });
  it('formats bit rates', () => {
    expect(bps(500e6)).toBe('500 Mbit/s');
    expect(bps(2e9)).toBe('2 Gbit/s');
  });
});
