import { describe, expect, it, vi } from 'vitest';
import { DetectionEngine } from '../engine.js';
import { backgroundTraffic, flow, hostOf, merge, run, TUESDAY, testConfig, testEngine, testRegistry } from '../test-network.js';
import { BlocklistTable, parseBlocklist } from './blocklist.js';

// Generated background traffic: seconds on a quiet core, more on a loaded one.
vi.setConfig({ testTimeout: 60_000 });

const T0 = TUESDAY + 10 * 3_600_000;
const ofType = (changes: ReturnType<typeof run>, type: string) => changes.filter((c) => c.alert.type === type);

describe('block lists', () => {
  it('parses IPs and CIDRs with comments, counting bad lines', () => {
    expect(parseBlocklist('# feed\n203.0.113.0/24\n198.51.100.77 # c2\n\nnot-an-ip\n2001:db8:bad::/48\n')).toEqual({
      prefixes: ['203.0.113.0/24', '198.51.100.77', '2001:db8:bad::/48'],
      badLines: 1,
    });
  });

  it('raises traffic to a listed address once per address and organisation, updated not duplicated', () => {
    const engine = testEngine();
    engine.setBlocklists(
      new BlocklistTable([{ name: 'c2-feed', severity: 'high', prefixes: parseBlocklist('203.0.113.0/24\n').prefixes }]),
    );
    function* beacons() {
      for (let i = 0; i < 100; i++)
        yield flow({ t: T0 + i * 5000, src: '10.1.0.42', dst: '203.0.113.9', dstPort: 8443, supplier: 'supplier-b' });
    }
    const changes = ofType(
      run(engine, merge(backgroundTraffic({ startMs: T0, seconds: 600, peakPerSecond: 20, seed: 15 }), beacons())),
      'blocklist',
    );
    const opened = changes.filter((c) => c.event === 'opened');
    expect(opened).toHaveLength(1);
    expect(opened[0]!.alert.summary).toBe(
      '10.1.0.42 in Leeds Teaching Hospitals (supplier-b) contacted 203.0.113.9 on port 8443, listed in c2-feed (203.0.113.0/24)',
    );
    expect(Date.parse(opened[0]!.alert.first_seen)).toBe(T0);
    expect(new Set(changes.map((c) => c.alert.id)).size).toBe(1);
    expect(changes.filter((c) => c.event === 'updated').length).toBeLessThanOrEqual(9);
  });
});

describe('policy rules', () => {
  it('no Telnet from any organisation to the internet: fires on a violation only', () => {
    const engine = testEngine({
      policies: [
        {
          id: 'no-telnet-out',
          description: 'No Telnet from any organisation to the internet',
          severity: 'high',
          match: { directions: ['to_internet'], dstPorts: [23] },
        },
      ],
    });
    const changes = ofType(
      run(engine, [
        flow({ t: T0, src: hostOf(3, 3), dst: hostOf(4, 4), dstPort: 23 }),
        flow({ t: T0 + 1000, src: hostOf(3, 3), dst: '198.51.100.5', dstPort: 22 }),
        flow({ t: T0 + 2000, src: hostOf(3, 3), dst: '198.51.100.5', dstPort: 23 }),
      ]),
      'policy',
    );
    expect(changes.map((c) => c.alert.fingerprint)).toEqual(['policy|policy:no-telnet-out|O03']);
    expect(changes[0]!.alert.severity).toBe('high');
    expect(changes[0]!.alert.summary).toContain('No Telnet from any organisation to the internet');
  });

  it('volume thresholds: more than 1 MB from the acute group to the internet in 5 min', () => {
    const engine = testEngine({
      policies: [
        {
          id: 'acute-upload',
          description: 'Acute trusts upload little to the internet',
          match: { srcGroups: ['acute'], directions: ['to_internet'] },
          threshold: { bytes: 1e6 },
        },
      ],
    });
    const small = Array.from({ length: 10 }, (_, i) => flow({ t: T0 + i * 1000, src: '10.1.0.5', dst: '198.51.100.5', bytes: 50_000 }));
    expect(ofType(run(engine, small), 'policy')).toEqual([]);
    const big = Array.from({ length: 30 }, (_, i) =>
      flow({ t: T0 + 20_000 + i * 1000, src: '10.1.0.5', dst: '198.51.100.5', bytes: 50_000 }),
    );
    expect(ofType(run(engine, big), 'policy')).toHaveLength(1);
  });
});

describe('new pairs', () => {
  it('reports an organisation pair and a service use never seen while learning, once each', () => {
    const learn = 10 * 60_000;
    const engine = testEngine({ learningPeriodMs: learn });
    function* novel() {
      for (let i = 0; i < 5; i++) yield flow({ t: T0 + learn + 60_000 + i * 1000, src: hostOf(7, 1), dst: hostOf(20, 1) });
      for (let i = 0; i < 5; i++) yield flow({ t: T0 + learn + 90_000 + i * 1000, src: hostOf(8, 1), dst: '10.250.2.1', dstPort: 25 });
    }
    const changes = ofType(
      run(engine, merge(backgroundTraffic({ startMs: T0, seconds: 1500, peakPerSecond: 40, seed: 16 }), novel())),
      'new_pair',
    );
    expect(changes.filter((c) => c.event === 'opened').map((c) => c.alert.entity.id)).toEqual(['O07>O20', 'O08>mail']);
  });
});

describe('new pairs and peer groups', () => {
  const learn = 10 * 60_000;
  // Group "acute": RR8 and O01-O04. While learning, RR8, O01 and O02 talk with O20 and use mail.
  function engineWith(peerOrganisations?: number) {
    const registry = testRegistry();
    registry.groups = [{ id: 'acute', name: 'Acute trusts', organisations: ['RR8', 'O01', 'O02', 'O03', 'O04'] }];
    return new DetectionEngine({
      config: testConfig({ learningPeriodMs: learn, newPair: peerOrganisations === undefined ? {} : { peerOrganisations } }),
      registry,
    });
  }
  function* traffic() {
    for (const org of [0, 1, 2]) {
      yield flow({ t: T0 + org * 1000, src: hostOf(org, 1), dst: hostOf(20, 1) });
      yield flow({ t: T0 + org * 1000 + 500, src: hostOf(org, 1), dst: '10.250.2.1', dstPort: 25 });
    }
    const after = T0 + learn + 60_000;
    for (let i = 0; i < 3; i++) yield flow({ t: after + i * 1000, src: hostOf(3, 1), dst: hostOf(20, 1) });
    for (let i = 0; i < 3; i++) yield flow({ t: after + 10_000 + i * 1000, src: hostOf(3, 1), dst: '10.250.2.1', dstPort: 25 });
    for (let i = 0; i < 3; i++) yield flow({ t: after + 20_000 + i * 1000, src: hostOf(4, 1), dst: hostOf(25, 1) });
  }
  const opened = (engine: DetectionEngine) =>
    ofType(run(engine, traffic()), 'new_pair')
      .filter((c) => c.event === 'opened')
      .map((c) => c.alert.entity.id);

  it('learns a new pair that is common for the organisation kind without an alert, and reports an uncommon one', () => {
    const engine = engineWith();
    expect(opened(engine)).toEqual(['O04>O25']);
    expect(engine.stats().peerCommon).toBe(2);
  });

  it('pairs first seen after learning (a worm reaching O25 from three acute trusts) do not make a pair common', () => {
    const engine = engineWith();
    const after = T0 + learn + 30_000;
    function* spread() {
      yield* traffic();
      for (const org of [0, 1, 2])
        for (let i = 0; i < 3; i++) yield flow({ t: after + 60_000 + org * 5000 + i * 1000, src: hostOf(org, 2), dst: hostOf(25, 2) });
      for (let i = 0; i < 3; i++) yield flow({ t: after + 120_000 + i * 1000, src: hostOf(3, 2), dst: hostOf(25, 2) });
    }
    const ids = ofType(run(engine, spread()), 'new_pair')
      .filter((c) => c.event === 'opened')
      .map((c) => c.alert.entity.id);
    expect(ids).toEqual(expect.arrayContaining(['RR8>O25', 'O01>O25', 'O02>O25', 'O03>O25']));
  });

  it('reports every new pair with peerOrganisations 0', () => {
    expect(opened(engineWith(0))).toEqual(['O03>O20', 'O03>mail', 'O04>O25']);
  });

  it('needs peerOrganisations peers: two acute trusts talking with O20 do not make it common', () => {
    expect(opened(engineWith(4))).toEqual(['O03>O20', 'O03>mail', 'O04>O25']);
  });
});
