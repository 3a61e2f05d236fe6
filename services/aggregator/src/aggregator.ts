import { isIP } from 'node:net';
import { type ClickHouseClient, dedupInsertSettings } from '@flowwatch/clickhouse';
import type { RegistryConfig } from '@flowwatch/config';
import { Enricher } from '@flowwatch/enrichment';
import { type DeadLetter, DLQ_SCHEMA, decodeFlows, type FlowRecord } from '@flowwatch/flow-schema';
import { BufferedProducer, type ConsumedBatch, DurableConsumer, type ProducerOptions } from '@flowwatch/kafka';
import type { Service } from '@flowwatch/lifecycle';
import { RateLimitedLog, type ReadinessCheck, type Registry, ServiceMetrics } from '@flowwatch/observability';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { type RawRow, toRawRow } from './raw-row.js';

export interface AggregatorDeps {
  logger: Logger;
  registry: Registry;
  kafka: Kafka;
  clickhouse: ClickHouseClient;
  producerOptions: ProducerOptions;
  topics: { flows: string; dlq: string };
  readiness: ReadinessCheck[];
}

export interface AggregatorConfig {
  groupId: string;
  /** Bytes fetched per partition at most: bounds a batch (and memory) per partition. */
  maxBytesPerPartition: number;
  /** A fetch waits for this many bytes or `maxWaitMs`: the size and time bounds of a batch. */
  minBytes: number;
  maxWaitMs: number;
}

export interface Aggregator extends Service {
  reload(registry: RegistryConfig): void;
}

/** ClickHouse error codes that mean the data, not the server, is wrong: retrying cannot help. */
const DATA_ERRORS = new Set([6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 241]);

/**
 * Consumes `flows`, enriches every record and writes it to `flows_raw` (the rollups follow through
 * materialized views), committing a partition's offsets only after ClickHouse has its batch.
 *
 * Exactly once: each row carries its Kafka topic, partition and offset. Before a batch is written,
 * the highest offset already stored for that partition at or after the batch start is read
 * (a minmax index makes this cheap) and messages up to it are skipped: that is what a crash
 * between an insert and its commit leaves behind. The insert itself carries a deduplication token
 * built from topic, partition and offset range, so a retried insert of the same range, whose
 * outcome was unknown, is stored once, rollups included. While ClickHouse is slow or down the
 * batch is retried with back-off and the partition waits (memory stays bounded by the fetch size).
 */
export function createAggregator(deps: AggregatorDeps, config: AggregatorConfig, registryConfig: RegistryConfig): Aggregator {
  const logger = deps.logger.child({ component: 'aggregator' });
  const metrics = new ServiceMetrics(deps.registry, 'aggregator');
  const m = {
    rows: metrics.counter('rows_written', 'Rows written to flows_raw'),
    dedup: metrics.counter('dedup_skipped', 'Messages skipped because ClickHouse already had them (replay after a crash or rebalance)', [
      'topic',
    ]),
    dlq: metrics.counter('dead_letters', 'Records or messages sent to the dead-letter topic, by reason', ['reason']),
    batchRows: metrics.histogram('batch', 'flows', 'Rows per insert', [10, 100, 1000, 5000, 10_000, 50_000, 100_000, 500_000]),
    insertSeconds: metrics.histogram(
      'insert_duration',
      'seconds',
      'Time of one insert into ClickHouse',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
    insertErrors: metrics.counter('insert_errors', 'Inserts that failed and were retried'),
  };
  let enricher = new Enricher(registryConfig);
  const producer = new BufferedProducer(deps.kafka, deps.producerOptions, metrics, logger);
  const warnOnce = new RateLimitedLog(logger);
  let lastInsertOk = true;

  const deadLetter = (reason: string, detail: string, batch: ConsumedBatch, raw: Buffer | string) => {
    m.dlq.inc({ reason });
    const letter: DeadLetter = {
      schema: DLQ_SCHEMA,
      reason,
      detail,
      source: `kafka:${batch.topic}:${batch.partition}`,
      protocol: 'unknown',
      supplier_id: '',
      exporter_id: '',
      received_at: new Date().toISOString(),
      raw_base64: (typeof raw === 'string' ? Buffer.from(raw) : raw).toString('base64'),
    };
    producer.send(deps.topics.dlq, [{ key: letter.source, value: JSON.stringify(letter), headers: { schema: DLQ_SCHEMA } }]);
    warnOnce.warn(`aggregator-dlq:${reason}`, { reason, detail }, 'flow data dead-lettered');
  };

  const storedUpTo = async (topic: string, partition: number, from: string): Promise<bigint> => {
    const rows = await (
      await deps.clickhouse.query({
        query: `SELECT max(kafka_offset) AS hw, count() AS n FROM flows_raw
                WHERE kafka_topic = {topic:String} AND kafka_partition = {partition:UInt16} AND kafka_offset >= {from:UInt64}`,
        query_params: { topic, partition, from },
        format: 'JSONEachRow',
      })
    ).json<{ hw: string | number; n: string | number }>();
    const r = rows[0];
    return r && Number(r.n) > 0 ? BigInt(r.hw) : -1n;
  };

  const handle = async (batch: ConsumedBatch) => {
    const hw = await storedUpTo(batch.topic, batch.partition, batch.firstOffset);
    const rows: RawRow[] = [];
    let first: string | undefined;
    let skipped = 0;
    for (const message of batch.messages) {
      if (BigInt(message.offset) <= hw) {
        skipped++;
        continue;
      }
      first ??= message.offset;
      if (!message.value) continue;
      const { records, badLines } = decodeFlows(message.value);
      if (badLines > 0)
        deadLetter('invalid_message', `${badLines} lines of offset ${message.offset} are not JSON records`, batch, message.value);
      for (const record of records) {
        const problem = checkRecord(record);
        if (problem) {
          deadLetter('invalid_record', `offset ${message.offset}: ${problem}`, batch, JSON.stringify(record));
          continue;
        }
        rows.push(toRawRow(enricher.enrich(record), batch.topic, batch.partition, message.offset));
      }
    }
    if (skipped > 0) {
      m.dedup.inc({ topic: batch.topic }, skipped);
      logger.info({ topic: batch.topic, partition: batch.partition, skipped, storedUpTo: String(hw) }, 'skipped messages already stored');
    }
    if (rows.length === 0) return;
    const token = `${batch.topic}:${batch.partition}:${first}-${batch.lastOffset}`;
    const t0 = performance.now();
    try {
      await deps.clickhouse.insert({
        table: 'flows_raw',
        values: rows,
        format: 'JSONEachRow',
        clickhouse_settings: dedupInsertSettings(token),
      });
      lastInsertOk = true;
    } catch (err) {
      const code = Number((err as { code?: string }).code);
      if (DATA_ERRORS.has(code)) {
        // The batch itself is bad: dead-letter its messages instead of retrying for ever.
        for (const message of batch.messages) {
          if (BigInt(message.offset) > hw && message.value) {
            deadLetter('insert_rejected', `ClickHouse error ${code}: ${(err as Error).message.slice(0, 300)}`, batch, message.value);
          }
        }
        return;
      }
      lastInsertOk = false;
      m.insertErrors.inc();
      throw err;
    }
    m.insertSeconds.observe((performance.now() - t0) / 1000);
    m.batchRows.observe(rows.length);
    m.rows.inc(rows.length);
  };

  const consumer = new DurableConsumer(
    deps.kafka,
    {
      groupId: config.groupId,
      topics: [deps.topics.flows],
      fromBeginning: true,
      handle,
      maxBytesPerPartition: config.maxBytesPerPartition,
      minBytes: config.minBytes,
      maxWaitTimeInMs: config.maxWaitMs,
    },
    metrics,
    logger,
  );
  let started = false;

  return {
    name: 'aggregator',
    async start() {
      await producer.start();
      await consumer.start();
      started = true;
      deps.readiness.push({
        name: 'aggregator',
        check: () =>
          !started
            ? { ready: false, reason: 'stopped' }
            : lastInsertOk
              ? { ready: true }
              : { ready: false, reason: 'clickhouse inserts failing; consumption paused' },
      });
    },
    // Also called while start() is still waiting (for its consumer group, say): the consumer and
    // producer stop whatever state they are in.
    async stop() {
      started = false;
      await consumer.stop();
      await producer.stop();
    },
    reload(registry) {
      enricher = new Enricher(registry);
      logger.info('registry reloaded');
    },
  };
}

/** What flows_raw cannot store: reported per record instead of failing the whole insert. */
export function checkRecord(r: FlowRecord): string | undefined {
  if (typeof r !== 'object' || r === null) return 'not an object';
  if (typeof r.src_addr !== 'string' || (r.src_addr !== '' && isIP(r.src_addr) === 0)) return 'src_addr is not an address';
  if (typeof r.dst_addr !== 'string' || (r.dst_addr !== '' && isIP(r.dst_addr) === 0)) return 'dst_addr is not an address';
  for (const k of ['bytes', 'packets', 'time_received_ns', 'src_port', 'dst_port', 'proto'] as const) {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return `${k} is not a non-negative number`;
  }
  if (typeof r.supplier_id !== 'string' || typeof r.type !== 'string') return 'supplier_id and type must be strings';
  return undefined;
}
