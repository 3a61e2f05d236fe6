import { describe, expect, it, vi } from 'vitest';
import { backgroundTraffic, flow, hostOf, merge, run, TUESDAY, testEngine } from '../test-network.js';

// Generated background traffic: seconds on a quiet core, more on a loaded one.
vi.setConfig({ testTimeout: 60_000 });

const T0 = TUESDAY + 10 * 3_600_000;
/** A SYN probe: one packet of 44 bytes. */
const probe = (t: number, src: string, dst: string, dstPort: number) => flow({ t, src, dst, dstPort, packets: 1, bytes: 44, flags: 0x02 });
const opened = (changes: ReturnType<typeof run>, type: string) => changes.filter((c) => c.alert.type === type && c.event === 'opened');

describe('scan detector', () => {
  it('stays quiet on normal diurnal traffic (DNS, services, partners)', () => {
    const engine = testEngine();
    const changes = run(engine, backgroundTraffic({ startMs: T0, seconds: 1200, peakPerSecond: 60, seed: 1 }));
    expect(opened(changes, 'port_scan')).toEqual([]);
    expect(opened(changes, 'host_sweep')).toEqual([]);
  });

  it('raises a horizontal SMB sweep from an organisation within seconds, once, naming the organisation', () => {
    const engine = testEngine();
    const sweepStart = T0 + 300_000;
    function* sweep() {
      // 4 probes a second for 2 minutes from 10.1.0.66 (Leeds) to hosts across organisations.
      for (let i = 0; i < 480; i++)
        yield flow({
          t: sweepStart + i * 250,
          src: '10.1.0.66',
          dst: hostOf(1 + (i % 25), 100 + i),
          dstPort: 445,
          packets: 1,
          bytes: 60,
          flags: 0x02,
          supplier: 'supplier-b',
        });
    }
    const changes = run(engine, merge(backgroundTraffic({ startMs: T0, seconds: 600, peakPerSecond: 40, seed: 2 }), sweep()));
    const sweeps = opened(changes, 'host_sweep');
    expect(sweeps).toHaveLength(1);
    const alert = sweeps[0]!.alert;
    expect(alert.entity).toMatchObject({ kind: 'host', id: '10.1.0.66' });
    expect(alert.summary).toContain('Leeds Teaching Hospitals (supplier-b)');
    expect(alert.summary).toContain('SMB/445');
    expect(alert.supplier_ids).toContain('supplier-b');
    // Threshold 64 hosts at 4 probes/s: about 16 s after the sweep began.
    expect(Date.parse(alert.first_seen) - sweepStart).toBeLessThan(20_000);
    expect(alert.evidence.top_flows.length).toBeGreaterThan(0);
    expect(opened(changes, 'port_scan')).toEqual([]);
  });

  it('raises a vertical scan from the internet and a slow scan over the long window', () => {
    const engine = testEngine();
    function* traffic() {
      for (let p = 0; p < 400; p++) yield probe(T0 + p * 20, '203.0.113.7', hostOf(4, 10), 1 + p);
      // One probe every 10 s: 360 distinct ports in an hour, never 100 in a minute.
      for (let p = 0; p < 360; p++) yield probe(T0 + 10_000 + p * 10_000, '203.0.113.8', hostOf(5, 10), 1000 + p);
    }
    const scans = opened(run(engine, traffic()), 'port_scan');
    expect(scans.map((c) => c.alert.src_addr).sort()).toEqual(['203.0.113.7', '203.0.113.8']);
    const slow = scans.find((c) => c.alert.src_addr === '203.0.113.8')!.alert;
    expect(slow.evidence.details.slow).toBe(true);
    expect(slow.summary).toContain('slow scan');
  });

  it("raises a scan slower than the slow threshold an hour (nmap's sneaky timing) over the hour before too, and forgets a key with few probes", () => {
    const engine = testEngine();
    // One probe every 15 s for 2 h: 240 distinct ports an hour, under 300 in any hour.
    const start = T0 + 60_000;
    function* traffic() {
      for (let p = 0; p < 480; p++) yield probe(start + p * 15_000, '203.0.113.9', hostOf(6, 10), 1 + p);
      // A host probing 10 ports a minute apart: forgotten when its hour is over (a quarter of 300 is 75).
      for (let p = 0; p < 10; p++) yield probe(start + 1_000 + p * 60_000, '203.0.113.10', hostOf(7, 10), 1 + p);
    }
    const flows = [...traffic()].sort((x, y) => x.time_flow_end_ns - y.time_flow_end_ns);
    // Event time moves on past the second hour.
    flows.push(
      flow({ t: start + 2.1 * 3_600_000, src: '10.1.0.5', dst: hostOf(2, 5), dstPort: 443, packets: 10, bytes: 5_000, flags: 0x1b }),
    );
    const scans = opened(run(engine, flows), 'port_scan');
    expect(scans.map((c) => c.alert.src_addr)).toEqual(['203.0.113.9']);
    const alert = scans[0]!.alert;
    expect(alert.summary).toMatch(/probed 3\d\d ports of .* within [6-8]\d min \(slow scan\)/);
    // 300 distinct ports at one per 15 s: 75 min after the first probe (within the sketch's error).
    const after = (Date.parse(alert.first_seen) - start) / 60_000;
    expect(after).toBeGreaterThan(65);
    expect(after).toBeLessThan(85);
    expect(engine.scan.vertical.peek(`203.0.113.10|${hostOf(7, 10)}`)).toBeUndefined();
  });

  it('raises a scan at five probes a second within 5 s of its first probe (burst), not after the minute threshold', () => {
    const engine = testEngine();
    const start = T0 + 60_000;
    function* traffic() {
      for (let i = 0; i < 150; i++) {
        // 5 ports a second on one host, and 5 hosts a second on SMB, from two sources.
        yield flow({ t: start + i * 200, src: '203.0.113.9', dst: hostOf(6, 10), dstPort: 2000 + i, packets: 1, bytes: 44, flags: 0x02 });
        yield flow({ t: start + i * 200, src: '10.1.0.77', dst: hostOf(7, 1 + i), dstPort: 445, packets: 1, bytes: 44, flags: 0x02 });
      }
    }
    const changes = run(engine, traffic());
    for (const type of ['port_scan', 'host_sweep']) {
      const first = opened(changes, type);
      expect(first, type).toHaveLength(1);
      const delayS = (Date.parse(first[0]!.alert.first_seen) - start) / 1000;
      expect(delayS, type).toBeLessThan(5);
      expect(first[0]!.alert.summary, type).toMatch(/within 5 s$/);
    }
  });

  it('ignores replies from a service port and large flows (not probes)', () => {
    const engine = testEngine();
    function* traffic() {
      for (let p = 0; p < 300; p++) {
        // A busy web server answering one NAT address on many ephemeral ports.
        yield flow({ t: T0 + p * 10, src: '10.250.1.5', dst: '10.3.0.1', srcPort: 443, dstPort: 40_000 + p, packets: 2, flags: 0x12 });
        // A client downloading from many hosts (big flows).
        yield flow({ t: T0 + p * 10, src: '10.3.0.2', dst: `198.51.100.${p % 250}`, dstPort: 443, packets: 500, bytes: 600_000 });
      }
    }
    const changes = run(engine, traffic());
    expect(opened(changes, 'port_scan')).toEqual([]);
    expect(opened(changes, 'host_sweep')).toEqual([]);
  });

  it('respects a per-group override that raises the threshold', () => {
    const engine = testEngine({ overrides: [{ groups: ['acute'], types: ['host_sweep'], scale: 10 }] });
    function* traffic() {
      for (let i = 0; i < 200; i++)
        yield flow({ t: T0 + i * 100, src: '10.1.0.66', dst: hostOf(3, i), dstPort: 445, packets: 1, flags: 0x02 });
    }
    expect(opened(run(engine, traffic()), 'host_sweep')).toEqual([]);
  });
});
