import { describe, expect, it } from 'vitest';
import { DropWindow } from './drop-window.js';

const criteria = { minExpectedFlows: 100, ratio: 0.25, zThreshold: 6, spread: 0.5, maxEmptyRate: 0.02 };

describe('DropWindow', () => {
  it('finds the shortest run of recent intervals whose expected flows reach the floor and that is far under them', () => {
    const w = new DropWindow(10);
    for (let i = 0; i < 10; i++) w.push(30, 30, 3e6, 3e6, 0);
    expect(w.judge(criteria)).toBeUndefined();
    w.push(1, 30, 1e5, 3e6, 0);
    // One interval: 30 expected flows, under the floor of 100.
    expect(w.judge(criteria)).toBeUndefined();
    w.push(2, 30, 2e5, 3e6, 0);
    w.push(1, 30, 1e5, 3e6, 0);
    // Three intervals: 90 expected, still under; four reach back before the drop (34 of 120).
    expect(w.judge(criteria)).toBeUndefined();
    w.push(1, 30, 1e5, 3e6, 0);
    const drop = w.judge(criteria);
    expect(drop).toMatchObject({ intervals: 4, observedFlows: 5, expectedFlows: 120 });
    // ln(6 / 121) / max(0.5 / 2, 1 / sqrt(121)) = -12.0
    expect(drop!.z).toBeCloseTo(Math.log(6 / 121) / 0.25, 5);
  });

  it('is no drop when the latest interval is back to normal, or when bytes did not fall', () => {
    const w = new DropWindow(10);
    for (let i = 0; i < 6; i++) w.push(1, 30, 1e5, 3e6, 0);
    expect(w.judge(criteria)?.intervals).toBe(4);
    w.push(30, 30, 3e6, 3e6, 0);
    expect(w.judge(criteria)).toBeUndefined();
    const bytes = new DropWindow(10);
    for (let i = 0; i < 6; i++) bytes.push(1, 30, 3e6, 3e6, 0);
    expect(bytes.judge(criteria)).toBeUndefined();
  });

  it('needs more than the ratio: a noisy entity whose spread explains the fall is no drop', () => {
    const w = new DropWindow(10);
    for (let i = 0; i < 10; i++) w.push(5, 30, 5e5, 3e6, 0);
    // 50 of 300 flows is 17 %, under the ratio, but ln(51 / 301) / (3 / sqrt(10)) is only -1.9.
    expect(w.judge({ ...criteria, spread: 3 })).toBeUndefined();
    expect(w.judge(criteria)?.intervals).toBe(4);
  });

  it('judges only entities that were continuously active before the run (sessions come and go)', () => {
    // An entity empty one interval in ten, then four empty intervals.
    const w = new DropWindow(10);
    for (let i = 0; i < 6; i++) w.push(30, 30, 3e6, 3e6, 0.1);
    for (let i = 0; i < 4; i++) w.push(0, 30, 0, 3e6, 0.1);
    expect(w.judge(criteria)).toBeUndefined();
    const busy = new DropWindow(10);
    for (let i = 0; i < 6; i++) busy.push(30, 30, 3e6, 3e6, 0);
    for (let i = 0; i < 4; i++) busy.push(0, 30, 0, 3e6, i === 0 ? 0 : 0.1);
    // The rate before the run's first interval is what counts (the drop's own empties do not).
    expect(busy.judge(criteria)?.intervals).toBe(4);
  });

  it('keeps only the last `size` intervals', () => {
    const w = new DropWindow(3);
    for (let i = 0; i < 5; i++) w.push(0, 30, 0, 3e6, 0);
    expect(w.intervals).toBe(3);
    // Three intervals hold 90 expected flows: never the floor of 100.
    expect(w.judge(criteria)).toBeUndefined();
    expect(w.judge({ ...criteria, minExpectedFlows: 90 })?.intervals).toBe(3);
  });
});
