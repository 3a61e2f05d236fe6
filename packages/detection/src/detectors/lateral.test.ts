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
    const host = lateral(changes).filter((c) => c.alert.entity.kind === 'organisation' && c.alert.src_org === 'RR8');
    const opened = host.filter((c) => c.event === 'opened');
    expect(opened).toHaveLength(1);
    // The first probe breaks policy (a pair no rule allows); then the host's reach makes it a worm.
    expect(opened[0]!.alert.summary).toMatch(
      /^10\.1\.0\.99 in Leeds Teaching Hospitals \(supplier-b\) connected to .* on SMB\/445, which no policy allows/,
    );
    const spread = host.find((c) => c.event === 'escalated');
    // Policy on SMB is already high; twice the worm threshold (10 organisations) makes it critical.
    expect(spread?.alert.summary).toMatch(
      /^Leeds Teaching Hospitals \(supplier-b\) host 10\.1\.0\.99 reached 1\d organisations on SMB\/445 in 1 min$/,
    );
    expect(spread?.alert.severity).toBe('critical');
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
    expect(changes.map((c) => `${c.event} ${c.alert.entity.id}>${c.alert.dst_org}:${c.alert.dst_port}`)).toEqual(['opened O05>O06:3389']);
    expect(changes[0]!.alert.summary).toMatch(
      /^10\.\d+\.\d+\.\d+ in .* connected to 10\.\d+\.\d+\.\d+ in .* on RDP\/3389, which no policy allows/,
    );
    expect(changes[0]!.alert.supplier_ids.sort()).toEqual(['supplier-a', 'supplier-c']);
  });

  it('groups a worm probing many organisations from a few infected ones: one alert per infected organisation and port', () => {
    const start = T0 + LEARN + 60_000;
    // Three hosts in RR8 and two in O07 probe SMB across 30 organisations each.
    const infected = [
      { src: '10.1.0.91', supplier: 'supplier-b' },
      { src: '10.1.0.92', supplier: 'supplier-b' },
      { src: '10.1.0.93', supplier: 'supplier-b' },
      { src: hostOf(7, 91), supplier: 'supplier-a' },
      { src: hostOf(7, 92), supplier: 'supplier-a' },
    ];
    function* worm() {
      for (let i = 0; i < 30; i++)
        for (const h of infected)
          yield flow({
            t: start + i * 1000,
            src: h.src,
            dst: hostOf(2 + ((i * 7) % 27), 60),
            dstPort: 445,
            packets: 2,
            flags: 0x02,
            supplier: h.supplier,
          });
    }
    const changes = lateral(
      run(
        testEngine({ learningPeriodMs: LEARN }),
        merge(backgroundTraffic({ startMs: T0, seconds: 900, peakPerSecond: 30, seed: 7 }), worm()),
      ),
    );
    const ids = new Set(changes.map((c) => c.alert.id));
    const fingerprints = [...new Set(changes.map((c) => c.alert.fingerprint))].sort();
    expect(fingerprints).toEqual(['lateral_movement|organisation:O07|445', 'lateral_movement|organisation:RR8|445']);
    expect(ids.size).toBe(2);
    const last = new Map(changes.map((c) => [c.alert.fingerprint, c.alert]));
    const o01 = last.get('lateral_movement|organisation:RR8|445')!;
    expect(o01.severity).toBe('critical');
    expect(o01.summary).toMatch(/^Leeds Teaching Hospitals \(supplier-b\): 3 hosts reached up to \d+ organisations on SMB\/445/);
    expect(String(o01.evidence.details.spreading_hosts).split(',').sort()).toEqual(['10.1.0.91', '10.1.0.92', '10.1.0.93']);
    expect(Number(o01.evidence.details.destinations_against_policy)).toBeGreaterThanOrEqual(20);
  });
});
