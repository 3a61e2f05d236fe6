import { randomUUID } from 'node:crypto';
import type { ClickHouseClient } from '@flowwatch/clickhouse';
import type { DetectorConfig, RegistryConfig } from '@flowwatch/config';
import { type AlertChange, DetectionEngine } from '@flowwatch/detection';
import { ALERTS_SCHEMA, type AlertMessage, decodeFlows, type FlowRecord } from '@flowwatch/flow-schema';
import { BufferedProducer, type ConsumedBatch, DurableConsumer, type ProducerOptions } from '@flowwatch/kafka';
import type { Service } from '@flowwatch/lifecycle';
import { RateLimitedLog, type ReadinessCheck, type Registry, ServiceMetrics } from '@flowwatch/observability';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { AlertStore } from './alert-store.js';
import { AlertmanagerClient } from './alertmanager.js';
import { blocklistSignature, loadBlocklists } from './blocklist-files.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { readSuppressions } from './suppressions.js';
import { readWarmStart } from './warm-start.js';
import { WebhookDispatcher } from './webhooks.js';

export interface DetectorDeps {
  logger: Logger;
  registry: Registry;
  kafka: Kafka;
  clickhouse: ClickHouseClient;
  producerOptions: ProducerOptions;
  topics: { flows: string; alerts: string; state: string };
  readiness: ReadinessCheck[];
}

export interface Detector extends Service {
  reload(registry: RegistryConfig): void;
  /** The engine (tests, benchmarks). */
  readonly engine: DetectionEngine;
}

const TICK_MS = 1000;
/** Without flows for this long, event time moves on with the wall clock (idle progress). */
const IDLE_MS = 2000;

/**
 * The detector service: consumes `flows` in its own consumer group, enriches and feeds every record
 * to the detection engine, and publishes alert changes to Kafka `alerts` (keyed by fingerprint),
 * ClickHouse (`alerts`, `alert_events`), webhooks and Alertmanager. Offsets are committed after a
 * batch is processed and its alert changes are acknowledged by Kafka; ClickHouse, webhooks and
 * Alertmanager are fed from queues that never block detection. At start it restores the last
 * checkpoint from the state topic, or else warms baselines from the ClickHouse rollups.
 */
export function createDetector(deps: DetectorDeps, config: DetectorConfig, registryConfig: RegistryConfig): Detector {
  const logger = deps.logger.child({ component: 'detector' });
  const metrics = new ServiceMetrics(deps.registry, 'detector');
  const m = {
    flows: metrics.counter('flows_processed', 'Flow records fed to the detection engine'),
    late: metrics.counter('late_flows', 'Flows later than the allowed lateness, folded into the oldest open interval'),
    bad: metrics.counter('invalid_records', 'Lines or records that could not be processed', ['reason']),
    entities: metrics.gauge('tracked', 'entities', 'Entities tracked per detector family', ['family']),
    evictions: metrics.counter('evicted_entities', 'Entities evicted (least recently seen) because a family was full', ['family']),
    alerts: metrics.counter('alerts_raised', 'Alerts opened or re-opened, by type and severity', ['type', 'severity']),
    changes: metrics.counter('alert_changes', 'Alert changes published, by event', ['event']),
    suppressed: metrics.counter(
      'alerts_suppressed',
      'Detections dropped by suppressions, maintenance windows, an ongoing incident (reason incident) or peer groups (reason peer_group)',
      ['reason'],
    ),
    latency: metrics.histogram(
      'detection_latency',
      'seconds',
      'From the flow reaching the collector to its alert being published',
      [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 90, 120, 300],
      ['type'],
    ),
    watermarkLag: metrics.gauge('watermark_lag', 'seconds', 'Wall clock minus the event-time watermark'),
    open: metrics.gauge('open_alerts', 'count', 'Alerts open now'),
    checkpoints: metrics.counter('checkpoints', 'State checkpoints written'),
    checkpointBytes: metrics.gauge('checkpoint', 'bytes', 'Size of the last checkpoint (gzipped)'),
  };
  // detectedAt 'event' (compressed simulations, replays): detected_at in event time, from the engine.
  const engine = new DetectionEngine({
    config,
    registry: registryConfig,
    ...(config.detectedAt === 'clock' ? { now: () => Date.now() } : {}),
  });
  const producer = new BufferedProducer(deps.kafka, deps.producerOptions, metrics, logger);
  const store = new AlertStore(deps.clickhouse, { flushMs: 500, maxQueue: 100_000 }, metrics, logger);
  const webhooks = new WebhookDispatcher(
    config.webhooks,
    { queue: config.webhookQueue, retries: config.webhookRetries, timeoutMs: config.webhookTimeoutMs },
    metrics,
    logger,
  );
  const alertmanager = config.alertmanager.url
    ? new AlertmanagerClient(config.alertmanager.url, config.alertmanager.resendMs, metrics, logger)
    : undefined;
  const warn = new RateLimitedLog(logger);
  const timers: NodeJS.Timeout[] = [];
  let lastFlowWallMs = Date.now();
  let lastEvictions: Record<string, number> = {};
  let lastCounters = { late: 0, suppressed: 0, maintenance: 0, explained: 0, peerCommon: 0 };
  let blocklistStamp = '';
  let checkpointSlot = 0;
  let started = false;

  const publish = (changes: AlertChange[]) => {
    if (changes.length === 0) return;
    const now = Date.now();
    const messages = [];
    for (const c of changes) {
      const message: AlertMessage = { schema: ALERTS_SCHEMA, event: c.event, alert: c.alert };
      messages.push({ key: c.alert.fingerprint, value: JSON.stringify(message), headers: { schema: ALERTS_SCHEMA } });
      store.add(message);
      webhooks.enqueue(message);
      m.changes.inc({ event: c.event });
      if (c.event === 'opened' || c.event === 'reopened') m.alerts.inc({ type: c.alert.type, severity: c.alert.severity });
      if (c.receivedNs > 0 && (c.event === 'opened' || c.event === 'reopened' || c.event === 'escalated'))
        m.latency.observe({ type: c.alert.type }, Math.max(0, (now - c.receivedNs / 1e6) / 1000));
    }
    producer.send(deps.topics.alerts, messages);
    alertmanager?.send(changes.map((c) => c.alert));
  };

  const updateGauges = () => {
    const s = engine.stats();
    for (const [family, n] of Object.entries(s.entities)) m.entities.set({ family }, n);
    for (const [family, n] of Object.entries(s.evictions)) {
      const delta = n - (lastEvictions[family] ?? 0);
      if (delta > 0) m.evictions.inc({ family }, delta);
    }
    lastEvictions = s.evictions;
    if (s.lateFlows > lastCounters.late) m.late.inc(s.lateFlows - lastCounters.late);
    if (s.suppressed > lastCounters.suppressed) m.suppressed.inc({ reason: 'suppression' }, s.suppressed - lastCounters.suppressed);
    if (s.maintenance > lastCounters.maintenance) m.suppressed.inc({ reason: 'maintenance' }, s.maintenance - lastCounters.maintenance);
    if (s.explained > lastCounters.explained) m.suppressed.inc({ reason: 'incident' }, s.explained - lastCounters.explained);
    if (s.peerCommon > lastCounters.peerCommon) m.suppressed.inc({ reason: 'peer_group' }, s.peerCommon - lastCounters.peerCommon);
    lastCounters = {
      late: s.lateFlows,
      suppressed: s.suppressed,
      maintenance: s.maintenance,
      explained: s.explained,
      peerCommon: s.peerCommon,
    };
    m.open.set(s.openAlerts);
    if (Number.isFinite(s.watermarkMs)) m.watermarkLag.set(Math.max(0, (Date.now() - s.watermarkMs) / 1000));
  };

  const handle = async (batch: ConsumedBatch) => {
    let n = 0;
    for (const message of batch.messages) {
      if (!message.value) continue;
      const { records, badLines } = decodeFlows(message.value);
      if (badLines > 0) m.bad.inc({ reason: 'invalid_json' }, badLines);
      for (const record of records) {
        if (!usable(record)) {
          m.bad.inc({ reason: 'invalid_record' });
          continue;
        }
        engine.process(record);
        n++;
      }
    }
    if (n > 0) lastFlowWallMs = Date.now();
    m.flows.inc(n);
    const changes = engine.drain();
    publish(changes);
    // The batch's offsets are committed once its alert changes are in Kafka.
    if (changes.length > 0) await producer.flush();
  };

  const consumer = new DurableConsumer(
    deps.kafka,
    {
      groupId: config.groupId,
      topics: [deps.topics.flows],
      // By default a new detector group starts at the live edge: replaying a day of retained flows
      // would raise a day of stale alerts (the rollups' warm start covers the history).
      fromBeginning: config.fromBeginning,
      handle,
      maxBytesPerPartition: 4 * 1024 * 1024,
      minBytes: 1,
      maxWaitTimeInMs: 250,
    },
    metrics,
    logger,
  );

  const tick = () => {
    // Idle progress: with no flows, event time moves on with the wall clock so that intervals
    // close, silence is noticed and quiet alerts resolve.
    const idle = Date.now() - lastFlowWallMs;
    if (idle >= IDLE_MS && Number.isFinite(engine.maxEventMs)) {
      engine.advanceTo(engine.maxEventMs + TICK_MS);
      publish(engine.drain());
    }
    updateGauges();
  };

  const checkpoint = () => {
    try {
      const bytes = writeCheckpoint(producer, deps.topics.state, config.groupId, engine.snapshot(), randomUUID(), checkpointSlot);
      checkpointSlot ^= 1;
      m.checkpoints.inc();
      m.checkpointBytes.set(bytes);
    } catch (err) {
      warn.warn('detector-checkpoint', { err: err instanceof Error ? err.message : String(err) }, 'checkpoint failed');
    }
  };

  const reloadBlocklists = async (force: boolean) => {
    if (config.blocklists.length === 0) return;
    const stamp = await blocklistSignature(config.blocklists);
    if (!force && stamp === blocklistStamp) return;
    const loaded = await loadBlocklists(config.blocklists);
    blocklistStamp = loaded.signature;
    engine.setBlocklists(loaded.table);
    for (const p of loaded.problems) logger.warn({ problem: p }, 'block list problem');
    logger.info({ prefixes: loaded.table.size, lists: loaded.table.counts }, 'block lists loaded');
  };

  let suppressionsLoaded = -1;
  const reloadSuppressions = async () => {
    try {
      const { rules, skipped } = await readSuppressions(deps.clickhouse);
      engine.setSuppressions(rules);
      for (const s of skipped) warn.warn(`suppression-${s.id}`, { suppression: s.id, problem: s.reason }, 'suppression skipped');
      if (rules.length !== suppressionsLoaded) logger.info({ suppressions: rules.length }, 'suppressions from the API loaded');
      suppressionsLoaded = rules.length;
    } catch (err) {
      // Keep the last good set: an unreachable store must not lift the suppressions in force.
      warn.warn('detector-suppressions', { err: err instanceof Error ? err.message : String(err) }, 'could not read suppressions');
    }
  };

  return {
    name: 'detector',
    engine,
    async start() {
      await producer.start();
      await reloadBlocklists(true);
      await reloadSuppressions();
      const snapshot = await readCheckpoint(deps.kafka, deps.topics.state, config.groupId, logger).catch((err: unknown) => {
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not read the state topic');
        return undefined;
      });
      if (snapshot) {
        engine.restore(snapshot);
        logger.info({ entities: engine.stats().entities }, 'state restored from checkpoint');
      } else if (config.warmStart.enabled) {
        const t0 = Date.now();
        const warm = await readWarmStart(deps.clickhouse, {
          nowMs: Date.now(),
          profileDays: config.warmStart.profileDays,
          recentMinutes: config.warmStart.recentMinutes,
        });
        engine.warm(warm);
        logger.info({ rows: warm.rows, ms: Date.now() - t0, entities: engine.stats().entities.volume }, 'baselines warmed from rollups');
      }
      store.start();
      webhooks.start();
      timers.push(setInterval(tick, TICK_MS));
      timers.push(setInterval(checkpoint, config.checkpointIntervalMs));
      timers.push(setInterval(() => void reloadBlocklists(false).catch(() => {}), config.blocklistReloadMs));
      timers.push(setInterval(() => void reloadSuppressions(), config.suppressionsReloadMs));
      if (alertmanager) timers.push(setInterval(() => alertmanager.send(engine.tracker.open()), config.alertmanager.resendMs));
      for (const t of timers) t.unref();
      await consumer.start();
      started = true;
      deps.readiness.push({
        name: 'detector',
        check: () => (!started ? { ready: false, reason: 'stopped' } : producer.ready()),
      });
    },
    async stop() {
      started = false;
      for (const t of timers) clearInterval(t);
      timers.length = 0;
      await consumer.stop();
      publish(engine.drain());
      if (Number.isFinite(engine.maxEventMs)) checkpoint();
      await producer.stop();
      await store.stop();
      await webhooks.stop();
    },
    reload(registry) {
      engine.setRegistry(registry);
      void reloadBlocklists(true).catch(() => {});
      logger.info('registry and block lists reloaded');
    },
  };
}

/** A record the engine can use: addresses as strings and finite numbers where it computes. */
function usable(r: FlowRecord): boolean {
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.src_addr === 'string' &&
    typeof r.dst_addr === 'string' &&
    typeof r.supplier_id === 'string' &&
    Number.isFinite(r.time_received_ns) &&
    Number.isFinite(r.bytes) &&
    Number.isFinite(r.packets)
  );
}
