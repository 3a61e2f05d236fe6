import { describe, expect, it } from 'vitest';
import { oneAtATime } from './one-at-a-time.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('oneAtATime', () => {
  it('never runs two calls for one key at once, keeps their order, and runs other keys alongside', async () => {
    const log: string[] = [];
    let running = 0;
    let maxSameKey = 0;
    const active = new Map<string, number>();
    const run = oneAtATime(async (x: { key: string; n: number; ms: number }) => {
      const a = (active.get(x.key) ?? 0) + 1;
      active.set(x.key, a);
      maxSameKey = Math.max(maxSameKey, a);
      running++;
      log.push(`start ${x.key}${x.n} (${running} running)`);
      await tick(x.ms);
      log.push(`end ${x.key}${x.n}`);
      running--;
      active.set(x.key, a - 1);
    });
    await Promise.all([
      run({ key: 'p0', n: 1, ms: 30 }),
      run({ key: 'p0', n: 2, ms: 5 }),
      run({ key: 'p1', n: 1, ms: 10 }),
      run({ key: 'p0', n: 3, ms: 1 }),
    ]);
    expect(maxSameKey).toBe(1);
    const p0 = log.filter((l) => l.includes('p0'));
    expect(p0.map((l) => l.split(' (')[0])).toEqual(['start p01', 'end p01', 'start p02', 'end p02', 'start p03', 'end p03']);
    // p1 started while p0's first call was running.
    expect(log.indexOf('start p11 (2 running)')).toBeGreaterThan(-1);
  });

  it('releases the key when a call fails', async () => {
    const run = oneAtATime(async (x: { key: string; fail: boolean }) => {
      if (x.fail) throw new Error('insert failed');
    });
    await expect(run({ key: 'p0', fail: true })).rejects.toThrow('insert failed');
    await expect(run({ key: 'p0', fail: false })).resolves.toBeUndefined();
  });
});
