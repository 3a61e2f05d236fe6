import { createHash } from 'node:crypto';
import {
  batchToken,
  type ClickHouseClient,
  dedupInsertSettings,
  ident,
  insertNative,
  type NativeColumn,
  resendBatch,
} from '@flowwatch/clickhouse';
import type { RegistryConfig } from '@flowwatch/config';
import { Enricher, emptyFlowClass } from '@flowwatch/enrichment';
import { type DeadLetter, DLQ_SCHEMA, decodeFlowsColumns, type FlowColumns, type FlowRecord, flowColumnsOf } from '@flowwatch/flow-schema';
import { BufferedProducer, type ConsumedBatch, DurableConsumer, type ProducerOptions } from '@flowwatch/kafka';
import type { Service } from '@flowwatch/lifecycle';
import { RateLimitedLog, type ReadinessCheck, type Registry, ServiceMetrics } from '@flowwatch/observability';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { dayOf, insertRuns, type MessageRows } from './insert-runs.js';
import { addressProblem, nsToMs, RawBlock } from './raw-block.js';

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
  /** Partitions handled at once (their batches overlap: one is read while another is inserted). */
  partitionsConcurrently: number;
  /**
   * Inserts that may run while the next batches are fetched and read (0: a batch is inserted
   * before the next fetch of its round); its offsets are committed when it lands.
   */
  insertsInFlight: number;
  /**
   * flows_raw's retention (storage.rawTtlDays, 7 by default). ClickHouse drops a row already past
   * its TTL at insert; such records are dead-lettered instead (see handle).
   */
  rawTtlDays?: number;
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
 * built from topic, partition and first offset, so a retried insert, whose outcome was unknown, is
 * stored once, rollups included, and so is an overlapping insert of another writer of the
 * partition after a rebalance (see store); and the last stored batch is re-sent
 * once on replay with its own token, which completes rollups a kill cut short (completeRollups). While ClickHouse is slow or down the
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
    overlaps: metrics.counter(
      'insert_overlaps',
      'Inserts ClickHouse dropped because another writer of the partition had stored fewer messages from the same offset (a rebalance during an insert); the rest is sent again',
    ),
    swallowed: metrics.counter(
      'inserts_swallowed',
      'Inserts ClickHouse took for duplicates of a part a crash lost (its token recorded, its part not); their raw rows were attached without the views',
    ),
    repairs: metrics.counter(
      'rollup_repairs',
      'Stored but uncommitted batches re-sent so that every rollup has them (after a crash or rebalance)',
    ),
  };
  let enricher = new Enricher(registryConfig);
  const cls = emptyFlowClass();
  const check = new RowCheck();
  const rawTtlDays = config.rawTtlDays ?? 7;
  const producer = new BufferedProducer(deps.kafka, deps.producerOptions, metrics, logger);
  const warnOnce = new RateLimitedLog(logger);
  // Whether the last batch reached ClickHouse: every ClickHouse call of a batch counts (the read of
  // what is stored comes first, so with ClickHouse down it is the one that fails, not the insert).
  let clickhouseOk = true;

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

  /**
   * The last batch stored for a partition at or after `from`: its first and last offsets (from
   * the rows themselves), or undefined when nothing there is stored yet.
   */
  const lastStoredBatch = async (topic: string, partition: number, from: string): Promise<{ first: bigint; last: bigint } | undefined> => {
    const rows = await (
      await deps.clickhouse.query({
        query: `SELECT count() AS n, max(kafka_offset) AS last, argMax(kafka_batch_first, kafka_offset) AS first FROM flows_raw
                WHERE kafka_topic = {topic:String} AND kafka_partition = {partition:UInt16} AND kafka_offset >= {from:UInt64}`,
        query_params: { topic, partition, from },
        format: 'JSONEachRow',
      })
    ).json<{ n: string | number; last: string | number; first: string | number }>();
    const r = rows[0];
    return r && Number(r.n) > 0 ? { first: BigInt(r.first), last: BigInt(r.last) } : undefined;
  };

  /**
   * Completes the rollups of a batch whose raw rows are stored but whose commit never happened:
   * a process killed inside an INSERT can leave the raw part written and the materialized views'
   * parts not. The batch's own rows are read back and inserted again with the batch's token:
   * ClickHouse drops the block for every table that already has it (flows_raw at least) and
   * writes it to each view that missed it. Harmless, and cheap, when nothing was missing.
   */
  const completeRollups = async (topic: string, partition: number, stored: { first: bigint; last: bigint }) => {
    const rows = await resendBatch(deps.clickhouse, 'flows_raw', 'flows_raw', { topic, partition, ...stored });
    if (rows === 0) return;
    m.repairs.inc();
    logger.info(
      { topic, partition, first: String(stored.first), last: String(stored.last), rows },
      're-sent the last stored batch to complete its rollups',
    );
  };

  /**
   * Stores the rows of an insert ClickHouse swallowed in flows_raw alone. A kill between a
   * MergeTree's deduplication log and its part's rename (ClickHouse records the token first) leaves
   * the token and no part; every later insert under that token is then dropped from flows_raw but
   * still reaches the views, which therefore have these rows already (once: their own tokens come
   * from ours). The rows are written to a scratch copy of flows_raw and its partition attached,
   * which runs no view. Only a plain MergeTree has this failure: a replicated table commits the
   * token and the part together (docs/storage.md, "Exactly once", step 5).
   */
  const restoreRaw = async (columns: NativeColumn[], token: string) => {
    const engine = (
      await (
        await deps.clickhouse.query({
          query: 'SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = {name:String}',
          query_params: { name: 'flows_raw' },
          format: 'JSONEachRow',
        })
      ).json<{ engine: string }>()
    )[0]?.engine;
    if (engine !== 'MergeTree')
      throw new Error(`insert ${token} returned but none of its rows is stored, and flows_raw is ${engine ?? 'missing'}, not a MergeTree`);
    const name = `flows_raw_restore_${createHash('sha256').update(token).digest('hex').slice(0, 16)}`;
    const scratch = ident(name);
    await deps.clickhouse.command({ query: `DROP TABLE IF EXISTS ${scratch} SYNC` });
    await deps.clickhouse.command({ query: `CREATE TABLE ${scratch} AS flows_raw` });
    try {
      await insertNative(deps.clickhouse, { table: name, columns });
      const ids = await (
        await deps.clickhouse.query({ query: `SELECT DISTINCT _partition_id AS id FROM ${scratch}`, format: 'JSONEachRow' })
      ).json<{ id: string }>();
      for (const { id } of ids) {
        if (!/^[0-9A-Za-z_-]+$/.test(id)) throw new Error(`unexpected partition id ${JSON.stringify(id)} of flows_raw`);
        await deps.clickhouse.command({ query: `ALTER TABLE flows_raw ATTACH PARTITION ID '${id}' FROM ${scratch}` });
      }
    } finally {
      await deps.clickhouse.command({ query: `DROP TABLE IF EXISTS ${scratch} SYNC` });
    }
  };

  /**
   * Writes one run of messages (insertRuns: one flows_raw part) with the token of its first
   * offset, then reads back how far the partition is stored. Another writer of this partition (the
   * previous or next owner across a rebalance, its insert still in flight) may have stored an
   * insert with the same first offset and fewer messages first: ClickHouse then drops ours whole,
   * and the messages after what it stored are sent again as a new insert. Every insert starts just
   * after what was stored when its writer looked, so overlapping inserts share their first offset
   * and ClickHouse keeps one of them (docs/storage.md, "Two writers of one partition"). An insert
   * that returns with none of its rows stored, on a second look too, was swallowed by a token a
   * crash left behind: its rows go to flows_raw alone (restoreRaw).
   */
  const store = async (batch: ConsumedBatch, block: RawBlock, run: MessageRows[], storedUpTo: bigint): Promise<bigint> => {
    let rest = run.filter((message) => BigInt(message.offset) > storedUpTo);
    while (rest.length > 0) {
      const head = rest[0] as MessageRows;
      const tail = rest[rest.length - 1] as MessageRows;
      const first = head.offset;
      const last = tail.offset;
      // The messages of a run are consecutive in the block (insertRuns cuts the batch in order).
      const columns = block.columns(head.from, tail.to, batch.topic, batch.partition, first);
      const rows = tail.to.rows - head.from.rows;
      const t0 = performance.now();
      try {
        await insertNative(deps.clickhouse, {
          table: 'flows_raw',
          columns,
          clickhouse_settings: dedupInsertSettings(batchToken(batch.topic, batch.partition, BigInt(first))),
        });
      } catch (err) {
        const code = Number((err as { code?: string }).code);
        if (DATA_ERRORS.has(code)) {
          // The rows themselves are bad: dead-letter their messages instead of retrying for ever.
          for (const message of rest) {
            deadLetter('insert_rejected', `ClickHouse error ${code}: ${(err as Error).message.slice(0, 300)}`, batch, message.value);
          }
          return storedUpTo;
        }
        m.insertErrors.inc();
        throw err;
      }
      m.insertSeconds.observe((performance.now() - t0) / 1000);
      let now = await lastStoredBatch(batch.topic, batch.partition, first);
      if (!now) {
        // Another writer's insert under this token may be between the deduplication log and its
        // part being in place: look again after a moment before taking the token for lost.
        await new Promise((r) => setTimeout(r, SWALLOWED_RECHECK_MS));
        now = await lastStoredBatch(batch.topic, batch.partition, first);
      }
      if (!now) {
        const token = batchToken(batch.topic, batch.partition, BigInt(first));
        logger.warn(
          { topic: batch.topic, partition: batch.partition, first, last, token },
          'ClickHouse took the insert for a duplicate, yet none of its rows is stored (a crash lost the part its token was recorded for); storing the raw rows without the views, which have them',
        );
        await restoreRaw(columns, token);
        m.swallowed.inc();
        now = await lastStoredBatch(batch.topic, batch.partition, first);
        if (!now)
          throw new Error(`insert ${token} (offsets ${first}-${last}): nothing from ${first} on is stored, even after attaching it`);
      }
      if (now.last >= BigInt(last)) {
        m.batchRows.observe(rows);
        m.rows.inc(rows);
        return now.last;
      }
      m.overlaps.inc();
      logger.warn(
        { topic: batch.topic, partition: batch.partition, first, last, storedUpTo: String(now.last) },
        'another writer stored this partition from the same offset (a rebalance during an insert); sending the rest again',
      );
      const storedNow = now.last;
      rest = rest.filter((message) => BigInt(message.offset) > storedNow);
    }
    return storedUpTo;
  };

  const handle = async (batch: ConsumedBatch) => {
    // A row whose time_received is past flows_raw's TTL never reaches the table (ClickHouse drops
    // it at insert, and the views still take it), so the store could not see it stored and would
    // retry its batch for ever. Such records (a replay of old exports with their export time, a
    // backlog older than the retention, a time of 0) are dead-lettered, an hour before the limit.
    const oldestMs = Date.now() - rawTtlDays * DAY_MS + HOUR_MS;
    const stored = await lastStoredBatch(batch.topic, batch.partition, batch.firstOffset);
    const hw = stored?.last ?? -1n;
    // A first offset above the last one is the "unknown" of rows stored before migration 2.
    if (stored && stored.first <= stored.last) await completeRollups(batch.topic, batch.partition, stored);
    const messages: MessageRows[] = [];
    let skipped = 0;
    // Sized for a few thousand rows and grown by doubling: a batch's message count says little
    // about its rows (1 to 10,000 a message; heartbeats have none).
    const block = new RawBlock(4096);
    for (const message of batch.messages) {
      if (BigInt(message.offset) <= hw) {
        skipped++;
        continue;
      }
      if (!message.value) continue;
      const {
        columns,
        badLines,
        problem: unreadable,
      } = decodeFlowsColumns(message.value, (record) => {
        const problem = recordTypeProblem(record);
        if (problem) deadLetter('invalid_record', `offset ${message.offset}: ${problem}`, batch, JSON.stringify(record));
        return problem === undefined;
      });
      if (unreadable !== undefined)
        deadLetter(
          'invalid_message',
          `offset ${message.offset} is not a readable binary flows message: ${unreadable}`,
          batch,
          message.value,
        );
      if (badLines > 0)
        deadLetter('invalid_message', `${badLines} lines of offset ${message.offset} are not JSON records`, batch, message.value);
      // Each record checked, classified and written into the block column by column (no object per flow).
      const from = block.mark();
      check.source(columns);
      block.source(columns, message.offset);
      const srcAddr = columns.stringBase('src_addr');
      const dstAddr = columns.stringBase('dst_addr');
      const srcPort = columns.numberBase('src_port');
      const dstPort = columns.numberBase('dst_port');
      const received = columns.numberBase('time_received_ns');
      let day = -1;
      let oneDay = true;
      for (let i = 0; i < columns.n; i++) {
        const problem = check.problem(i);
        if (problem) {
          deadLetter('invalid_record', `offset ${message.offset}: ${problem}`, batch, JSON.stringify(columns.record(i)));
          continue;
        }
        const receivedMs = nsToMs(columns.numbers[received + i] as number);
        if (receivedMs < oldestMs) {
          // A record that is wrong as well as old is reported as wrong, as the address check in
          // append would have (this rare path pays the parse).
          const wrong = addressProblem(columns.strings[srcAddr + i] as string, columns.strings[dstAddr + i] as string);
          if (wrong) {
            deadLetter('invalid_record', `offset ${message.offset}: ${wrong}`, batch, JSON.stringify(columns.record(i)));
            continue;
          }
          deadLetter(
            'older_than_retention',
            `offset ${message.offset}: time_received ${new Date(receivedMs).toISOString()} is older than flows_raw keeps (${rawTtlDays} days, storage.rawTtlDays); ClickHouse would drop it at insert`,
            batch,
            JSON.stringify(columns.record(i)),
          );
          continue;
        }
        enricher.classify(
          columns.strings[srcAddr + i] as string,
          columns.strings[dstAddr + i] as string,
          columns.numbers[srcPort + i] as number,
          columns.numbers[dstPort + i] as number,
          cls,
        );
        const unstorable = block.append(i, cls);
        if (unstorable) {
          deadLetter('invalid_record', `offset ${message.offset}: ${unstorable}`, batch, JSON.stringify(columns.record(i)));
          continue;
        }
        const d = dayOf(receivedMs);
        if (day < 0) day = d;
        else if (d !== day) oneDay = false;
      }
      const to = block.mark();
      if (to.rows > from.rows) messages.push({ offset: message.offset, value: message.value, from, to, day, oneDay });
    }
    if (skipped > 0) {
      m.dedup.inc({ topic: batch.topic }, skipped);
      logger.info({ topic: batch.topic, partition: batch.partition, skipped, storedUpTo: String(hw) }, 'skipped messages already stored');
    }
    // The write (DurableConsumer: run while the next batches are read when insertsInFlight > 0;
    // retried as it is: every insert carries its token). Each insert starts after what is stored,
    // as last read: a longer insert of another writer may have stored past the end of ours.
    const runs = insertRuns(messages);
    return async () => {
      let storedUpTo = hw;
      for (const run of runs) storedUpTo = await store(batch, block, run, storedUpTo);
    };
  };

  /** `work`, noting whether ClickHouse answered (readiness): every ClickHouse call of a batch counts. */
  const noted = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      const result = await work();
      clickhouseOk = true;
      return result;
    } catch (err) {
      clickhouseOk = false;
      throw err;
    }
  };

  const consumer = new DurableConsumer(
    deps.kafka,
    {
      groupId: config.groupId,
      topics: [deps.topics.flows],
      fromBeginning: true,
      handle: async (batch) => {
        const write = await noted(() => handle(batch));
        return () => noted(write);
      },
      maxBytesPerPartition: config.maxBytesPerPartition,
      minBytes: config.minBytes,
      maxWaitTimeInMs: config.maxWaitMs,
      partitionsConcurrently: config.partitionsConcurrently,
      writesInFlight: config.insertsInFlight,
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
            : clickhouseOk
              ? { ready: true }
              : { ready: false, reason: 'clickhouse failing; consumption paused, batch retried' },
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

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** How long an insert that stored nothing waits before looking again (another writer's part may be landing). */
const SWALLOWED_RECHECK_MS = 500;

/** Integer columns of flows_raw and the largest value each holds. */
const INTEGER_FIELDS = [
  ['bytes', Number.MAX_SAFE_INTEGER],
  ['packets', Number.MAX_SAFE_INTEGER],
  ['src_port', 0xffff],
  ['dst_port', 0xffff],
  ['proto', 0xff],
  ['sequence_num', 0xffffffff],
  ['sampling_rate', 0xffffffff],
  ['etype', 0xffff],
  ['tcp_flags', 0xffff],
  ['icmp_type', 0xff],
  ['icmp_code', 0xff],
  ['ip_tos', 0xff],
  ['in_if', 0xffffffff],
  ['out_if', 0xffffffff],
  ['vlan_id', 0xffff],
  ['src_as', 0xffffffff],
  ['dst_as', 0xffffffff],
] as const;

/**
 * What is wrong with the types of a record parsed from JSON (untyped) in the fields flows_raw
 * stores, or undefined. The values themselves are RowCheck's.
 */
export function recordTypeProblem(r: FlowRecord): string | undefined {
  if (typeof r !== 'object' || r === null) return 'not an object';
  if (typeof r.src_addr !== 'string') return 'src_addr is not an address';
  if (typeof r.dst_addr !== 'string') return 'dst_addr is not an address';
  for (const [k, max] of INTEGER_FIELDS) {
    if (typeof (r[k] ?? 0) !== 'number') return `${k} is not an integer from 0 to ${max}`;
  }
  for (const k of TIME_FIELDS) {
    if (typeof (r[k] ?? 0) !== 'number') return `${k} is not a non-negative number`;
  }
  for (const k of ['supplier_id', 'type', 'exporter_id', 'sampler_address', 'next_hop'] as const) {
    if (typeof (r[k] ?? '') !== 'string') return `${k} must be a string`;
  }
  return undefined;
}

/** Nanoseconds since the epoch exceed 2^53: any finite non-negative number will do. */
const TIME_FIELDS = ['time_received_ns', 'time_flow_start_ns', 'time_flow_end_ns'] as const;

/**
 * What flows_raw cannot store, reported per record instead of failing the whole insert (a value
 * out of its column's range would make ClickHouse reject every row of the batch). Checks the
 * records of one message after another (`source`), read column by column. Their addresses are
 * checked as they are written (RawBlock.append), in the same parse.
 */
export class RowCheck {
  #from: FlowColumns = flowColumnsOf([]);
  readonly #integers = new Int32Array(INTEGER_FIELDS.length);
  readonly #times = new Int32Array(TIME_FIELDS.length);

  source(from: FlowColumns): this {
    this.#from = from;
    INTEGER_FIELDS.forEach(([k], j) => {
      this.#integers[j] = from.numberBase(k);
    });
    TIME_FIELDS.forEach((k, j) => {
      this.#times[j] = from.numberBase(k);
    });
    return this;
  }

  /** What is wrong with record `i` of the source, or undefined. */
  problem(i: number): string | undefined {
    const { numbers } = this.#from;
    for (let j = 0; j < INTEGER_FIELDS.length; j++) {
      const [k, max] = INTEGER_FIELDS[j] as (typeof INTEGER_FIELDS)[number];
      const v = numbers[(this.#integers[j] as number) + i] as number;
      if (!Number.isInteger(v) || v < 0 || v > max) return `${k} is not an integer from 0 to ${max}`;
    }
    for (let j = 0; j < TIME_FIELDS.length; j++) {
      const v = numbers[(this.#times[j] as number) + i] as number;
      if (!Number.isFinite(v) || v < 0) return `${TIME_FIELDS[j]} is not a non-negative number`;
    }
    return undefined;
  }
}
