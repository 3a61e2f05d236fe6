import type { FlowRecord } from '@flowwatch/flow-schema';
import { describe, expect, it, vi } from 'vitest';
import { backgroundTraffic, flow, merge, run, TUESDAY, testEngine } from '../test-network.js';

// Generated background traffic: seconds on a quiet core, more on a loaded one.
vi.setConfig({ testTimeout: 60_000 });

const T0 = TUESDAY + 10 * 3_600_000;
const silence = (changes: ReturnType<typeof run>) => changes.filter((c) => c.alert.type === 'telemetry_silence');

function* without(stop: number, drop: (f: FlowRecord) => boolean) {
  for (const f of backgroundTraffic({ startMs: T0, seconds: 1800, peakPerSecond: 30, seed: 12 })) {
    if (f.time_received_ns / 1e6 >= stop && drop(f)) continue;
    yield f;
  }
}

describe('telemetry silence detector', () => {
  it('reports a whole supplier gone silent once (not each exporter), and resolves when it is back', () => {
    const stop = T0 + 600_000;
    const back = T0 + 1_200_000;
    const changes = run(
      testEngine(),
      without(stop, (f) => f.supplier_id === 'supplier-c' && f.time_received_ns / 1e6 < back),
    );
    const c = silence(changes);
    expect(c.filter((x) => x.event === 'opened').map((x) => x.alert.entity.id)).toEqual(['supplier-c']);
    const opened = c.find((x) => x.event === 'opened')!.alert;
    // Minimum silence 3 min: reported 3 to 4 min after the last flow.
    expect(Date.parse(opened.detected_at) - stop).toBeGreaterThanOrEqual(180_000);
    expect(Date.parse(opened.detected_at) - stop).toBeLessThan(250_000);
    expect(opened.summary).toMatch(/^Supplier C \(supplier-c\) has sent no flows for \d+ min/);
    expect(c.some((x) => x.event === 'resolved')).toBe(true);
  });

  it('leaves the drops of what a silent supplier carries to the silence alert (its organisations, its services)', () => {
    // Twenty minutes of history (16 residuals are needed before a volume alert).
    const stop = T0 + 1_200_000;
    const volume = { minHistoryIntervals: 5, minBytes: 100_000, minPackets: 100, minFlows: 20 };
    const engine = testEngine({ volume });
    const changes = run(
      engine,
      without(stop, (f) => f.supplier_id === 'supplier-c'),
    );
    // Counted (alerts_suppressed_total{reason="silence"} and {reason="undelivered"}), not silently dropped.
    expect(engine.stats().blindDrops).toBeGreaterThan(0);
    expect(engine.stats().behindDrops).toBeGreaterThan(0);
    const opened = silence(changes).find((x) => x.event === 'opened' && x.alert.entity.id === 'supplier-c');
    expect(opened).toBeDefined();
    // Before the silence is known (3 min) its exporters are behind, delivering nothing: their
    // drops wait; once it is known, the silence names the blind spot. No drop of what supplier-c
    // carries is raised at all (an alert per organisation saying "0 flows" of what nobody can see).
    const ofC = changes.filter((c) => c.alert.type === 'volume_drop' && c.alert.supplier_ids.includes('supplier-c'));
    expect(ofC.map((c) => c.alert.summary)).toEqual([]);
    // Other suppliers' organisations did not drop either.
    expect(changes.filter((c) => c.event === 'opened' && c.alert.type === 'volume_drop').map((c) => c.alert.summary)).toEqual([]);
  });

  it('reports one exporter gone silent', () => {
    const changes = run(
      testEngine(),
      without(T0 + 600_000, (f) => f.supplier_id === 'supplier-a' && f.exporter_id === 'core-2'),
    );
    expect(
      silence(changes)
        .filter((x) => x.event === 'opened')
        .map((x) => x.alert.entity.id),
    ).toEqual(['supplier-a/core-2']);
  });

  it('stays quiet on normal traffic, and on a source with too little history', () => {
    expect(
      silence(
        run(
          testEngine(),
          without(0, () => false),
        ),
      ),
    ).toEqual([]);
    const engine = testEngine({ silence: { minHistory: 100_000 } });
    expect(
      silence(
        run(
          engine,
          without(T0 + 600_000, (f) => f.supplier_id === 'supplier-c'),
        ),
      ),
    ).toEqual([]);
  });
});

describe('telemetry silence and a sparse cadence', () => {
  // supplier-a/core-1 is sparse, as an exporter is at night: every 20 s, but every 16th gap is
  // 4 min (the first one before minHistory arrivals). supplier-b/core-1 reports every 5 s and moves time on.
  let lastSparseMs = 0;
  function* traffic(stopMs: number) {
    const end = T0 + 4 * 3_600_000;
    let sparse = T0;
    let k = 0;
    for (let t = T0; t < end; t += 5000) {
      yield flow({ t, src: '10.1.0.9', dst: '10.250.1.1', supplier: 'supplier-b', exporter: 'core-1' });
      if (t >= sparse) {
        if (t < stopMs) {
          lastSparseMs = t;
          yield flow({ t, src: '10.2.0.9', dst: '10.250.1.1', supplier: 'supplier-a', exporter: 'core-1' });
        }
        sparse = t + (++k % 16 === 0 ? 240_000 : 20_000);
      }
    }
  }
  const opened = (changes: ReturnType<typeof run>) =>
    silence(changes)
      .filter((x) => x.event === 'opened')
      .map((x) => ({ id: x.alert.entity.id, afterMs: Date.parse(x.alert.first_seen) }));

  it("stays quiet on a sparse exporter's usual 4-minute gaps and still reports it when it stops", () => {
    expect(opened(run(testEngine(), traffic(Number.POSITIVE_INFINITY)))).toEqual([]);
    const stop = T0 + 3 * 3_600_000;
    const alerts = opened(run(testEngine(), traffic(stop)));
    expect(alerts.map((a) => a.id)).toEqual(['supplier-a']);
    // 3 x the longest recent gap (4 min): 12 min after its last flow (received 1 s after it).
    expect(alerts[0]!.afterMs - lastSparseMs).toBeGreaterThanOrEqual(12 * 60_000);
    expect(alerts[0]!.afterMs - lastSparseMs).toBeLessThan(12 * 60_000 + 10_000);
  });

  it("keeps a sparse exporter's cadence through a burst (a flood through it): its next 4-minute gap is no silence", () => {
    // After 2 h of the sparse cadence, 6,000 flows in 5 minutes through supplier-a/core-1.
    const burstFrom = T0 + 2 * 3_600_000;
    function* withBurst() {
      for (const f of traffic(Number.POSITIVE_INFINITY)) yield f;
    }
    function* burst() {
      for (let i = 0; i < 6000; i++)
        yield flow({ t: burstFrom + i * 50, src: `10.2.1.${i % 250}`, dst: '10.250.1.1', supplier: 'supplier-a', exporter: 'core-1' });
    }
    expect(opened(run(testEngine(), merge(withBurst(), burst())))).toEqual([]);
  });

  it('restores its cadence from a checkpoint, and from one of the version that kept the last 64 gaps', () => {
    const engine = testEngine();
    const all = [...traffic(Number.POSITIVE_INFINITY)];
    const half = all.findIndex((f) => f.time_received_ns / 1e6 >= T0 + 2 * 3_600_000);
    run(engine, all.slice(0, half));
    const snapshot = JSON.parse(JSON.stringify(engine.snapshot()));
    const legacy = JSON.parse(JSON.stringify(snapshot));
    for (const s of legacy.silence) {
      s.recent = [Math.max(...s.gapMax)];
      s.next = 1;
      s.recentMaxMs = s.recent[0];
      delete s.gapMax;
      delete s.gapBucket;
    }
    for (const saved of [snapshot, legacy]) {
      const restored = testEngine();
      restored.restore(saved);
      // The sparse exporter's 4-minute gaps after the restart are its known cadence.
      expect(opened(run(restored, all.slice(half)))).toEqual([]);
    }
    // Restored with no cadence at all (the EWMA alone), its next 4-minute gap would be a silence.
    const bare = JSON.parse(JSON.stringify(legacy));
    for (const s of bare.silence) s.recent = undefined;
    const restored = testEngine();
    restored.restore(bare);
    expect(opened(run(restored, all.slice(half))).length).toBeGreaterThan(0);
  });

  it('with the EWMA alone (recentGapMultiplier tiny), the 4-minute gaps are false alerts', () => {
    const alerts = opened(run(testEngine({ silence: { recentGapMultiplier: 0.001 } }), traffic(Number.POSITIVE_INFINITY)));
    expect(alerts.length).toBeGreaterThan(0);
  });
});

describe('telemetry silence and an sFlow agent on a quiet link (heartbeats)', () => {
  // supplier-a/core-1 samples a flow every 20 minutes on its quiet link (until samplesUntil), and
  // 6,000 in the 5 minutes of a flood through it; its counter samples (every 20 s) reach the
  // detector as heartbeats until heartbeatsUntil. supplier-b/core-1 reports every 5 s and moves time on.
  const floodFrom = T0 + 2 * 3_600_000;
  let lastSampleMs = 0;
  function run2(heartbeatsUntil: number, samplesUntil = Number.POSITIVE_INFINITY) {
    const engine = testEngine();
    const changes = [];
    const end = T0 + 5 * 3_600_000;
    let nextSample = T0;
    let nextBeat = T0;
    for (let t = T0; t < end; t += 5000) {
      const batch = [flow({ t, src: '10.1.0.9', dst: '10.250.1.1', supplier: 'supplier-b', exporter: 'core-1' })];
      if (t >= nextSample) {
        if (t < samplesUntil) {
          batch.push(flow({ t, src: '10.2.0.9', dst: '10.250.1.1', supplier: 'supplier-a', exporter: 'core-1' }));
          lastSampleMs = t;
        }
        nextSample = t + 20 * 60_000;
      }
      if (t >= floodFrom && t < floodFrom + 300_000)
        for (let i = 0; i < 100; i++)
          batch.push(flow({ t, src: `10.2.1.${i}`, dst: '10.250.1.1', supplier: 'supplier-a', exporter: 'core-1' }));
      for (const f of batch) engine.process(f);
      if (t >= nextBeat && t < heartbeatsUntil) {
        engine.seeTelemetry('supplier-a', 'core-1', t + 1000);
        nextBeat = t + 20_000;
      }
      changes.push(...engine.drain());
    }
    return silence(changes)
      .filter((x) => x.event === 'opened')
      .map((x) => ({ id: x.alert.entity.id, atMs: Date.parse(x.alert.first_seen) }));
  }

  it('is not silent while its counter samples come, flood or not, and is reported when they stop', () => {
    expect(run2(Number.POSITIVE_INFINITY)).toEqual([]);
    const stop = T0 + 3 * 3_600_000;
    const alerts = run2(stop);
    expect(alerts.map((a) => a.id)).toEqual(['supplier-a']);
    // Its cadence is the heartbeats' (20 s): the 3-minute floor, not an hour of sparse samples.
    expect(alerts[0]!.atMs - stop).toBeGreaterThanOrEqual(150_000);
    expect(alerts[0]!.atMs - stop).toBeLessThan(200_000);
  });

  it('without heartbeats (flows only): the flood gives it no cadence its quiet link does not have, and its samples stopping is still reported', () => {
    // Its first gaps (20 min, before it is judged) are its cadence, not outages: after the flood
    // (its 30th arrival) the limit is 3 x 20 min, not 3 min after the flood's last flow.
    expect(run2(T0)).toEqual([]);
    const alerts = run2(T0, T0 + 3 * 3_600_000);
    expect(alerts.map((a) => a.id)).toEqual(['supplier-a']);
    // 3 x 20 min, or sooner when the hour that remembers its last gap ends (buckets of 10 min).
    expect(alerts[0]!.atMs - lastSampleMs).toBeGreaterThanOrEqual(50 * 60_000);
    expect(alerts[0]!.atMs - lastSampleMs).toBeLessThanOrEqual(61 * 60_000);
  });
});

describe('telemetry silence: a history in time', () => {
  it('a source first seen in a burst is not judged on it: its history is counted in minutes', () => {
    // A new exporter whose first 6,000 flows come in a 5-minute burst, then one every 15 minutes:
    // 30 arrivals in 5 minutes are no cadence; 10 minutes with arrivals are needed.
    function* traffic() {
      for (let t = T0; t < T0 + 3 * 3_600_000; t += 5000) {
        yield flow({ t, src: '10.1.0.9', dst: '10.250.1.1', supplier: 'supplier-b', exporter: 'core-1' });
        const k = t - T0;
        if (k < 300_000 || k % 900_000 === 0)
          yield flow({ t, src: `10.2.1.${(k / 5000) % 250}`, dst: '10.250.1.1', supplier: 'supplier-a', exporter: 'core-1' });
      }
    }
    expect(silence(run(testEngine(), traffic()))).toEqual([]);
    // Judged on arrivals alone, the burst's 5-s gaps were its cadence: silent 3 min after it.
    const byArrivals = silence(run(testEngine({ silence: { minActiveMinutes: 1 } }), traffic()));
    expect(byArrivals.filter((x) => x.event === 'opened').map((x) => x.alert.entity.id)).toContain('supplier-a');
  });
  it("keeps counting a run of one exporter's records when another source evicts its entries meanwhile", () => {
    // Room for 100 sources: the heartbeats of 250 exporters of supplier-b evict supplier-a's two.
    const engine = testEngine({ maxEntities: 100 });
    const at = (t: number) => flow({ t, src: '10.1.0.5', dst: '10.2.0.9' });
    engine.process(at(T0));
    engine.process(at(T0 + 1000));
    for (let k = 0; k < 250; k++) engine.seeTelemetry('supplier-b', `core-${k}`, T0 + 2000);
    expect(engine.silence.snapshot().filter((s) => s.supplier === 'supplier-a')).toEqual([]);
    // The same run goes on: its sources are back in the table, with their latest arrival.
    engine.process(at(T0 + 3000));
    engine.process(at(T0 + 4000));
    const a = engine.silence.snapshot().filter((s) => s.supplier === 'supplier-a');
    expect(a.map((s) => s.kind).sort()).toEqual(['exporter', 'supplier']);
    expect(a.every((s) => s.lastMs === T0 + 5000)).toBe(true);
  });
});
