import { describe, expect, it } from 'vitest';
import { EventClock, IntervalSums, IntervalTotals } from './event-clock.js';
import { IntervalConversations } from './interval-conversations.js';

describe('EventClock', () => {
  it('closes an interval once the watermark (max event time - lateness) passes its end', () => {
    const clock = new EventClock(60_000, 5_000);
    const closed: number[] = [];
    const t0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
    expect(clock.assign(t0 + 1000)).toBe(t0);
    clock.advance(t0 + 1000, (s) => closed.push(s));
    clock.advance(t0 + 64_000, (s) => closed.push(s));
    expect(closed).toEqual([]);
    clock.advance(t0 + 65_000, (s) => closed.push(s));
    expect(closed).toEqual([t0]);
  });

  it('folds a late flow into the oldest open interval and counts it', () => {
    const clock = new EventClock(60_000, 5_000);
    const t0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
    clock.assign(t0);
    clock.advance(t0 + 70_000, () => {});
    expect(clock.assign(t0 + 10_000)).toBe(t0 + 60_000);
    expect(clock.lateFlows).toBe(1);
    // Within the lateness, the flow still counts in its own interval.
    expect(clock.assign(t0 + 61_000)).toBe(t0 + 60_000);
    expect(clock.lateFlows).toBe(1);
  });

  it('skips a long gap instead of closing thousands of empty intervals', () => {
    const clock = new EventClock(60_000, 5_000, 10);
    const t0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
    clock.assign(t0);
    let n = 0;
    clock.advance(t0 + 86_400_000, () => n++);
    expect(n).toBeLessThan(5);
    expect(clock.skippedIntervals).toBeGreaterThan(1400);
  });
});

describe('IntervalTotals', () => {
  it('keeps open intervals apart, reads a stale or taken slot as zero, and starts again after a take', () => {
    const t = new IntervalTotals(3, 60_000);
    t.add(0, 1.5);
    t.add(60_000, 10);
    t.add(0, 2);
    expect(t.take(0)).toBe(3.5);
    expect(t.take(0)).toBe(0);
    // A late value for a taken interval starts a new sum (as IntervalSums).
    t.add(0, 4);
    expect(t.take(0)).toBe(4);
    expect(t.take(120_000)).toBe(0);
    t.add(180_000, 5); // three slots: the slot of 0 again, replacing what was there
    expect(t.take(60_000)).toBe(10);
    expect(t.take(180_000)).toBe(5);
    t.add(240_000, 7); // the slot of 60,000, already taken
    expect(t.take(60_000)).toBe(0);
    expect(t.take(240_000)).toBe(7);
  });
});

describe('IntervalSums', () => {
  it('keeps open intervals apart and reads a stale slot as zero', () => {
    const sums = new IntervalSums(3, 3, 60_000);
    sums.add3(0, 1, 2, 3);
    sums.add3(60_000, 10, 20, 30);
    sums.add3(0, 1, 1, 1);
    const out = new Float64Array(3);
    // peek reads an open interval so far and keeps it; take reads and clears it.
    expect([...sums.peek(0, out)]).toEqual([2, 3, 4]);
    expect([...sums.take(0, out)]).toEqual([2, 3, 4]);
    expect([...sums.take(0, out)]).toEqual([0, 0, 0]);
    expect([...sums.peek(0, out)]).toEqual([0, 0, 0]);
    expect([...sums.take(60_000, out)]).toEqual([10, 20, 30]);
    sums.add3(180_000, 5, 5, 5); // same slot as 0: replaces the stale one
    expect([...sums.take(180_000, out)]).toEqual([5, 5, 5]);
  });

  it('keeps the three largest bytes and packets of an interval, and sums incident flows apart', () => {
    const sums = new IntervalSums(18, 3, 60_000);
    for (const [bytes, packets] of [
      [5, 50],
      [9, 10],
      [1, 70],
      [7, 20],
      [3, 60],
    ] as const)
      sums.add3max(0, bytes, packets, 1, bytes === 9);
    const v = [...sums.take(0, new Float64Array(18))];
    expect(v.slice(0, 3)).toEqual([25, 210, 5]);
    // Of the flows not the incident's: largest bytes, largest packets; the incident's bytes, packets,
    // flows; then the 2nd and 3rd largest bytes and packets.
    expect(v.slice(3, 12)).toEqual([7, 70, 9, 10, 1, 5, 3, 60, 50]);
  });

  it("moves flows already summed into the incident's part, never past the sums, and not into a closed interval", () => {
    const sums = new IntervalSums(18, 3, 60_000);
    sums.add3max(0, 100, 10, 1);
    sums.add3max(0, 50, 5, 1, true);
    sums.explain3(0, 30, 3, 1);
    expect([...sums.peek(0, new Float64Array(18))].slice(5, 8)).toEqual([80, 8, 2]);
    // More than was summed (a record counted before the interval's slot was reused): capped.
    sums.explain3(0, 500, 50, 5);
    expect([...sums.peek(0, new Float64Array(18))].slice(5, 8)).toEqual([150, 15, 2]);
    sums.take(0, new Float64Array(18));
    sums.explain3(0, 10, 1, 1);
    sums.add3max(180_000, 7, 1, 1);
    sums.explain3(0, 10, 1, 1);
    expect([...sums.peek(180_000, new Float64Array(18))].slice(5, 8)).toEqual([0, 0, 0]);
  });

  it("adds up one conversation's records (sFlow samples, active-timeout records) among the largest", () => {
    const sums = new IntervalSums(18, 3, 60_000);
    // Conversation 42: 130 samples of 1,400 bytes; 7 and 8: one record each; 0: unknown, each alone.
    sums.add3max(0, 5_000, 5, 1, false, 7);
    for (let i = 0; i < 130; i++) sums.add3max(0, 1_400, 1, 1, false, 42);
    sums.add3max(0, 9_000, 9, 1, false, 8);
    sums.add3max(0, 2_000, 2, 1, false, 0);
    sums.add3max(0, 2_000, 2, 1, false, 0);
    const v = sums.take(0, new Float64Array(18));
    expect([v[3], v[8], v[9]]).toEqual([182_000, 9_000, 5_000]);
    expect([v[12], v[13], v[14]]).toEqual([42, 8, 7]);
    expect([v[4], v[10], v[11]]).toEqual([130, 9, 5]);
  });

  it('moves a conversation up as it grows from third or second place, and never counts more than it sent', () => {
    const sums = new IntervalSums(18, 3, 60_000);
    sums.add3max(0, 100, 1, 1, false, 1);
    sums.add3max(0, 50, 1, 1, false, 2);
    sums.add3max(0, 30, 1, 1, false, 3);
    sums.add3max(0, 30, 1, 1, false, 3); // 60: second
    sums.add3max(0, 50, 1, 1, false, 3); // 110: first
    sums.add3max(0, 10, 1, 1, false, 4); // smaller than the third: not held
    sums.add3max(0, 60, 1, 1, false, 2); // 110 against 110: stays second
    const v = sums.take(0, new Float64Array(18));
    expect([v[3], v[8], v[9]]).toEqual([110, 110, 100]);
    expect([v[12], v[13], v[14]]).toEqual([3, 2, 1]);
    // Never more than the interval's bytes.
    expect(v[3]! + v[8]! + v[9]!).toBeLessThanOrEqual(v[0]!);
  });

  it('with running totals holds the three largest conversations even when every record is the same size (sFlow packets)', () => {
    const sums = new IntervalSums(18, 3, 60_000);
    const conversations = new IntervalConversations(3, 60_000);
    const add = (id: number, bytes: number, packets: number) => {
      conversations.add(0, id, bytes, packets);
      sums.add3max(0, bytes, packets, 1, false, id, conversations.bytes, conversations.packets);
    };
    // Conversations 1-3 send a few samples first; then 100 samples of 9 alternate with 99 one-sample conversations.
    for (const id of [1, 2, 3]) for (let i = 0; i < 3; i++) add(id, 1_400 * 1024, 1024);
    for (let i = 0; i < 100; i++) {
      add(9, 1_400 * 1024, 1024);
      if (i < 99) add(100 + i, 1_400 * 1024, 1024);
    }
    const v = sums.take(0, new Float64Array(18));
    expect(v[4]).toBe(100 * 1024);
    expect(v[15]).toBe(9);
    expect([v[10], v[11]]).toEqual([3 * 1024, 3 * 1024]);
    expect(v[4]! + v[10]! + v[11]!).toBeLessThanOrEqual(v[1]!);
  });
});
