import { describe, expect, it, vi } from 'vitest';
import { backgroundTraffic, flow, merge, run, TUESDAY, testEngine } from '../test-network.js';

vi.setConfig({ testTimeout: 60_000 });
const T0 = TUESDAY + 9 * 3_600_000;
const config = { exfiltration: { minHistoryIntervals: 45, minBytesOrganisation: 5e6, minBytesHost: 2e6 } };
const exfil = (changes: ReturnType<typeof run>) => changes.filter((c) => c.alert.type === 'exfiltration' && c.event === 'opened');

/** Its normal: 100 kB to the internet every 20 s. */
function* usual(from: number, to: number) {
  for (let t = from; t < to; t += 20_000) yield flow({ t, src: '10.4.0.9', dst: '198.51.100.201', packets: 80, bytes: 100_000 });
}

function* upload(from: number, to: number) {
  // 10.4.0.9 (Organisation 3) uploads 40 MB a minute to one internet address.
  for (let t = from; t < to; t += 250) yield flow({ t, src: '10.4.0.9', dst: '198.51.100.200', packets: 120, bytes: 166_000 });
}

describe('exfiltration detector', () => {
  it('raises a host and its organisation sending far more to the internet than usual', () => {
    const start = T0 + 3_600_000;
    const changes = exfil(
      run(
        testEngine(config),
        merge(
          backgroundTraffic({ startMs: T0, seconds: 4200, peakPerSecond: 30, seed: 13 }),
          usual(T0, T0 + 4_200_000),
          upload(start, start + 300_000),
        ),
      ),
    );
    const entities = changes.map((c) => `${c.alert.entity.kind}:${c.alert.entity.id}`);
    expect(entities).toContain('host:10.4.0.9');
    expect(entities).toContain('organisation:O03');
    expect(changes.find((c) => c.alert.entity.kind === 'host')!.alert.summary).toMatch(
      /^10\.4\.0\.9 in Organisation 3 \(supplier-a\) sent .* to the internet in 1 min/,
    );
  });

  it('stays quiet on normal traffic and below the minimum volume', () => {
    expect(
      exfil(
        run(
          testEngine(config),
          merge(backgroundTraffic({ startMs: T0, seconds: 4200, peakPerSecond: 30, seed: 14 }), usual(T0, T0 + 4_200_000)),
        ),
      ),
    ).toEqual([]);
    const start = T0 + 3_600_000;
    const high = { exfiltration: { ...config.exfiltration, minBytesOrganisation: 1e12, minBytesHost: 1e12 } };
    expect(
      exfil(
        run(
          testEngine(high),
          merge(
            backgroundTraffic({ startMs: T0, seconds: 4200, peakPerSecond: 30, seed: 13 }),
            usual(T0, T0 + 4_200_000),
            upload(start, start + 300_000),
          ),
        ),
      ),
    ).toEqual([]);
  });
});
