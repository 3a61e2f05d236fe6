import type { FlowRecord } from '@flowwatch/flow-schema';
import { describe, expect, it } from 'vitest';
import { backgroundTraffic, run, TUESDAY, testEngine } from '../test-network.js';

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
