import { describe, expect, it } from 'vitest';
import { backgroundTraffic, flow, hostOf, merge, run, TUESDAY, testEngine } from '../test-network.js';

const T0 = TUESDAY + 10 * 3_600_000;
const opened = (changes: ReturnType<typeof run>, type: string) => changes.filter((c) => c.alert.type === type && c.event === 'opened');
const background = (seed: number) => backgroundTraffic({ startMs: T0, seconds: 300, peakPerSecond: 40, seed });

describe('flood detector', () => {
  it('raises a SYN flood from many sources within 5 s, once', () => {
    const start = T0 + 120_000;
    const target = hostOf(5, 10);
    function* attack() {
      // 60,000 SYN packets per second from 500 spoofed sources, in flows of 300 packets every 5 ms.
      for (let i = 0; i < 6000; i++)
        yield flow({
          t: start + i * 5,
          src: `100.64.${(i % 500) >> 8}.${i % 250}`,
          dst: target,
          dstPort: 443,
          packets: 300,
          bytes: 300 * 60,
          flags: 0x02,
        });
    }
    const changes = run(testEngine(), merge(background(3), attack()));
    const syn = opened(changes, 'syn_flood');
    expect(syn).toHaveLength(1);
    expect(syn[0]!.alert.dst_addr).toBe(target);
    expect(Date.parse(syn[0]!.alert.first_seen) - start).toBeLessThan(5000);
    expect(syn[0]!.alert.summary).toContain('SYN flood');
    expect(opened(changes, 'flood')).toEqual([]);
  });

  it('raises a flood at twice its threshold within 3 s of its start (rate over the elapsed window)', () => {
    const start = T0 + 90_000;
    // An address the background never reaches: its window starts with the flood. (A window already
    // running when a flood starts dilutes it until it rolls: at most one window more.)
    const target = hostOf(5, 150);
    function* attack() {
      // 40,000 UDP packets per second (threshold 20,000) from 200 sources, 400 packets every 10 ms.
      for (let i = 0; i < 3000; i++)
        yield flow({ t: start + i * 10, src: `100.64.1.${i % 200}`, dst: target, dstPort: 53, proto: 17, packets: 400, bytes: 400 * 100 });
    }
    const changes = run(testEngine(), merge(background(5), attack()));
    const flood = opened(changes, 'flood');
    expect(flood).toHaveLength(1);
    expect(Date.parse(flood[0]!.alert.first_seen) - start).toBeLessThan(3000);
  });

  it('raises UDP amplification: large responses from reflector ports', () => {
    const start = T0 + 60_000;
    const target = hostOf(6, 20);
    function* attack() {
      // 40 NTP reflectors, 1,000-byte responses, 400 Mbit/s in total.
      for (let i = 0; i < 2000; i++)
        yield flow({
          t: start + i * 10,
          src: `192.0.2.${i % 40}`,
          dst: target,
          srcPort: 123,
          dstPort: 40_000 + (i % 100),
          proto: 17,
          packets: 500,
          bytes: 500_000,
        });
    }
    const changes = run(testEngine(), merge(background(4), attack()));
    const amp = opened(changes, 'amplification');
    expect(amp).toHaveLength(1);
    expect(amp[0]!.alert.summary).toMatch(/UDP amplification .* from 40 reflectors/);
  });

  it('stays quiet on normal traffic and a benign surge from few sources (a backup)', () => {
    const target = hostOf(7, 30);
    function* backup() {
      // 8 servers sending 30,000 packets/s of large TCP to one backup host.
      for (let i = 0; i < 30_000; i++)
        yield flow({ t: T0 + 100_000 + i * 5, src: hostOf(8, i % 8), dst: target, dstPort: 10_000, packets: 150, bytes: 150 * 1400 });
    }
    const changes = run(testEngine(), merge(background(5), backup()));
    for (const type of ['flood', 'syn_flood', 'amplification']) expect(opened(changes, type)).toEqual([]);
  });
});
