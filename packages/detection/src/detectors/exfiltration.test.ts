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
    const high = {
      exfiltration: { ...config.exfiltration, minBytesOrganisation: 1e12, minBytesHost: 1e12, sustained: { minBytes: 1e12 } },
    };
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

  describe('sustained upload (a slow leak below the per-interval floors)', () => {
    const LEARN = 20 * 60_000;
    const slow = { learningPeriodMs: LEARN };
    /** `addr` uploads `rate` bytes/s in 30-second flows to one address, ACKs coming back. */
    function* leak(addr: string, from: number, to: number, rate: number) {
      for (let t = from; t < to; t += 30_000) {
        yield flow({ t, src: addr, dst: '198.51.100.77', dstPort: 443, packets: Math.ceil((rate * 30) / 1400), bytes: rate * 30 });
        yield flow({
          t,
          src: '198.51.100.77',
          dst: addr,
          srcPort: 443,
          dstPort: 51000,
          packets: Math.ceil((rate * 15) / 1400),
          bytes: Math.ceil((rate * 15) / 1400) * 52,
        });
      }
    }
    /** `addr` browses: large downloads, requests going out. */
    function* browse(addr: string, from: number, to: number, upRate: number) {
      for (let t = from; t < to; t += 30_000) {
        yield flow({ t, src: addr, dst: '203.0.113.80', dstPort: 443, packets: 200, bytes: upRate * 30 });
        yield flow({ t, src: '203.0.113.80', dst: addr, srcPort: 443, dstPort: 52000, packets: 5000, bytes: upRate * 30 * 8 });
      }
    }

    it('reports a host leaking 50 kB/s for an hour once its upload over the window reaches the minimum', () => {
      const start = T0 + LEARN + 10 * 60_000;
      const changes = exfil(
        run(
          // The upload-surge rule off: it reports this leak earlier (next test).
          testEngine({ ...slow, exfiltration: { surge: { minBytes: 1e12 } } }),
          merge(
            backgroundTraffic({ startMs: T0, seconds: 7200, peakPerSecond: 8, seed: 15 }),
            leak('10.4.0.77', start, start + 3_600_000, 50_000),
          ),
        ),
      );
      expect(changes.map((c) => `${c.alert.entity.kind}:${c.alert.entity.id}`)).toEqual(['host:10.4.0.77']);
      const a = changes[0]!.alert;
      expect(a.summary).toMatch(
        /^10\.4\.0\.77 in Organisation 3 \(supplier-a\) uploaded 10\d MB to the internet in the last 1 h and received/,
      );
      // 100 MB at 1.5 MB a 30-second flow: the 67th flow, about 33 minutes in.
      const delayMin = (Date.parse(a.first_seen) - start) / 60_000;
      expect(delayMin).toBeGreaterThan(30);
      expect(delayMin).toBeLessThan(36);
    });

    it('upload surge: reports a 13-minute leak at 50 kB/s (39 MB, under the hour rule) about 7 minutes in', () => {
      const start = T0 + LEARN + 10 * 60_000;
      const changes = exfil(
        run(
          testEngine(slow),
          merge(
            backgroundTraffic({ startMs: T0, seconds: 4800, peakPerSecond: 8, seed: 15 }),
            leak('10.4.0.77', start, start + 13 * 60_000, 50_000),
          ),
        ),
      );
      expect(changes.map((c) => `${c.alert.entity.kind}:${c.alert.entity.id}`)).toEqual(['host:10.4.0.77']);
      const a = changes[0]!.alert;
      expect(a.summary).toMatch(/uploaded 2\d\.\d MB to the internet in the last 15 min and received/);
      // 20 MB without the largest flow at 1.5 MB a 30-second flow: the 15th flow, 7 minutes in,
      // held until the next one (7.5 minutes).
      const delayMin = (Date.parse(a.first_seen) - start) / 60_000;
      expect(delayMin).toBeGreaterThan(7);
      expect(delayMin).toBeLessThan(8);
    });

    it('upload surge: holds a host to its own level: quiet on a host that usually uploads a third as much, not on a new one', () => {
      // 10.6.0.31 uploads 25 kB/s (22 MB in 15 min) from the start, then 70 kB/s for 13 min (55 MB);
      // 10.6.0.32 only does the latter.
      const start = T0 + LEARN + 60 * 60_000;
      const changes = exfil(
        run(
          testEngine(slow),
          merge(
            backgroundTraffic({ startMs: T0, seconds: 7200, peakPerSecond: 8, seed: 16 }),
            leak('10.6.0.31', T0, start, 25_000),
            leak('10.6.0.31', start, start + 13 * 60_000, 70_000),
            leak('10.6.0.32', start, start + 13 * 60_000, 70_000),
          ),
        ),
      );
      expect(changes.map((c) => `${c.alert.entity.kind}:${c.alert.entity.id}`)).toEqual(['host:10.6.0.32']);
      expect(changes[0]!.alert.summary).toMatch(/in the last 15 min/);
    });

    it('upload surge: not one large upload flow, nor an exchange whose replies come in the next record', () => {
      const start = T0 + LEARN + 10 * 60_000;
      function* calls() {
        // A video call: 30 MB up in one flow, the reply record (25 MB down) right after it.
        for (let k = 0; k < 6; k++) {
          const t = start + k * 120_000;
          yield flow({ t, src: '10.7.0.40', dst: '203.0.113.90', proto: 17, dstPort: 3478, packets: 25_000, bytes: 30e6 });
          yield flow({ t, src: '203.0.113.90', dst: '10.7.0.40', proto: 17, srcPort: 3478, dstPort: 50000, packets: 20_000, bytes: 25e6 });
        }
        // One 40 MB upload to cloud storage.
        yield flow({ t: start + 60_000, src: '10.7.0.41', dst: '203.0.113.91', packets: 30_000, bytes: 40e6 });
      }
      const changes = exfil(
        run(testEngine(slow), merge(backgroundTraffic({ startMs: T0, seconds: 3600, peakPerSecond: 8, seed: 17 }), calls())),
      );
      expect(changes).toEqual([]);
    });

    it('leaves alone a host that downloads far more than it uploads, and one that uploaded as much while learning', () => {
      const start = T0 + LEARN + 10 * 60_000;
      const changes = exfil(
        run(
          testEngine(slow),
          merge(
            backgroundTraffic({ startMs: T0, seconds: 7200, peakPerSecond: 8, seed: 16 }),
            browse('10.5.0.20', start, start + 3_600_000, 60_000),
            // A gateway that uploads 60 kB/s all the time, learning period included.
            leak('10.6.0.30', T0, T0 + 7_200_000, 60_000),
          ),
        ),
      );
      expect(changes).toEqual([]);
    });

    it('one entity a host; a day without uploads forgets its interval baseline, not what its upload rules learnt', () => {
      const engine = testEngine(slow);
      const hostsOf = () =>
        engine.exfiltration
          .snapshot()
          .filter((s) => s.kind === 'host')
          .map((s) => s.id)
          .sort();
      const uploadsOf = () => engine.exfiltration.snapshotUploads().map((s) => s.addr);
      // The gateway uploads while learning; 10.5.0.20 uploads once afterwards; one inside flow a
      // minute keeps the intervals closing.
      const once = flow({ t: T0 + LEARN + 60_000, src: '10.5.0.20', dst: '198.51.100.9', packets: 2, bytes: 1000 });
      function* minutes(from: number, to: number) {
        for (let t = from; t < to; t += 60_000) yield flow({ t, src: '10.4.0.9', dst: '10.5.0.1', packets: 2, bytes: 500 });
      }
      run(engine, merge(leak('10.6.0.30', T0, T0 + LEARN, 60_000), [once], minutes(T0, T0 + LEARN + 10 * 60_000)));
      // Uploading and downloading, each host is one entity (and 2 organisations).
      expect(engine.exfiltration.hosts.size).toBe(2);
      expect(engine.stats().entities.exfiltration).toBe(4);
      expect(hostsOf()).toEqual(['10.5.0.20', '10.6.0.30']);
      expect(uploadsOf()).toEqual(['10.6.0.30']);
      run(engine, minutes(T0 + LEARN + 10 * 60_000, T0 + LEARN + 1460 * 60_000));
      expect(hostsOf()).toEqual([]);
      expect(uploadsOf()).toEqual(['10.6.0.30']);
      expect(engine.exfiltration.hosts.size).toBe(1);
    });

    it('a checkpoint keeps what hosts uploaded while learning: the gateway stays quiet after a restart, a new leak does not', () => {
      const split = T0 + LEARN + 10 * 60_000;
      const end = split + 3_600_000;
      const before = testEngine(slow);
      run(
        before,
        merge(
          backgroundTraffic({ startMs: T0, seconds: (split - T0) / 1000, peakPerSecond: 8, seed: 16 }),
          leak('10.6.0.30', T0, split, 60_000),
        ),
      );
      const snapshot = JSON.parse(JSON.stringify(before.snapshot()));
      const after = (s: typeof snapshot) => {
        const engine = testEngine(slow);
        engine.restore(s);
        return exfil(
          run(
            engine,
            merge(
              backgroundTraffic({ startMs: split, seconds: 3600, peakPerSecond: 8, seed: 18 }),
              leak('10.6.0.30', split, end, 60_000),
              leak('10.4.0.77', split + 10 * 60_000, end, 50_000),
            ),
          ),
        ).map((c) => `${c.alert.entity.kind}:${c.alert.entity.id}`);
      };
      expect(after(snapshot)).toEqual(['host:10.4.0.77']);
      // A checkpoint without the hosts' upload state (as written before it was kept): the gateway is
      // held to the bare minimums and reported.
      expect(after({ ...snapshot, uploads: undefined })).toContain('host:10.6.0.30');
    });
  });
});
