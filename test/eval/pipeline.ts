/**
 * The real pipeline in one process for the evaluation: simulator -> UDP (NetFlow v5/v9, IPFIX,
 * sFlow from 127.x exporters) and HTTPS-less push -> collector (timeReceivedFrom: export) -> Kafka
 * `flows` (a local broker) -> detector (detectedAt: event, no warm start) -> Kafka `alerts`, read
 * back by a consumer here; baselines warmed from the plan's simulated history as in the engine run.
 * Embedded ClickHouse is started because the detector writes alerts to it;
 * the aggregator is not run. Each run gets its own ports and data directories.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, configSchema } from '@flowwatch/config';
import {
  type EvaluationPlan,
  evaluationBlocklist,
  evaluationDetectorConfig,
  evaluationScenarios,
  type ScoredAlert,
  simulatedHistory,
} from '@flowwatch/evaluation';
import type { AlertMessage } from '@flowwatch/flow-schema';
import { createRunner, type Service } from '@flowwatch/lifecycle';
import { createLogger } from '@flowwatch/observability';
import { generateNetwork, type Label, mergeRegistry, planSimulation } from '@flowwatch/simulator';
import { collectorTarget, createSimulator } from '@flowwatch/simulator-service';
import { createPlatform } from '../../services/cli/src/platform.js';
import { detectorService as createDetectorService, SERVICE_FACTORIES } from '../../services/cli/src/services.js';
import { freePort } from '../support/ports.js';

interface Received {
  event: string;
  alert: AlertMessage['alert'];
  /** Wall clock when this runner read it from `alerts`, ms. */
  wallMs: number;
}

export async function runPipelineEvaluation(
  plan: EvaluationPlan,
  speed: number,
  say: (line: string) => void,
  flowsEncoding: 'ndjson' | 'binary' = 'ndjson',
) {
  const dir = mkdtempSync(join(tmpdir(), 'flowwatch-eval-'));
  const network = generateNetwork({ seed: plan.seed });
  const blocklistPath = join(dir, 'blocklist.txt');
  writeFileSync(blocklistPath, evaluationBlocklist(network));
  const endMs = plan.startMs + plan.learningMs + plan.evaluationMs;
  const scenarios = evaluationScenarios(plan);
  const [http, netflow, ipfix, sflow, push, kafkaPort, controllerPort] = await Promise.all(Array.from({ length: 7 }, () => freePort()));
  const base = configSchema.parse({
    services: ['collector', 'detector'],
    log: { level: 'warn' },
    http: { host: '127.0.0.1', port: http },
    kafka: { local: { port: kafkaPort, controllerPort, dataDir: join(dir, 'kafka') } },
    clickhouse: { path: join(dir, 'clickhouse') },
    collector: {
      netflowPort: netflow,
      ipfixPort: ipfix,
      sflowPort: sflow,
      push: { port: push, rateLimitRecordsPerSecond: 200_000, rateLimitBurst: 1_000_000 },
      timeReceivedFrom: 'export',
      flowsEncoding,
    },
    detector: {
      ...evaluationDetectorConfig(plan, network, blocklistPath),
      groupId: 'flowwatch-evaluation',
      // At 100x a partition read 0.5 s behind the others is 50 s of event time behind: the hold
      // must cover what is a fraction of a second at 1x (the default, a minute, covers a minute).
      maxPartitionSkewMs: 300_000,
      // A partition that goes quiet (an exporter whose traffic stopped) holds the watermark for
      // partitionIdleMs of wall time: 2 s, which is 2 s of event time at 1x but 200 s at 100x, long
      // enough to hold every drop back by minutes. Kept at 40 s of event time (as at 20x).
      partitionIdleMs: Math.max(50, Math.round(Math.min(2_000, 40_000 / speed))),
      // The history the engine run warms from, through the detector's warm start (see below).
      warmStart: { enabled: plan.historyDays > 0 },
    },
    simulator: {
      seed: plan.seed,
      speed,
      rate: plan.density * speed,
      maxRate: 30_000,
      start: new Date(plan.startMs).toISOString(),
      duration: `${Math.round((endMs - plan.startMs) / 1000)}s`,
      scenarios: scenarios.map((s) => ({
        name: s.name,
        at: new Date(s.startMs).toISOString(),
        ...(s.durationMs !== undefined ? { duration: `${Math.round(s.durationMs / 1000)}s` } : {}),
        params: s.params ?? {},
      })),
    },
  });
  const merged = mergeRegistry(base.registry, network.registry);
  if (!merged.ok) throw new Error(merged.error);
  const config: Config = { ...base, registry: merged.registry };
  const simPlan = planSimulation(config.simulator, Date.now());
  // Small slots: records reach the collector in near event-time order, as from real exporters.
  simPlan.options.slotMs = plan.slotMs;

  const logger = createLogger(config.log, { service: 'flowwatch-eval' });
  const platform = createPlatform(config, logger, say);
  const collector = SERVICE_FACTORIES.collector!(platform);
  // A warm start is read from the rollups up to the machine's clock; this network's clock is the
  // plan's, so the detector gets the same simulated history the engine run warms from
  // (simulatedHistory builds what readWarmStart would read from a week of these rollups).
  const detectorService = createDetectorService(
    platform,
    plan.historyDays > 0 ? { warmStart: async () => simulatedHistory(network, plan) } : {},
  );
  const simulator = createSimulator({ logger, registry: platform.registry }, config.simulator, simPlan, collectorTarget(config.collector));

  const received: Received[] = [];
  const alertsTopic = config.kafka.topics.alerts.name;
  let stopReader: (() => Promise<void>) | undefined;
  const reader: Service = {
    name: 'alerts-reader',
    async start() {
      const consumer = platform.kafka().consumer({ groupId: `eval-reader-${plan.seed}-${Date.now()}`, maxWaitTimeInMs: 100 });
      await consumer.connect();
      await consumer.subscribe({ topics: [alertsTopic], fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          const m = JSON.parse(String(message.value)) as AlertMessage;
          received.push({ event: m.event, alert: m.alert, wallMs: Date.now() });
        },
      });
      stopReader = () => consumer.disconnect();
    },
    async stop() {
      await stopReader?.();
    },
  };
  // Event time sent by the simulator against the wall clock, to turn detected_at into a latency.
  const sent: [eventMs: number, wallMs: number][] = [];
  const sampler = setInterval(() => {
    const e = simulator.stats().eventMs;
    if (sent.length === 0 || (sent[sent.length - 1] as [number, number])[0] < e) sent.push([e, Date.now()]);
  }, 20);

  const runner = createRunner([...platform.components, collector, detectorService, reader, platform.readyMarker, simulator], logger);
  const t0 = Date.now();
  await runner.start();
  say(
    `pipeline started in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${network.organisations.length} organisations, ${scenarios.length} incidents, ${speed}x`,
  );
  const progress = setInterval(() => {
    const s = simulator.stats();
    say(
      `event ${new Date(s.eventMs).toISOString()} records ${s.records} alerts-changes ${received.length} lag ${Math.round((Date.now() - t0) / 1000)}s wall`,
    );
  }, 30_000);
  const t1 = Date.now();
  await simulator.done;
  const sendSeconds = (Date.now() - t1) / 1000;
  // Let the collector, Kafka and the detector drain: until no new alert change for 15 s.
  let count = -1;
  while (count !== received.length) {
    count = received.length;
    await new Promise((r) => setTimeout(r, 15_000));
  }
  clearInterval(progress);
  clearInterval(sampler);
  const s = simulator.stats();
  const labels: Label[] = s.labels;
  const metrics = await platform.registry.getMetricsAsJSON();
  const metric = (name: string) => metrics.find((m) => m.name === name)?.values.reduce((sum, v) => sum + v.value, 0);
  const byLabel = (name: string, label: string) => {
    const out: Record<string, number> = {};
    for (const v of metrics.find((m) => m.name === name)?.values ?? []) {
      const key = String(v.labels[label] ?? '');
      out[key] = (out[key] ?? 0) + v.value;
    }
    return out;
  };
  await runner.stop('evaluation done');
  rmSync(dir, { recursive: true, force: true });

  const alerts: ScoredAlert[] = [];
  const seen = new Set<string>();
  for (const r of received) {
    if (seen.has(r.alert.id)) continue;
    seen.add(r.alert.id);
    alerts.push({ ...r.alert, wall_latency_s: wallLatency(sent, Date.parse(r.alert.detected_at), r.wallMs) });
  }
  return {
    labels,
    alerts,
    changes: received,
    facts: {
      records: s.records,
      datagrams: s.datagrams,
      pushes: s.pushes,
      // Push answers the simulator got (2xx, 4xx: 429 over the rate, 5xx: 503 while Kafka is backlogged; retried after Retry-After).
      push_status: byLabel('flowwatch_simulator_push_requests_total', 'status'),
      send_errors: byLabel('flowwatch_simulator_send_errors_total', 'reason'),
      send_seconds: sendSeconds,
      wall_seconds: (Date.now() - t0) / 1000,
      speed,
      detector_flows: metric('flowwatch_detector_flows_processed_total'),
      late_flows: metric('flowwatch_detector_late_flows_total'),
      collector_flows: metric('flowwatch_collector_records_total'),
    },
  };
}

/** Wall time from the simulator sending event time `eventMs` to the alert being read, seconds. */
function wallLatency(sent: readonly [number, number][], eventMs: number, readMs: number): number | undefined {
  let lo = 0;
  let hi = sent.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sent[mid] as [number, number])[0] < eventMs) lo = mid + 1;
    else hi = mid;
  }
  const at = sent[lo];
  return at === undefined ? undefined : Math.max(0, (readMs - at[1]) / 1000);
}
