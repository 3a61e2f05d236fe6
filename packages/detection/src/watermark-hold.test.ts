import type { FlowRecord } from '@flowwatch/flow-schema';
import { describe, expect, it, vi } from 'vitest';
import { backgroundTraffic, TUESDAY, testEngine } from './test-network.js';

vi.setConfig({ testTimeout: 60_000 });

const T0 = TUESDAY + 10 * 3_600_000;
const SKEW_MS = 40_000;
const received = (f: FlowRecord) => f.time_received_ns / 1e6;

/**
 * Two Kafka partitions read unevenly: supplier-b's flows (one partition) reach the engine 40 s of
 * event time after everyone else's (the other), as when one partition has a backlog or a flood's
 * batch was read ahead. With `hold`, the engine is told how far the slow partition has been read,
 * as the service does after every batch.
 */
function replay(hold: boolean) {
  const engine = testEngine({ volume: { minHistoryIntervals: 5, minBytes: 100_000, minPackets: 100, minFlows: 20 } });
  const all = [...backgroundTraffic({ startMs: T0, seconds: 2400, peakPerSecond: 30, seed: 7 })];
  const slow = all.filter((f) => f.supplier_id === 'supplier-b');
  const fast = all.filter((f) => f.supplier_id !== 'supplier-b');
  const changes = [];
  let i = 0;
  let j = 0;
  let slowReceived = Number.NEGATIVE_INFINITY;
  for (let t = T0; t <= T0 + 2400_000 + SKEW_MS; t += 1_000) {
    // One batch of each partition per second: the fast one up to t, the slow one up to t - skew.
    while (i < fast.length && received(fast[i]!) < t) engine.process(fast[i++]!);
    while (j < slow.length && received(slow[j]!) < t - SKEW_MS) {
      slowReceived = received(slow[j]!);
      engine.process(slow[j++]!);
    }
    if (hold) engine.holdWatermark(slowReceived);
    changes.push(...engine.drain());
  }
  return { changes, late: engine.clock.lateFlows, engine };
}

describe('watermark hold (partitions read unevenly)', () => {
  it('waits for the partition read behind: none of its flows late, no drop or silence of what it carries', () => {
    const held = replay(true);
    expect(held.late).toBe(0);
    const bad = held.changes.filter(
      (c) => c.event === 'opened' && ['volume_drop', 'volume_spike', 'telemetry_silence'].includes(c.alert.type),
    );
    expect(bad.map((c) => c.alert.summary)).toEqual([]);
  });

  it('without the hold, the same reading makes the slow partition late (what the hold prevents)', () => {
    const free = replay(false);
    expect(free.late).toBeGreaterThan(1000);
  });

  it('waits at most maxPartitionSkewMs: beyond it the slow partition is late', () => {
    const engine = testEngine({ maxPartitionSkewMs: 10_000 });
    const t0 = T0;
    engine.holdWatermark(t0);
    engine.advanceTo(t0 + 30_000);
    // Held at t0 for at most 10 s: the watermark is 30 s - 10 s - 5 s lateness past t0.
    expect(engine.clock.watermarkMs).toBe(t0 + 15_000);
    engine.holdWatermark(Number.POSITIVE_INFINITY);
    expect(engine.clock.watermarkMs).toBe(t0 + 25_000);
  });
});
