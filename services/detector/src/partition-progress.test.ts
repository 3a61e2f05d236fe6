import { describe, expect, it } from 'vitest';
import { behindHighWatermark, PartitionProgress } from './partition-progress.js';

describe('PartitionProgress', () => {
  it('holds at the slowest partition read lately, and not at one gone idle', () => {
    const p = new PartitionProgress(2_000, 30_000);
    expect(p.hold(0)).toBe(Number.POSITIVE_INFINITY);
    p.update(0, 100_000, 0, false);
    p.update(1, 40_000, 500, false);
    p.update(0, 160_000, 1_000, false);
    expect(p.hold(1_000)).toBe(40_000);
    // Partition 1 not read for 2 s and caught up: an exporter with nothing to say holds nobody.
    expect(p.hold(2_500)).toBe(160_000);
    expect(p.hold(3_000)).toBe(Number.POSITIVE_INFINITY);
  });

  it('keeps holding at a partition with a backlog until it is read again, for a while', () => {
    const p = new PartitionProgress(2_000, 30_000);
    p.update(0, 100_000, 0, false);
    p.update(1, 40_000, 0, true);
    p.update(0, 110_000, 10_000, false);
    expect(p.hold(10_000)).toBe(40_000);
    // Reception time never goes back within a partition.
    p.update(1, 30_000, 11_000, true);
    expect(p.hold(11_000)).toBe(40_000);
    // A backlog not read for 30 s is no longer this member's to wait for.
    expect(p.hold(41_000)).toBe(Number.POSITIVE_INFINITY);
    p.update(1, 50_000, 41_500, true);
    p.retain([0]);
    expect(p.hold(41_500)).toBe(Number.POSITIVE_INFINITY);
  });

  it("takes a partition read to its end as having reached the stream's reception time, not its own last flow's", () => {
    const p = new PartitionProgress(2_000, 30_000);
    // Partition 0 carries a busy exporter; partition 1 a sparse one whose last flow was received at 40 s.
    p.update(0, 160_000, 0, false, 160_000);
    p.update(1, 40_000, 100, false, 160_000);
    expect(p.hold(100)).toBe(160_000);
    // With a backlog its own flows are its progress.
    p.update(1, 45_000, 200, true, 170_000);
    expect(p.hold(200)).toBe(160_000);
    const q = new PartitionProgress(2_000, 30_000);
    q.update(0, 160_000, 0, false, 160_000);
    q.update(1, 45_000, 200, true, 170_000);
    expect(q.hold(200)).toBe(45_000);
  });

  it('reads the high watermark as the offset after the last message', () => {
    expect(behindHighWatermark('41', '42')).toBe(false);
    expect(behindHighWatermark('41', '43')).toBe(true);
    expect(behindHighWatermark('9007199254740993', '9007199254740995')).toBe(true);
  });
});
