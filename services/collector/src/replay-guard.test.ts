import { describe, expect, it } from 'vitest';
import { ReplayGuard } from './replay-guard.js';

describe('ReplayGuard', () => {
  it('knows accepted bodies per supplier for its window, and holds at most maxEntries', () => {
    let now = 0;
    const g = new ReplayGuard(1000, 3, () => now);
    const k = g.key('a', '[1]');
    expect(g.replayed(k)).toBe(false);
    g.accepted(k);
    expect(g.replayed(k)).toBe(true);
    expect(g.replayed(g.key('b', '[1]'))).toBe(false);
    now = 1001;
    expect(g.replayed(k)).toBe(false);
    for (let i = 0; i < 10; i++) g.accepted(g.key('a', `[${i}]`));
    expect(g.size).toBe(3);
    expect(g.replayed(g.key('a', '[9]'))).toBe(true);
    expect(g.replayed(g.key('a', '[0]'))).toBe(false);
  });

  it('is off with a window of 0', () => {
    const g = new ReplayGuard(0, 3);
    const k = g.key('a', '[1]');
    g.accepted(k);
    expect(g.replayed(k)).toBe(false);
  });
});
