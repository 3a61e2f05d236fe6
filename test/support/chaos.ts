import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openClickHouse } from '@flowwatch/clickhouse';
import { ensureTopics } from '@flowwatch/kafka';
import { LocalClickHouse } from '@flowwatch/local-clickhouse';
import type { Kafka } from 'kafkajs';
import { consumerLag, type FlowwatchProcess, startFlowwatch } from './flowwatch-process.js';
import { testKafka, uniqueName } from './kafka.js';
import { silentLogger } from './logger.js';

/** What the fault tests share: the broker, a ClickHouse server of their own, and topics named after `flows`. */
export interface ChaosStage {
  kafka: Kafka;
  brokers: string[];
  /** The flows topic (unique to the test); the other topics are `<flows>.dlq`, `.alerts`, `.state`. */
  flows: string;
  /** chDB behind a ClickHouse HTTP front, so several flowwatch processes share one store and it can be killed. */
  front: LocalClickHouse;
  /** Environment of a flowwatch process on this stage: broker, ClickHouse, topic names, info logs. */
  env: Record<string, string>;
  /** Stops the ClickHouse front and removes its data. */
  stop(): Promise<void>;
}

/**
 * Creates the flows topic (and `extraTopics`) with `partitions` each, starts a ClickHouse front
 * on a fresh data directory, and returns the environment flowwatch processes need to use them.
 */
export async function startChaosStage(
  name: string,
  options: {
    partitions: number;
    database: string;
    extraTopics?: (flows: string) => string[];
    /** Where the ClickHouse front keeps its data (default: a fresh directory under the system's tmpdir). */
    clickhousePath?: string;
  },
): Promise<ChaosStage> {
  const { kafka, brokers } = testKafka();
  const flows = uniqueName(name);
  const topic = (t: string) => ({
    name: t,
    partitions: options.partitions,
    replicationFactor: 1,
    retentionMs: 3_600_000,
    cleanupPolicy: 'delete' as const,
  });
  await ensureTopics(kafka, [flows, ...(options.extraTopics?.(flows) ?? [])].map(topic), silentLogger);
  const dir = mkdtempSync(join(tmpdir(), `fw-chaos-${name}-`));
  const front = new LocalClickHouse({ path: options.clickhousePath ?? join(dir, 'ch') });
  await front.start();
  return {
    kafka,
    brokers,
    flows,
    front,
    env: {
      KAFKA_BROKERS: brokers.join(','),
      CLICKHOUSE_URL: front.url,
      CLICKHOUSE_DATABASE: options.database,
      FLOWWATCH__KAFKA__TOPICS__FLOWS__NAME: flows,
      FLOWWATCH__KAFKA__TOPICS__FLOWS_DLQ__NAME: `${flows}.dlq`,
      FLOWWATCH__KAFKA__TOPICS__ALERTS__NAME: `${flows}.alerts`,
      FLOWWATCH__KAFKA__TOPICS__DETECTOR_STATE__NAME: `${flows}.state`,
      FLOWWATCH__LOG__LEVEL: 'info',
    },
    async stop() {
      await front.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `ok` every 250 ms; after `timeoutMs` fails with `what` and the end of the process's output. */
export async function waitFor(what: string, p: FlowwatchProcess, ok: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  for (const t0 = Date.now(); !(await ok()); ) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what} not within ${timeoutMs} ms:\n${p.output().slice(-3000)}`);
    await sleep(250);
  }
}

/** What the store holds after a fault test, to compare with what was sent: each flow once, rollups equal to the raw sums. */
export interface StoredTotals {
  rows: number;
  /** Distinct (partition, offset, source address, port): equal to `rows` when nothing is stored twice. */
  distinct: number;
  bytes: number;
  flows1m: number;
  bytes1m: number;
  bytes1h: number;
  /** Kafka partitions the rows came from. */
  partitions: number;
}

/** Reads the totals of `database` on the stage's ClickHouse front. */
export async function storedTotals(url: string, database: string): Promise<StoredTotals> {
  const ch = await openClickHouse({ url, username: 'default', password: '', database, path: '', requestTimeoutMs: 60_000 });
  const one = async (query: string) =>
    Number(((await (await ch.client.query({ query, format: 'JSONEachRow' })).json<{ n: string }>())[0] as { n: string }).n);
  try {
    return {
      rows: await one('SELECT count() AS n FROM flows_raw'),
      distinct: await one('SELECT uniqExact(kafka_partition, kafka_offset, src_addr, src_port) AS n FROM flows_raw'),
      bytes: await one('SELECT sum(bytes) AS n FROM flows_raw'),
      flows1m: await one('SELECT sum(flows) AS n FROM flows_1m'),
      bytes1m: await one('SELECT sum(bytes) AS n FROM flows_1m'),
      bytes1h: await one('SELECT sum(bytes) AS n FROM flows_1h'),
      partitions: await one('SELECT uniqExact(kafka_partition) AS n FROM flows_raw'),
    };
  } finally {
    await ch.client.close();
  }
}

/** One look at an aggregator under a fault: its memory, its group's lag, rows written, batch retries, readiness. */
export interface AggregatorSample {
  rssMb: number;
  heapMb: number;
  lag: number;
  /** rows_written_total; -1 when /metrics did not answer. */
  rows: number;
  retries: number;
  ready: number;
  notReady: string[];
}

export async function sampleAggregator(p: FlowwatchProcess, kafka: Kafka, group: string, topic: string): Promise<AggregatorSample> {
  const [rss, heap, lag, rows, retries, ready] = await Promise.all([
    p.metric('flowwatch_process_resident_memory_bytes'),
    p.metric('flowwatch_nodejs_heap_size_used_bytes'),
    consumerLag(kafka, group, topic),
    p.metric('flowwatch_aggregator_rows_written_total'),
    p.metric('flowwatch_aggregator_kafka_handler_retries_total'),
    p.readiness(),
  ]);
  return {
    rssMb: Math.round((rss ?? 0) / 2 ** 20),
    heapMb: Math.round((heap ?? 0) / 2 ** 20),
    lag,
    rows: rows ?? -1,
    retries: retries ?? -1,
    ready: ready.status,
    notReady: ready.notReady,
  };
}

/**
 * Starts `flowwatch start --services aggregator` on the stage in the consumer group
 * `<flows>-aggregators` (or `env`'s), fetching at most `maxBytesPerPartition`, and waits until it
 * is ready.
 */
export async function startStageAggregator(
  stage: ChaosStage,
  options: { maxBytesPerPartition: number; env?: Record<string, string>; name?: string },
): Promise<{ aggregator: FlowwatchProcess; group: string }> {
  const group = `${stage.flows}-aggregators`;
  const aggregator = await startFlowwatch('aggregator', {
    ...stage.env,
    FLOWWATCH__AGGREGATOR__GROUP_ID: group,
    FLOWWATCH__AGGREGATOR__MAX_BYTES_PER_PARTITION: String(options.maxBytesPerPartition),
    ...options.env,
  });
  try {
    await waitFor(`${options.name ?? 'the aggregator'} ready`, aggregator, async () => (await aggregator.readiness()).status === 200);
  } catch (err) {
    await aggregator.stop(5000);
    throw err;
  }
  return { aggregator, group };
}

/** A phase-labelled series of `sampleAggregator` looks, `t` ms after `start`. */
export interface AggregatorSamples<Extra extends object> {
  readonly samples: (AggregatorSample & Extra & { t: number; phase: string })[];
  sample(phase: string, extra: Extra): Promise<AggregatorSample & Extra & { t: number; phase: string }>;
  /** Samples every second in `phase` until the group's lag is zero and the aggregator ready; fails after `timeoutMs`. */
  catchUp(phase: string, extra: () => Extra, timeoutMs: number): Promise<number>;
}

export function aggregatorSamples<Extra extends object = Record<never, never>>(
  p: FlowwatchProcess,
  kafka: Kafka,
  group: string,
  topic: string,
  start: number,
): AggregatorSamples<Extra> {
  const samples: (AggregatorSample & Extra & { t: number; phase: string })[] = [];
  const sample = async (phase: string, extra: Extra) => {
    const seen = await sampleAggregator(p, kafka, group, topic);
    const s = { t: Date.now() - start, phase, ...extra, ...seen };
    samples.push(s);
    return s;
  };
  return {
    samples,
    sample,
    async catchUp(phase, extra, timeoutMs) {
      const t0 = Date.now();
      for (;;) {
        const last = await sample(phase, extra());
        if (last.lag === 0 && last.ready === 200) return Date.now() - t0;
        if (Date.now() - t0 > timeoutMs) throw new Error(`no catch-up in ${timeoutMs / 1000} s: ${JSON.stringify(samples.slice(-5))}`);
        await sleep(1000);
      }
    },
  };
}

/** The totals of a store holding `sent` flows of `bytes` in all exactly once (partitions aside). */
export function storedExactly(sent: number, bytes: number): Omit<StoredTotals, 'partitions'> {
  return { rows: sent, distinct: sent, bytes, flows1m: sent, bytes1m: bytes, bytes1h: bytes };
}
