import { detectorSchema } from '@flowwatch/config';
import { DetectionEngine } from '@flowwatch/detection';
import { ByEntityBatcher, EntityRouter } from '@flowwatch/detector';
import { type EnrichedFlow, Enricher } from '@flowwatch/enrichment';
import { decodeFlows, encodeFlows } from '@flowwatch/flow-schema';
import { benchFlows, benchRegistry } from './detector-bench.js';

/**
 * The repartition stage and what it buys (docs/detection.md, "Horizontal scale"), one core, on the
 * detector benchmark's traffic:
 * - the stage: enrich, route and serialise to `flows.by-entity` messages, flows/s; copies per flow;
 * - the detectors behind it: each partition's copies parsed and fed to its own engine with the
 *   families it owns; the busiest partition bounds the group (its instance cannot be split), so
 *   the group's ceiling is flows / (busiest partition's seconds), against one engine on all flows.
 * Kafka itself is not in these figures. Rates are per CPU second of this process (less sensitive
 * than wall time to other work on a shared machine).
 */
export async function repartitionBench(print: (o: Record<string, unknown>) => void, n: number): Promise<void> {
  const t0 = Date.UTC(2026, 10, 3, 10);
  const flows = benchFlows(n, t0);
  const registry = benchRegistry();
  const config = detectorSchema.parse({});
  const warm = Math.min(100_000, Math.floor(n / 4));

  // One engine on every flow (the single-instance detector), the reference: like the service, it
  // parses `flows` messages (NDJSON, 1,000 flows each) and enriches.
  const raw: Buffer[] = [];
  for (let i = warm; i < n; i += 1000) raw.push(encodeFlows(flows, i, Math.min(n, i + 1000)));
  const single = new DetectionEngine({ config, registry });
  for (let i = 0; i < warm; i++) single.process(flows[i]!);
  const s0 = cpuSeconds();
  for (const m of raw) for (const r of decodeFlows(m).records) single.process(r);
  const singleSeconds = cpuSeconds() - s0;
  single.drain();
  raw.length = 0;

  // Warm-up of the stage's code (JIT) before its first timed pass.
  const warmBatcher = new ByEntityBatcher(new EntityRouter(8));
  const warmEnricher = new Enricher(registry);
  for (let i = 0; i < warm; i++) {
    warmBatcher.add(warmEnricher.enrich(flows[i]!));
    if (i % 1000 === 999) warmBatcher.take();
  }
  warmBatcher.take();

  for (const partitions of [4, 8, 24]) {
    const router = new EntityRouter(partitions);
    const batcher = new ByEntityBatcher(router);
    const enricher = new Enricher(registry);
    // The stage: 1,000 flows a batch, as consumed.
    const byPartition: { families: number; value: string }[][] = Array.from({ length: partitions }, () => []);
    let copies = 0;
    let bytes = 0;
    const st0 = cpuSeconds();
    for (let i = 0; i < n; i += 1000) {
      const end = Math.min(n, i + 1000);
      for (let k = i; k < end; k++) batcher.add(enricher.enrich(flows[k]!));
      const out = batcher.take();
      copies += out.copies;
      for (const m of out.messages) {
        bytes += m.value.length;
        byPartition[m.partition]!.push({ families: Number(m.headers.families), value: m.value });
      }
    }
    const stageSeconds = cpuSeconds() - st0;
    // The detectors: every partition's engine on its copies (parse + detect), timed per partition.
    const perPartition: number[] = [];
    const copiesPerPartition: number[] = [];
    for (let p = 0; p < partitions; p++) {
      const engine = new DetectionEngine({ config, registry });
      let c = 0;
      const p0 = cpuSeconds();
      for (const m of byPartition[p]!) {
        const { records } = decodeFlows(m.value);
        for (const r of records) engine.processEnriched(r as EnrichedFlow, m.families);
        c += records.length;
      }
      engine.drain();
      perPartition.push(cpuSeconds() - p0);
      copiesPerPartition.push(c);
      byPartition[p] = [];
    }
    const busiest = Math.max(...perPartition);
    const busiestAt = perPartition.indexOf(busiest);
    const total = perPartition.reduce((a, b) => a + b, 0);
    print({
      bench: 'repartition',
      partitions,
      flows: n,
      stage_flows_per_second: Math.round(n / stageSeconds),
      copies_per_flow: +(copies / n).toFixed(2),
      bytes_per_copy: Math.round(bytes / copies),
      single_engine_flows_per_second: Math.round((n - warm) / singleSeconds),
      partitions_cpu_seconds: +total.toFixed(2),
      busiest_partition: busiestAt,
      network_partition: router.networkPartition,
      busiest_partition_share: +(copiesPerPartition[busiestAt]! / copies).toFixed(3),
      group_ceiling_flows_per_second: Math.round(n / busiest),
    });
  }
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
