import { randomUUID } from 'node:crypto';
import type { ClickHouseClient } from '@flowwatch/clickhouse';
import type { DetectorConfig, RegistryConfig } from '@flowwatch/config';
import {
  ALL_FAMILIES,
  type AlertChange,
  type BlocklistTable,
  DetectionEngine,
  type EngineSnapshot,
  type WarmStart,
} from '@flowwatch/detection';
import type { EnrichedFlow } from '@flowwatch/enrichment';
import { ALERTS_SCHEMA, type AlertMessage, decodeFlows, heartbeatOf } from '@flowwatch/flow-schema';
import { BufferedProducer, type ConsumedBatch, DurableConsumer, type ProducerOptions } from '@flowwatch/kafka';
import type { Service } from '@flowwatch/lifecycle';
import { RateLimitedLog, type ReadinessCheck, type Registry, ServiceMetrics } from '@flowwatch/observability';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { AlertStore } from './alert-store.js';
import { AlertmanagerClient } from './alertmanager.js';
import { readAnalystChanges } from './analyst-changes.js';
import { blocklistSignature, loadBlocklists } from './blocklist-files.js';
import { readCheckpoints, writeCheckpoint } from './checkpoint.js';
import { EntityRouter } from './entity-router.js';
import { behindHighWatermark, PartitionProgress } from './partition-progress.js';
import { RepartitionStage } from './repartition-stage.js';
import { readSuppressions } from './suppressions.js';
import { usable } from './usable.js';
import { readWarmStart } from './warm-start.js';
import { WebhookDispatcher } from './webhooks.js';

export interface DetectorDeps {
  logger: Logger;
  registry: Registry;
  kafka: Kafka;
  clickhouse: ClickHouseClient;
  producerOptions: ProducerOptions;
  /** `byEntity` is used only with `detector.repartition.enabled`. */
  topics: { flows: string; alerts: string; state: string; byEntity?: string };
  readiness: ReadinessCheck[];
  /**
   * Where baselines are warmed from when no checkpoint exists (with `warmStart.enabled`): by
   * default `readWarmStart` over the ClickHouse rollups up to now. The evaluation replays a
   * simulated week whose clock is not the machine's, and hands the same shape in here.
   */
  warmStart?: () => Promise<WarmStart>;
}

export interface Detector extends Service {
  reload(registry: RegistryConfig): void;
  /** The engine (tests, benchmarks); with the repartition stage, the engine of the lowest partition held. */
  readonly engine: DetectionEngine;
  /** The engines held now, by partition of `flows.by-entity` (-1: the single engine without the stage). */
  engines(): Map<number, DetectionEngine>;
}

const TICK_MS = 1000;
/** Without flows for this long, event time moves on with the wall clock (idle progress). */
const IDLE_MS = 2000;
/** A partition with a backlog that has not been read for this long no longer holds the watermark (handed to another member). */
const LAG_IDLE_MS = 30_000;
/** The partition key of the single engine (no repartition stage). */
const SINGLE = -1;

/** One engine and what the service keeps beside it: a partition's state, or all of it. */
interface Shard {
  partition: number;
  /** Checkpoint owner on the state topic. */
  owner: string;
  engine: DetectionEngine;
  lastFlowWallMs: number;
  slot: number;
  evictions: Record<string, number>;
  counters: {
    late: number;
    suppressed: number;
    maintenance: number;
    explained: number;
    peerCommon: number;
    broad: number;
    network: number;
    blind: number;
    behind: number;
  };
}

/**
 * The detector service: consumes `flows` in its own consumer group, enriches and feeds every record
 * to the detection engine, and publishes alert changes to Kafka `alerts` (keyed by fingerprint),
 * ClickHouse (`alerts`, `alert_events`), webhooks and Alertmanager. Offsets are committed after a
 * batch is processed and its alert changes are acknowledged by Kafka; ClickHouse, webhooks and
 * Alertmanager are fed from queues that never block detection. At start it restores the last
 * checkpoint from the state topic, or else warms baselines from the ClickHouse rollups.
 *
 * With `repartition.enabled`, several instances share one group: each also runs the repartition
 * stage (flows -> `flows.by-entity`, re-keyed by the entities that own state), consumes
 * `flows.by-entity` and keeps one engine per partition it is assigned, restored from that
 * partition's checkpoint before its first batch and checkpointed (then dropped) when revoked.
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
      'Detections dropped by suppressions, maintenance windows, an ongoing incident (reason incident), peer groups (reason peer_group), a broad rise (broad), a rise the rest of the network shares (network), a silent supplier (silence), or drop judgements deferred while the exporter carrying the entity had not delivered that far (undelivered)',
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
    analyst: metrics.counter('analyst_changes', "Analysts' acknowledgements and resolutions (through the API) applied to the alerts held", [
      'status',
    ]),
    checkpointBytes: metrics.gauge('checkpoint', 'bytes', 'Size of the last checkpoint (gzipped)'),
  };
  const repartition = config.repartition.enabled;
  const stageMetrics = new ServiceMetrics(deps.registry, 'detector_repartition');
  const rm = {
    restores: stageMetrics.counter(
      'state_restores',
      'Partitions of flows.by-entity taken on, by where their state came from (checkpoint, warm start from the rollups, none)',
      ['source'],
    ),
    restoreSeconds: stageMetrics.histogram(
      'state_restore_duration',
      'seconds',
      'Reading the state topic and restoring the partitions of one assignment',
      [0.25, 0.5, 1, 2, 5, 10, 30, 60],
    ),
    revoked: stageMetrics.counter('state_revoked', 'Partitions of flows.by-entity given up (checkpointed, then dropped)'),
    owned: stageMetrics.gauge('state', 'partitions', 'Partitions of flows.by-entity whose state this instance holds'),
    held: stageMetrics.gauge('held_partition', 'info', 'Set to 1 for each partition of flows.by-entity whose state this instance holds', [
      'partition',
    ]),
  };
  const newEngine = () => {
    // detectedAt 'event' (compressed simulations, replays): detected_at in event time, from the engine.
    const engine = new DetectionEngine({
      config,
      registry: currentRegistry,
      ...(config.detectedAt === 'clock' ? { now: () => Date.now() } : {}),
    });
    if (blocklistTable !== undefined) engine.setBlocklists(blocklistTable);
    if (suppressionRules !== undefined) engine.setSuppressions(suppressionRules);
    return engine;
  };
  let currentRegistry = registryConfig;
  let blocklistTable: BlocklistTable | undefined;
  let suppressionRules: DetectorConfig['suppressions'] | undefined;
  const shards = new Map<number, Shard>();
  const newShard = (partition: number, engine: DetectionEngine): Shard => ({
    partition,
    owner: partition === SINGLE ? config.groupId : `${config.groupId}.p${partition}`,
    engine,
    lastFlowWallMs: Date.now(),
    slot: 0,
    evictions: {},
    counters: { late: 0, suppressed: 0, maintenance: 0, explained: 0, peerCommon: 0, broad: 0, network: 0, blind: 0, behind: 0 },
  });
  if (!repartition) shards.set(SINGLE, newShard(SINGLE, newEngine()));

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
  let blocklistStamp = '';
  let started = false;
  let stage: RepartitionStage | undefined;
  let router: EntityRouter | undefined;

  const publish = (changes: AlertChange[]) => {
    if (changes.length === 0) return;
    const now = Date.now();
    const messages = [];
    for (const c of changes) {
      const message: AlertMessage = { schema: ALERTS_SCHEMA, event: c.event, alert: c.alert };
      messages.push({ key: c.alert.fingerprint, value: JSON.stringify(message), headers: { schema: ALERTS_SCHEMA } });
      store.add(message, c.analyst !== true);
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
    const entities: Record<string, number> = {};
    let open = 0;
    let watermark = Number.NEGATIVE_INFINITY;
    for (const shard of shards.values()) {
      const s = shard.engine.stats();
      for (const [family, n] of Object.entries(s.entities)) entities[family] = (entities[family] ?? 0) + n;
      for (const [family, n] of Object.entries(s.evictions)) {
        const delta = n - (shard.evictions[family] ?? 0);
        if (delta > 0) m.evictions.inc({ family }, delta);
      }
      shard.evictions = s.evictions;
      const c = shard.counters;
      if (s.lateFlows > c.late) m.late.inc(s.lateFlows - c.late);
      if (s.suppressed > c.suppressed) m.suppressed.inc({ reason: 'suppression' }, s.suppressed - c.suppressed);
      if (s.maintenance > c.maintenance) m.suppressed.inc({ reason: 'maintenance' }, s.maintenance - c.maintenance);
      if (s.explained > c.explained) m.suppressed.inc({ reason: 'incident' }, s.explained - c.explained);
      if (s.peerCommon > c.peerCommon) m.suppressed.inc({ reason: 'peer_group' }, s.peerCommon - c.peerCommon);
      if (s.broadSpikes > c.broad) m.suppressed.inc({ reason: 'broad' }, s.broadSpikes - c.broad);
      if (s.networkSpikes > c.network) m.suppressed.inc({ reason: 'network' }, s.networkSpikes - c.network);
      if (s.blindDrops > c.blind) m.suppressed.inc({ reason: 'silence' }, s.blindDrops - c.blind);
      if (s.behindDrops > c.behind) m.suppressed.inc({ reason: 'undelivered' }, s.behindDrops - c.behind);
      shard.counters = {
        late: s.lateFlows,
        suppressed: s.suppressed,
        maintenance: s.maintenance,
        explained: s.explained,
        peerCommon: s.peerCommon,
        broad: s.broadSpikes,
        network: s.networkSpikes,
        blind: s.blindDrops,
        behind: s.behindDrops,
      };
      open += s.openAlerts;
      if (Number.isFinite(s.watermarkMs) && s.watermarkMs > watermark) watermark = s.watermarkMs;
    }
    for (const [family, n] of Object.entries(entities)) m.entities.set({ family }, n);
    m.open.set(open);
    if (Number.isFinite(watermark)) m.watermarkLag.set(Math.max(0, (Date.now() - watermark) / 1000));
    if (repartition) rm.owned.set(shards.size);
  };

  const checkpoint = (shard: Shard) => {
    try {
      const bytes = writeCheckpoint(producer, deps.topics.state, shard.owner, shard.engine.snapshot(), randomUUID(), shard.slot);
      shard.slot ^= 1;
      m.checkpoints.inc();
      m.checkpointBytes.set(bytes);
    } catch (err) {
      warn.warn('detector-checkpoint', { err: err instanceof Error ? err.message : String(err) }, 'checkpoint failed');
    }
  };

  // ---- state per partition of flows.by-entity (repartition stage) ----
  const restoring = new Map<number, Promise<Shard>>();
  const readWarm = (): Promise<WarmStart> =>
    deps.warmStart?.() ??
    readWarmStart(deps.clickhouse, {
      nowMs: Date.now(),
      profileDays: config.warmStart.profileDays,
      recentMinutes: config.warmStart.recentMinutes,
    });
  let warmCache: Promise<WarmStart | undefined> | undefined;
  const warmStart = () => {
    if (!config.warmStart.enabled) return Promise.resolve(undefined);
    warmCache ??= readWarm().catch((err: unknown) => {
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not read the rollups for a warm start');
      return undefined;
    });
    return warmCache;
  };
  /** The part of a warm start a partition owns: volumes on the network partition, internet profiles per inside organisation. */
  const warmFor = (w: WarmStart, partition: number): WarmStart => {
    const r = router as EntityRouter;
    const network = partition === r.networkPartition;
    return {
      ...w,
      hourly: network ? w.hourly : [],
      minutes: network ? w.minutes : [],
      internetHourly: w.internetHourly.filter((x) => r.partitionOf(x.org) === partition),
    };
  };
  const restoreShards = async (partitions: number[]): Promise<Map<number, Shard>> => {
    const t0 = Date.now();
    const owners = partitions.map((p) => newShard(p, newEngine()));
    const snapshots = await readCheckpoints(
      deps.kafka,
      deps.topics.state,
      owners.map((s) => s.owner),
      logger,
    ).catch((err: unknown) => {
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not read the state topic');
      return new Map<string, EngineSnapshot>();
    });
    const out = new Map<number, Shard>();
    for (const shard of owners) {
      const snapshot = snapshots.get(shard.owner);
      let source = 'none';
      if (snapshot) {
        try {
          shard.engine.restore(snapshot);
          source = 'checkpoint';
        } catch (err) {
          // An unreadable checkpoint (a newer snapshot version) must not stall the partition.
          shard.engine = newEngine();
          logger.warn({ partition: shard.partition, err: err instanceof Error ? err.message : String(err) }, 'checkpoint not restored');
        }
      } else {
        const w = await warmStart();
        if (w) {
          shard.engine.warm(warmFor(w, shard.partition));
          source = 'warm';
        }
      }
      rm.restores.inc({ source });
      out.set(shard.partition, shard);
    }
    rm.restoreSeconds.observe((Date.now() - t0) / 1000);
    logger.info(
      { partitions, from: Object.fromEntries([...out].map(([p, s]) => [p, snapshots.has(s.owner) ? 'checkpoint' : 'warm or none'])) },
      'partition state restored',
    );
    return out;
  };
  const take = (partitions: number[]) => {
    const fresh = partitions.filter((p) => !shards.has(p) && !restoring.has(p));
    if (fresh.length === 0) return;
    const all = restoreShards(fresh);
    for (const p of fresh) {
      restoring.set(
        p,
        all.then((done) => {
          const shard = done.get(p) as Shard;
          // Still ours (not revoked while it was being restored)?
          if (restoring.has(p)) {
            shards.set(p, shard);
            restoring.delete(p);
            rm.held.set({ partition: String(p) }, 1);
          }
          return shard;
        }),
      );
    }
  };
  const onAssignment = (assignment: Record<string, number[]>) => {
    const mine = assignment[deps.topics.byEntity as string] ?? [];
    const keep = new Set(mine);
    for (const [p, shard] of shards) {
      if (keep.has(p)) continue;
      // Given up: publish what it decided, checkpoint it for its new owner, drop it.
      publish(shard.engine.drain());
      if (Number.isFinite(shard.engine.maxEventMs)) checkpoint(shard);
      shards.delete(p);
      rm.held.remove({ partition: String(p) });
      rm.revoked.inc();
    }
    for (const p of restoring.keys()) if (!keep.has(p)) restoring.delete(p);
    take(mine);
    logger.info({ partitions: mine, held: [...shards.keys()] }, 'flows.by-entity partitions assigned');
  };
  const shardFor = async (partition: number): Promise<Shard> => {
    const held = shards.get(partition);
    if (held) return held;
    if (!restoring.has(partition)) take([partition]);
    return (await restoring.get(partition)) ?? (shards.get(partition) as Shard);
  };

  /**
   * Single engine: how far each partition of `flows` has been read (the watermark hold), on a
   * clock that stands still while a batch is handled: a partition is idle after `partitionIdleMs`
   * (2 s) of waiting for data without it, not because the detector spent 2 s on another partition's backlog.
   */
  const progress = new PartitionProgress(config.partitionIdleMs, LAG_IDLE_MS);
  /** The latest reception time read from any partition (a partition read to its end has reached it). */
  let streamReceivedMs = 0;
  let busyMs = 0;
  let busySince = 0;
  const waitingClock = () => {
    const now = Date.now();
    return now - busyMs - (busySince > 0 ? now - busySince : 0);
  };
  const handle = async (batch: ConsumedBatch) => {
    busySince = Date.now();
    try {
      await handleBatch(batch);
    } finally {
      busyMs += Date.now() - busySince;
      busySince = 0;
    }
  };
  const handleBatch = async (batch: ConsumedBatch) => {
    const shard = repartition ? await shardFor(batch.partition) : (shards.get(SINGLE) as Shard);
    const engine = shard.engine;
    let n = 0;
    let receivedNs = 0;
    for (const message of batch.messages) {
      const families = repartition ? Number(message.headers?.families?.toString() ?? ALL_FAMILIES) : ALL_FAMILIES;
      const beat = heartbeatOf(message.headers);
      if (beat !== undefined) {
        // An exporter alive without flows (counter samples, template refreshes): telemetry, not records.
        engine.seeTelemetry(beat.supplierId, beat.exporterId, beat.atMs, families);
        if (beat.atMs > receivedNs / 1e6) receivedNs = beat.atMs * 1e6;
        continue;
      }
      if (!message.value) continue;
      const { records, badLines, problem } = decodeFlows(message.value);
      if (badLines > 0) m.bad.inc({ reason: 'invalid_json' }, badLines);
      if (problem !== undefined) m.bad.inc({ reason: 'invalid_binary' });
      for (const record of records) {
        if (!usable(record)) {
          m.bad.inc({ reason: 'invalid_record' });
          continue;
        }
        // Copies on flows.by-entity are enriched once by the repartition stage.
        if (repartition) engine.processEnriched(record as EnrichedFlow, families);
        else engine.process(record);
        if (record.time_received_ns > receivedNs) receivedNs = record.time_received_ns;
        n++;
      }
    }
    if (n > 0) shard.lastFlowWallMs = Date.now();
    if (!repartition) {
      // The watermark waits for the partitions read behind this one (docs/detection.md, "Partitions read unevenly").
      const clock = waitingClock();
      if (n > 0) {
        if (receivedNs / 1e6 > streamReceivedMs) streamReceivedMs = receivedNs / 1e6;
        progress.update(
          batch.partition,
          receivedNs / 1e6,
          clock,
          behindHighWatermark(batch.lastOffset, batch.highWatermark),
          streamReceivedMs,
        );
      }
      engine.holdWatermark(progress.hold(clock));
    }
    m.flows.inc(n);
    const changes = engine.drain();
    publish(changes);
    // With state moving between instances, an opened alert is checkpointed before the offsets of
    // the flows that opened it are committed: a new owner never opens it a second time.
    if (repartition && changes.some((c) => c.event === 'opened' || c.event === 'reopened')) checkpoint(shard);
    // The batch's offsets are committed once its alert changes are in Kafka.
    if (changes.length > 0) await producer.flush();
  };

  const consumer = new DurableConsumer(
    deps.kafka,
    {
      groupId: config.groupId,
      topics: [repartition ? (deps.topics.byEntity ?? '') : deps.topics.flows],
      // By default a new detector group starts at the live edge: replaying a day of retained flows
      // would raise a day of stale alerts (the rollups' warm start covers the history).
      fromBeginning: config.fromBeginning,
      handle,
      maxBytesPerPartition: 4 * 1024 * 1024,
      minBytes: 1,
      maxWaitTimeInMs: 250,
      ...(repartition ? { onAssignment } : {}),
    },
    metrics,
    logger,
  );

  const tick = () => {
    // Idle progress: with no flows, event time moves on with the wall clock so that intervals
    // close, silence is noticed and quiet alerts resolve.
    const now = Date.now();
    if (!repartition) {
      const engine = (shards.get(SINGLE) as Shard).engine;
      engine.holdWatermark(progress.hold(waitingClock()));
      publish(engine.drain());
    }
    for (const shard of shards.values()) {
      const engine = shard.engine;
      if (now - shard.lastFlowWallMs >= IDLE_MS && Number.isFinite(engine.maxEventMs)) {
        engine.advanceTo(engine.maxEventMs + TICK_MS);
        publish(engine.drain());
      }
    }
    updateGauges();
  };

  const checkpointAll = () => {
    for (const shard of shards.values()) checkpoint(shard);
  };

  const reloadBlocklists = async (force: boolean) => {
    if (config.blocklists.length === 0) return;
    const stamp = await blocklistSignature(config.blocklists);
    if (!force && stamp === blocklistStamp) return;
    const loaded = await loadBlocklists(config.blocklists);
    blocklistStamp = loaded.signature;
    blocklistTable = loaded.table;
    for (const shard of shards.values()) shard.engine.setBlocklists(loaded.table);
    for (const p of loaded.problems) logger.warn({ problem: p }, 'block list problem');
    logger.info({ prefixes: loaded.table.size, lists: loaded.table.counts }, 'block lists loaded');
  };

  let suppressionsLoaded = -1;
  const reloadSuppressions = async () => {
    try {
      const { rules, skipped } = await readSuppressions(deps.clickhouse);
      suppressionRules = rules;
      for (const shard of shards.values()) shard.engine.setSuppressions(rules);
      for (const s of skipped) warn.warn(`suppression-${s.id}`, { suppression: s.id, problem: s.reason }, 'suppression skipped');
      if (rules.length !== suppressionsLoaded) logger.info({ suppressions: rules.length }, 'suppressions from the API loaded');
      suppressionsLoaded = rules.length;
    } catch (err) {
      // Keep the last good set: an unreachable store must not lift the suppressions in force.
      warn.warn('detector-suppressions', { err: err instanceof Error ? err.message : String(err) }, 'could not read suppressions');
    }
  };

  /** Analysts' acknowledgements and resolutions (through the API) of the alerts the engines hold. */
  let readingAnalysts = false;
  const applyAnalystChanges = async () => {
    if (readingAnalysts) return;
    readingAnalysts = true;
    try {
      const ids = [...shards.values()].flatMap((s) => s.engine.tracker.ids());
      if (ids.length === 0) return;
      const changes = await readAnalystChanges(deps.clickhouse, ids);
      for (const shard of shards.values()) {
        for (const status of ['acknowledged', 'resolved'] as const) {
          const n = shard.engine.tracker.applyAnalyst(changes.filter((c) => c.status === status));
          if (n > 0) m.analyst.inc({ status }, n);
        }
        publish(shard.engine.drain());
      }
    } catch (err) {
      warn.warn(
        'detector-analyst-changes',
        { err: err instanceof Error ? err.message : String(err) },
        "could not read analysts' alert changes",
      );
    } finally {
      readingAnalysts = false;
    }
  };

  const startSingle = async () => {
    const engine = (shards.get(SINGLE) as Shard).engine;
    const snapshot = (
      await readCheckpoints(deps.kafka, deps.topics.state, [config.groupId], logger).catch((err: unknown) => {
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not read the state topic');
        return new Map<string, EngineSnapshot>();
      })
    ).get(config.groupId);
    if (snapshot) {
      engine.restore(snapshot);
      logger.info({ entities: engine.stats().entities }, 'state restored from checkpoint');
    } else if (config.warmStart.enabled) {
      const t0 = Date.now();
      const warm = await readWarm();
      engine.warm(warm);
      logger.info(
        {
          rows: warm.hourly.length + warm.minutes.length + warm.internetHourly.length + warm.pairs.length,
          ms: Date.now() - t0,
          entities: engine.stats().entities.volume,
        },
        'baselines warmed from rollups',
      );
    }
  };

  const startStage = async () => {
    const topic = deps.topics.byEntity;
    if (topic === undefined) throw new Error('detector.repartition.enabled needs the flows.by-entity topic (kafka.topics.flowsByEntity)');
    const admin = deps.kafka.admin();
    await admin.connect();
    let partitions: number;
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      partitions = meta.topics[0]?.partitions.length ?? 0;
    } finally {
      await admin.disconnect();
    }
    router = new EntityRouter(partitions);
    stage = new RepartitionStage(
      { ...deps, topics: { flows: deps.topics.flows, byEntity: topic } },
      {
        groupId: config.repartition.groupId ?? `${config.groupId}.repartition`,
        fromBeginning: config.fromBeginning,
        partitions,
      },
      currentRegistry,
    );
    logger.info({ topic, partitions, networkPartition: router.networkPartition }, 'repartition stage on');
  };

  return {
    name: 'detector',
    get engine() {
      const first = [...shards.keys()].sort((a, b) => a - b)[0];
      const shard = first === undefined ? undefined : shards.get(first);
      if (shard === undefined) throw new Error('no engine held yet (repartition: no partition assigned)');
      return shard.engine;
    },
    engines() {
      return new Map([...shards].map(([p, s]) => [p, s.engine]));
    },
    async start() {
      await producer.start();
      await reloadBlocklists(true);
      await reloadSuppressions();
      if (repartition) await startStage();
      else await startSingle();
      store.start();
      webhooks.start();
      timers.push(setInterval(tick, TICK_MS));
      timers.push(setInterval(checkpointAll, config.checkpointIntervalMs));
      timers.push(setInterval(() => void reloadBlocklists(false).catch(() => {}), config.blocklistReloadMs));
      timers.push(setInterval(() => void reloadSuppressions(), config.suppressionsReloadMs));
      timers.push(setInterval(() => void applyAnalystChanges(), config.analystChangesReloadMs));
      if (alertmanager)
        timers.push(
          setInterval(() => alertmanager.send([...shards.values()].flatMap((s) => s.engine.tracker.open())), config.alertmanager.resendMs),
        );
      for (const t of timers) t.unref();
      await stage?.start();
      await consumer.start();
      started = true;
      deps.readiness.push({
        name: 'detector',
        check: () => {
          if (!started) return { ready: false, reason: 'stopped' };
          const p = producer.ready();
          return p.ready && stage ? stage.ready() : p;
        },
      });
    },
    async stop() {
      started = false;
      for (const t of timers) clearInterval(t);
      timers.length = 0;
      await stage?.stop();
      await consumer.stop();
      for (const shard of shards.values()) {
        publish(shard.engine.drain());
        if (Number.isFinite(shard.engine.maxEventMs)) checkpoint(shard);
      }
      await producer.stop();
      await store.stop();
      await webhooks.stop();
    },
    reload(registry) {
      currentRegistry = registry;
      for (const shard of shards.values()) shard.engine.setRegistry(registry);
      stage?.setRegistry(registry);
      void reloadBlocklists(true).catch(() => {});
      logger.info('registry and block lists reloaded');
    },
  };
}
