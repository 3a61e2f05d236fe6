import type { NativeColumn } from '@flowwatch/clickhouse';
import { batchToken, dedupInsertSettings, insertNative, migrate, SCHEMA } from '@flowwatch/clickhouse';
import type { RegistryConfig } from '@flowwatch/config';
import { Enricher, emptyFlowClass } from '@flowwatch/enrichment';
import { decodeFlowsColumns, emptyFlow, encodeFlows, type FlowRecord } from '@flowwatch/flow-schema';
import { ensureTopics } from '@flowwatch/kafka';
import { createRegistry } from '@flowwatch/observability';
import {
  hourStartAgo,
  openTestClickHouse,
  SERVICE_PRODUCER_OPTIONS,
  silentLogger,
  testKafka,
  testProducer,
  uniqueName,
} from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAggregator } from './aggregator.js';
import { RawBlock } from './raw-block.js';

/**
 * The replay of a large stored-but-uncommitted batch (a crash, or a commit refused because the
 * member lost its group membership). The aggregator re-sends the last stored batch to complete its
 * rollups, relying on its deduplication token to drop it from flows_raw. Re-sent as JSONEachRow
 * with parallel parsing on, a batch of more than about 10 MB of JSON was cut into several blocks
 * and ClickHouse stored all of it again (issue 4; 886,800 rows for 300,000 flows in the bench).
 */
const registry: RegistryConfig = {
  suppliers: [{ id: 'supplier-b', name: 'B', exporters: [], pushTokens: [], clientCertFingerprints: [] }],
  organisations: [{ code: 'RR8', name: 'Leeds Teaching Hospitals', type: 'acute', supplier: 'supplier-b', prefixes: ['10.12.0.0/16'] }],
  services: [],
  groups: [],
};
const MESSAGES = 320;
const STORED = 300; // 30,000 rows, about 20 MB as JSONEachRow
const PER_MESSAGE = 100;
// The hour before the last (flows_raw drops rows past its retention at insert).
const HOUR = hourStartAgo(2);
const { kafka } = testKafka();
let ch: Awaited<ReturnType<typeof openTestClickHouse>>;

beforeAll(async () => {
  ch = await openTestClickHouse();
  await migrate(ch.client, SCHEMA, silentLogger);
});
afterAll(async () => {
  await ch?.client.close();
});

/** Flow i of a test; its supplier is the test's topic, so each test finds its own rows in the rollups. */
function flow(i: number, supplier: string): FlowRecord {
  return {
    ...emptyFlow('NETFLOW_V9'),
    time_received_ns: (HOUR + (i % 60) * 60_000 + (i % 60) * 1000) * 1e6,
    src_addr: `10.12.${i % 250}.${(i >> 8) % 250}`,
    dst_addr: `2001:db8::${(i % 65_000).toString(16)}`,
    src_port: i % 65_000,
    dst_port: 443,
    proto: 6,
    bytes: 1_000 + i,
    packets: 2,
    sampling_rate: 1,
    supplier_id: supplier,
    exporter_id: 'r1',
    sampler_address: '192.0.2.1',
  };
}

async function produce(topic: string, messages: number): Promise<Buffer[]> {
  await ensureTopics(
    kafka,
    [
      { name: topic, partitions: 1, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
      { name: `${topic}.dlq`, partitions: 1, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
    ],
    silentLogger,
  );
  const producer = await testProducer(kafka);
  const values: Buffer[] = [];
  for (let m = 0; m < messages; m++) {
    const value = Buffer.from(encodeFlows(Array.from({ length: PER_MESSAGE }, (_, k) => flow(m * PER_MESSAGE + k, topic))));
    values.push(value);
    producer.send(topic, [{ key: 'k', value }]);
  }
  await producer.flush();
  await producer.stop();
  return values;
}

/** The rows the aggregator writes for messages [from, to) of partition 0, as one insert from `from`. */
function rowsOf(topic: string, values: Buffer[], from: number, to: number): NativeColumn[] {
  const enricher = new Enricher(registry);
  const cls = emptyFlowClass();
  const block = new RawBlock((to - from) * PER_MESSAGE);
  const start = block.mark();
  for (let m = from; m < to; m++) {
    const { columns } = decodeFlowsColumns(values[m] as Buffer, () => true);
    block.source(columns, String(m));
    for (let i = 0; i < columns.n; i++) {
      const r = columns.record(i);
      block.append(i, enricher.classify(r.src_addr, r.dst_addr, r.src_port, r.dst_port, cls));
    }
  }
  return block.columns(start, block.mark(), topic, 0, String(from));
}

const one = async (query: string) =>
  Number(((await (await ch.client.query({ query, format: 'JSONEachRow' })).json<{ n: string }>())[0] as { n: string }).n);

type Metric = (name: string) => Promise<number>;

/**
 * Runs an aggregator of group `group` on `topic` until `done` says so (by default, until it has
 * written `rows` rows), then stops it; returns its metrics.
 */
async function aggregate(
  topic: string,
  rows: number,
  { group = `${topic}-aggregators`, done = async (metric: Metric) => (await metric('rows_written')) >= rows } = {},
): Promise<Metric> {
  const metrics = createRegistry();
  const aggregator = createAggregator(
    {
      logger: silentLogger,
      registry: metrics,
      kafka,
      clickhouse: ch.client,
      producerOptions: SERVICE_PRODUCER_OPTIONS,
      topics: { flows: topic, dlq: `${topic}.dlq` },
      readiness: [],
    },
    { groupId: group, maxBytesPerPartition: 16 << 20, minBytes: 1, maxWaitMs: 200, partitionsConcurrently: 2, insertsInFlight: 2 },
    registry,
  );
  const metric = async (name: string) =>
    ((await metrics.getSingleMetric(`flowwatch_aggregator_${name}_total`)?.get())?.values ?? []).reduce((n, v) => n + v.value, 0);
  await aggregator.start();
  try {
    for (const end = Date.now() + 45_000; !(await done(metric)); ) {
      if (Date.now() > end) throw new Error('the aggregator did not finish within 45 s');
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await aggregator.stop();
  }
  return metric;
}

const stored = async (topic: string) => ({
  raw: await one(`SELECT count() AS n FROM flows_raw WHERE kafka_topic = '${topic}'`),
  minute: await one(`SELECT sum(flows) AS n FROM flows_1m WHERE supplier_id = '${topic}'`),
  hour: await one(`SELECT sum(flows) AS n FROM flows_1h WHERE supplier_id = '${topic}'`),
});

/**
 * What a kill between the table's deduplication log and the part's rename leaves (ClickHouse
 * records the token, then renames the part into place): the token of the insert of messages
 * [0, to) is known to flows_raw, and none of its rows is stored anywhere. Reproduced by inserting
 * with the views detached and deleting the rows (the deletion leaves the token). The next insert
 * under that token is dropped from flows_raw and reaches the views (counted as swallowed).
 */
async function loseStoredPart(topic: string, values: Buffer[], to: number): Promise<void> {
  const token = dedupInsertSettings(batchToken(topic, 0, 0n));
  await ch.client.command({ query: 'DETACH TABLE flows_1m_mv' });
  try {
    await insertNative(ch.client, { table: 'flows_raw', columns: rowsOf(topic, values, 0, to), clickhouse_settings: token });
  } finally {
    await ch.client.command({ query: 'ATTACH TABLE flows_1m_mv' });
  }
  await ch.client.command({
    query: 'ALTER TABLE flows_raw DELETE WHERE kafka_topic = {topic:String} SETTINGS mutations_sync = 2',
    query_params: { topic },
  });
  expect(await stored(topic)).toEqual({ raw: 0, minute: 0, hour: 0 });
}

describe('aggregator replaying a large stored batch', () => {
  it('re-sends it for the rollups without storing it twice', async () => {
    const topic = uniqueName('flows-repair');
    const values = await produce(topic, MESSAGES);
    // What a run that stored offsets 0-299 in one insert and died before its commit leaves: the
    // rows the aggregator would have written, with its token.
    await insertNative(ch.client, {
      table: 'flows_raw',
      columns: rowsOf(topic, values, 0, STORED),
      clickhouse_settings: dedupInsertSettings(batchToken(topic, 0, 0n)),
    });
    const metric = await aggregate(topic, (MESSAGES - STORED) * PER_MESSAGE);
    expect(await metric('rollup_repairs')).toBeGreaterThanOrEqual(1);
    expect(await stored(topic)).toEqual({ raw: MESSAGES * PER_MESSAGE, minute: MESSAGES * PER_MESSAGE, hour: MESSAGES * PER_MESSAGE });
  });
});

describe('aggregator after a crash lost a part whose token ClickHouse kept', () => {
  it('stores the raw rows once without giving the views them twice, and a replay changes nothing', async () => {
    const topic = uniqueName('flows-lost');
    const values = await produce(topic, 20);
    await loseStoredPart(topic, values, 20);
    const metric = await aggregate(topic, 20 * PER_MESSAGE);
    expect(await metric('inserts_swallowed')).toBeGreaterThanOrEqual(1);
    expect(await stored(topic)).toEqual({ raw: 20 * PER_MESSAGE, minute: 20 * PER_MESSAGE, hour: 20 * PER_MESSAGE });
    expect(await one("SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name LIKE 'flows_raw_restore_%'")).toBe(
      0,
    );

    // A run that died before its commit: the next one (a group with nothing committed) finds the
    // batch stored, re-sends it for the rollups under its token, and stores nothing twice.
    const replay = await aggregate(topic, 0, {
      group: `${topic}-replay`,
      done: async (m) => (await m('dedup_skipped')) >= 20,
    });
    expect(await replay('rollup_repairs')).toBeGreaterThanOrEqual(1);
    expect(await stored(topic)).toEqual({ raw: 20 * PER_MESSAGE, minute: 20 * PER_MESSAGE, hour: 20 * PER_MESSAGE });
  });
});
