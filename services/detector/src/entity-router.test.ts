import { type AlertChange, DetectionEngine, FAMILY } from '@flowwatch/detection';
import { Enricher } from '@flowwatch/enrichment';
import type { FlowRecord } from '@flowwatch/flow-schema';
import { describe, expect, it } from 'vitest';
// The detection package's seeded test network and traffic (test helpers, not exported by the package).
import { backgroundTraffic, flow, hostOf, merge, TUESDAY, testConfig, testRegistry } from '../../../packages/detection/src/test-network.js';
import { BY_ENTITY_SCHEMA, ByEntityBatcher, EntityRouter } from './entity-router.js';

const START = TUESDAY + 10 * 3_600_000;
const SCANNER = '203.0.113.9';
const WORM = hostOf(2, 9);
const FLOOD_VICTIM = hostOf(1, 7);

/** Ten minutes of background traffic with a port scan, a host sweep, a UDP flood and an SMB worm, reported by alternating exporters. */
function traffic(): FlowRecord[] {
  const exporters = ['core-1', 'core-2', 'edge-1', 'edge-2'];
  const scan = Array.from({ length: 150 }, (_, i) =>
    flow({
      t: START + 60_000 + i * 200,
      src: SCANNER,
      dst: hostOf(0, 5),
      dstPort: 1 + i,
      packets: 1,
      bytes: 60,
      flags: 2,
      exporter: exporters[i % 4],
    }),
  );
  const flood = Array.from({ length: 60 }, (_, i) =>
    flow({
      t: START + 120_000 + i * 100,
      src: `198.18.${i}.1`,
      dst: FLOOD_VICTIM,
      proto: 17,
      srcPort: 40_000,
      dstPort: 80,
      packets: 10_000,
      bytes: 10_000 * 500,
      exporter: exporters[i % 4],
    }),
  );
  const worm = Array.from({ length: 12 }, (_, i) =>
    flow({
      t: START + 180_000 + i * 2000,
      src: WORM,
      dst: hostOf(5 + i, 20),
      dstPort: 445,
      packets: 3,
      bytes: 180,
      exporter: exporters[i % 4],
    }),
  );
  const sweep = Array.from({ length: 90 }, (_, i) =>
    flow({
      t: START + 240_000 + i * 300,
      src: '203.0.113.10',
      dst: hostOf(i % 30, 100 + i),
      dstPort: 22,
      packets: 1,
      bytes: 60,
      flags: 2,
      exporter: exporters[i % 4],
    }),
  );
  return [...merge(backgroundTraffic({ startMs: START, seconds: 600, peakPerSecond: 20, seed: 7 }), scan, sweep, flood, worm)];
}

const opened = (changes: AlertChange[]) =>
  changes.filter((c) => c.event === 'opened' || c.event === 'reopened').map((c) => c.alert.fingerprint);

describe('EntityRouter', () => {
  it('puts every family of a flow on the partition of its entity key, one copy per distinct partition', () => {
    const router = new EntityRouter(8);
    const enricher = new Enricher(testRegistry());
    const f = enricher.enrich(flow({ t: START, src: hostOf(3, 4), dst: '198.51.100.7', dstPort: 443 }));
    expect(f.direction).toBe('to_internet');
    const n = router.route(f);
    const byFamily = new Map<number, number>();
    for (let i = 0; i < n; i++)
      for (const bit of Object.values(FAMILY)) if (router.masks[i]! & bit) byFamily.set(bit, router.partitions[i]!);
    expect(new Set(router.partitions.subarray(0, n)).size).toBe(n);
    expect(byFamily.get(FAMILY.volume)).toBe(router.networkPartition);
    expect(byFamily.get(FAMILY.silence)).toBe(router.networkPartition);
    expect(byFamily.get(FAMILY.scan)).toBe(router.partitionOf(f.src_addr));
    expect(byFamily.get(FAMILY.flood)).toBe(router.partitionOf(f.dst_addr));
    expect(byFamily.get(FAMILY.lateral)).toBe(router.partitionOf(f.src_org));
    expect(byFamily.get(FAMILY.exfiltration)).toBe(router.partitionOf(f.src_org));
    expect(byFamily.size).toBe(Object.keys(FAMILY).length);
    // Downloads count for the inside host's organisation, like its uploads.
    const down = enricher.enrich(flow({ t: START, src: '198.51.100.7', dst: hostOf(3, 4), srcPort: 443, dstPort: 50_000 }));
    router.route(down);
    const exfil = [...router.masks.subarray(0, router.count)].findIndex((m) => (m & FAMILY.exfiltration) !== 0);
    expect(router.partitions[exfil]).toBe(router.partitionOf(down.dst_org));
  });

  it('batches copies per (partition, families), under the message size cap', () => {
    const router = new EntityRouter(4);
    const batcher = new ByEntityBatcher(router);
    const enricher = new Enricher(testRegistry());
    const flows = traffic().slice(0, 3000);
    let routed = 0;
    for (const f of flows) {
      const e = enricher.enrich(f);
      batcher.add(e);
      routed += router.route(e);
    }
    const { messages, copies } = batcher.take();
    expect(copies).toBe(routed);
    let lines = 0;
    for (const m of messages) {
      expect(m.headers.schema).toBe(BY_ENTITY_SCHEMA);
      expect(m.partition).toBeGreaterThanOrEqual(0);
      expect(m.partition).toBeLessThan(4);
      expect(m.value.length).toBeLessThanOrEqual(256 * 1024);
      lines += m.value.split('\n').length - 1;
    }
    expect(lines).toBe(copies);
    expect(batcher.take().messages).toHaveLength(0);
  });

  it('split over partitions, every alert is opened exactly once and on one partition only, as by one engine', () => {
    const config = testConfig({ learningPeriodMs: 0 });
    const registry = testRegistry();
    const flows = traffic();

    const whole = new DetectionEngine({ config, registry });
    const wholeOpened: string[] = [];
    for (const f of flows) {
      whole.process(f);
      wholeOpened.push(...opened(whole.drain()));
    }
    // The incidents are there to be split.
    expect(wholeOpened.filter((k) => k.startsWith('port_scan|'))).toHaveLength(1);
    expect(wholeOpened.filter((k) => k.startsWith('host_sweep|'))).toHaveLength(1);
    expect(wholeOpened.some((k) => k.startsWith('flood|'))).toBe(true);
    expect(wholeOpened.some((k) => k.startsWith('lateral_movement|'))).toBe(true);

    const PARTITIONS = 4;
    const router = new EntityRouter(PARTITIONS);
    const enricher = new Enricher(registry);
    const engines = Array.from({ length: PARTITIONS }, () => new DetectionEngine({ config, registry }));
    const byPartition = engines.map(() => [] as string[]);
    for (const f of flows) {
      const e = enricher.enrich(f);
      const n = router.route(e);
      for (let i = 0; i < n; i++) {
        const p = router.partitions[i]!;
        engines[p]!.processEnriched(e, router.masks[i]!);
        byPartition[p]!.push(...opened(engines[p]!.drain()));
      }
    }
    const all = byPartition.flat();
    expect([...all].sort()).toEqual([...wholeOpened].sort());
    for (const key of new Set(all)) expect(byPartition.filter((list) => list.includes(key))).toHaveLength(1);
    // The families really are spread (else the test would prove nothing).
    expect(new Set(byPartition.map((list) => list.length > 0)).size).toBeGreaterThan(0);
    expect(byPartition.filter((list) => list.length > 0).length).toBeGreaterThan(1);

    // What the repartition avoids: split by exporter (how `flows` is keyed), the scan is opened twice.
    const byExporter = new Map<string, DetectionEngine>();
    const naive: string[] = [];
    for (const f of flows) {
      let engine = byExporter.get(f.exporter_id.startsWith('core') ? 'a' : 'b');
      if (engine === undefined) {
        engine = new DetectionEngine({ config, registry });
        byExporter.set(f.exporter_id.startsWith('core') ? 'a' : 'b', engine);
      }
      engine.process(f);
      naive.push(...opened(engine.drain()));
    }
    expect(naive.filter((k) => k.startsWith('port_scan|')).length).not.toBe(1);
  }, 30_000);
});
