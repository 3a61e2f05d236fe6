import { describe, expect, it } from 'vitest';
import { backgroundTraffic, flow, hostOf, merge, run, TUESDAY, testEngine } from '../test-network.js';

const T0 = TUESDAY + 10 * 3_600_000;
const LEARN = 10 * 60_000;
const lateral = (changes: ReturnType<typeof run>) => changes.filter((c) => c.alert.type === 'lateral_movement');

describe('lateral movement detector', () => {
  it('reports a worm: one host reaching many organisations on SMB, once, updated while it spreads', () => {
    const start = T0 + LEARN + 60_000;
    function* worm() {
      for (let i = 0; i < 60; i++)
        yield flow({
          t: start + i * 2000,
          src: '10.1.0.99',
          dst: hostOf(2 + (i % 20), 50),
          dstPort: 445,
          packets: 3,
          flags: 0x02,
          supplier: 'supplier-b',
        });
    }
    const changes = run(
      testEngine({ learningPeriodMs: LEARN }),
      merge(backgroundTraffic({ startMs: T0, seconds: 900, peakPerSecond: 30, seed: 6 }), worm()),
    );
    const host = lateral(changes).filter((c) => c.alert.entity.kind === 'host');
    const opened = host.filter((c) => c.event === 'opened');
    expect(opened).toHaveLength(1);
    expect(opened[0]!.alert.summary).toBe(
      'Leeds Teaching Hospitals (supplier-b) host 10.1.0.99 reached 5 organisations on SMB/445 in 1 min',
    );
    // Later changes are updates or escalations of the same alert, never a second one.
    expect(new Set(host.map((c) => c.alert.id)).size).toBe(1);
    expect(host.length).toBeLessThan(10);
    expect(Math.max(...host.map((c) => c.alert.observed))).toBeGreaterThanOrEqual(10);
  });

  it('allows what policy or the learning period allowed, and reports a new pair on RDP', () => {
    const engine = testEngine({ learningPeriodMs: LEARN, lateral: { allow: [{ from: 'group:acute', to: '*', ports: [22] }] } });
    function* admin() {
      // Learnt during learning: O03 -> O04 on SMB.
      for (let i = 0; i < 20; i++) yield flow({ t: T0 + i * 60_000, src: hostOf(3, 5), dst: hostOf(4, 5), dstPort: 445 });
      // Allowed by rule: Leeds (group acute) -> anyone on SSH.
      yield flow({ t: T0 + LEARN + 120_000, src: '10.1.0.5', dst: hostOf(9, 9), dstPort: 22 });
      // Not allowed: O05 -> O06 on RDP.
      yield flow({ t: T0 + LEARN + 180_000, src: hostOf(5, 5), dst: hostOf(6, 6), dstPort: 3389, supplier: 'supplier-c' });
    }
    const changes = lateral(run(engine, admin()));
    expect(changes.map((c) => `${c.event} ${c.alert.entity.id}:${c.alert.dst_port}`)).toEqual(['opened O05>O06:3389']);
    expect(changes[0]!.alert.supplier_ids.sort()).toEqual(['supplier-a', 'supplier-c']);
  });
});
