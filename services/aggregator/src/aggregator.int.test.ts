import { batchToken, dedupInsertSettings, migrate, SCHEMA } from '@flowwatch/clickhouse';
import type { RegistryConfig } from '@flowwatch/config';
import { emptyFlow, encodeFlows, type FlowRecord } from '@flowwatch/flow-schema';
import { ensureTopics } from '@flowwatch/kafka';
import { createRegistry } from '@flowwatch/observability';
import {
  hourStartAgo,
  openTestClickHouse,
  readTopic,
  SERVICE_PRODUCER_OPTIONS,
  silentLogger,
  testKafka,
  testProducer,
  uniqueName,
} from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Aggregator, createAggregator } from './aggregator.js';
import { toRawRow } from './raw-row.js';

const registry: RegistryConfig = {
  suppliers: [
    { id: 'supplier-a', name: 'A', exporters: [], pushTokens: [], clientCertFingerprints: [] },
    { id: 'supplier-b', name: 'B', exporters: [], pushTokens: [], clientCertFingerprints: [] },
  ],
  organisations: [
    {
      code: 'RR8',
      name: 'Leeds Teaching Hospitals',
      type: 'acute',
      supplier: 'supplier-b',
      prefixes: ['10.12.0.0/16', '2001:db8:12::/48'],
    },
    { code: 'X26', name: 'National records', type: 'national', supplier: 'supplier-a', prefixes: ['10.200.0.0/16'] },
  ],
  services: [{ id: 'nrs', name: 'National records service', supplier: 'supplier-a', prefixes: ['10.200.1.0/24'], ports: [443] }],
  groups: [],
};

const { kafka } = testKafka();
const topics = { flows: uniqueName('flows'), dlq: uniqueName('flows.dlq') };
let ch: Awaited<ReturnType<typeof openTestClickHouse>>;
const N_MESSAGES = 60;
const PER_MESSAGE = 50;
// Received in the last full hour (flows_raw drops rows past its retention at insert).
const HOUR = hourStartAgo(1);

function flow(i: number): FlowRecord {
  return {
    ...emptyFlow('IPFIX'),
    time_received_ns: (HOUR + (i % 5) * 60_000 + (i % 60) * 1000) * 1e6,
    src_addr: i % 4 === 0 ? `2001:db8:12::${(i % 200).toString(16)}` : `10.12.${i % 7}.${i % 250}`,
    dst_addr: '10.200.1.53',
    src_port: 40_000 + (i % 1000),
    dst_port: 443,
    proto: 6,
    bytes: 4_000 + i,
    packets: 3,
    sampling_rate: 100,
    supplier_id: 'supplier-b',
    exporter_id: 'r1',
  };
}

/** A binary message cut short: none of its records can be trusted. */
function cutShort(): Buffer {
  const whole = encodeFlows([flow(0), flow(1)], 0, 2, 'binary');
  return whole.subarray(0, whole.length - 3);
}

beforeAll(async () => {
  ch = await openTestClickHouse();
  await migrate(ch.client, SCHEMA, silentLogger);
  await ensureTopics(
    kafka,
    [
      { name: topics.flows, partitions: 3, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
      { name: topics.dlq, partitions: 1, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
    ],
    silentLogger,
  );
  const producer = await testProducer(kafka);
  for (let m = 0; m < N_MESSAGES; m++) {
    const records = Array.from({ length: PER_MESSAGE }, (_, k) => flow(m * PER_MESSAGE + k));
    // Both encodings of `flows`, as collectors of either setting write them.
    const value = encodeFlows(records, 0, records.length, m % 2 ? 'binary' : 'ndjson');
    producer.send(topics.flows, [{ key: `supplier-b/r${m % 5}`, value }]);
  }
  producer.send(topics.flows, [{ key: 'bad', value: cutShort() }]);
  producer.send(topics.flows, [
    {
      key: 'bad',
      value:
        'this is not json\n{"src_addr":"not-an-ip","dst_addr":"10.0.0.1","bytes":1,"packets":1,"time_received_ns":1,"src_port":1,"dst_port":1,"proto":6,"supplier_id":"x","type":"JSON"}\n' +
        // Valid, but received before flows_raw's retention: ClickHouse would drop it at insert.
        `${JSON.stringify({ ...flow(0), time_received_ns: Date.UTC(2015, 5, 1) * 1e6 })}\n`,
    },
  ]);
  // A well-formed binary message whose two records flows_raw cannot take: read column by column,
  // each is dead-lettered on its own, as its JSON.
  producer.send(topics.flows, [
    {
      key: 'bad',
      value: encodeFlows(
        [
          { ...flow(1), bytes: -5 },
          { ...flow(2), dst_addr: '10.0.0.256' },
        ],
        0,
        2,
        'binary',
      ),
    },
  ]);
  await producer.flush();
  await producer.stop();
});
afterAll(async () => {
  await ch?.client.close();
});

function aggregator(): Aggregator {
  return createAggregator(
    {
      logger: silentLogger,
      registry: createRegistry(),
      kafka,
      clickhouse: ch.client,
      producerOptions: SERVICE_PRODUCER_OPTIONS,
      topics,
      readiness: [],
    },
    {
      groupId: `${topics.flows}-aggregators`,
      maxBytesPerPartition: 64 * 1024,
      minBytes: 1,
      maxWaitMs: 200,
      partitionsConcurrently: 2,
      insertsInFlight: 2,
    },
    registry,
  );
}

const count = async (query: string) =>
  Number(((await (await ch.client.query({ query, format: 'JSONEachRow' })).json<{ n: string }>())[0] as { n: string }).n);

async function waitForRows(n: number, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await count('SELECT count() AS n FROM flows_raw')) >= n) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`fewer than ${n} rows after ${ms} ms`);
}

describe('aggregator (real Kafka, real ClickHouse)', () => {
  it('stores every flow exactly once, enriched, skipping what a crashed run had stored but not committed, and completes its rollups', async () => {
    const total = N_MESSAGES * PER_MESSAGE;
    // A previous run was killed inside an insert: the raw rows of a partition's first 3 messages
    // were stored, the rollups' parts were not (the views run after the raw part is written), and
    // nothing was committed. Detaching the minute view reproduces that state.
    const consumer = kafka.consumer({ groupId: uniqueName('peek') });
    await consumer.connect();
    await consumer.subscribe({ topics: [topics.flows], fromBeginning: true });
    const seen: { partition: number; offset: string; value: Buffer; key: string }[] = [];
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        if (message.value) seen.push({ partition, offset: message.offset, value: message.value, key: String(message.key) });
      },
    });
    const end = Date.now() + 20_000;
    while (seen.length < N_MESSAGES + 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    await consumer.disconnect();
    expect(seen.length).toBe(N_MESSAGES + 3); // and the three bad messages
    const byPartition = new Map<number, typeof seen>();
    for (const m of seen) byPartition.set(m.partition, [...(byPartition.get(m.partition) ?? []), m]);
    const [partition, messages] = [...byPartition].sort((x, y) => y[1].length - x[1].length)[0] as [number, typeof seen];
    const stored = messages.sort((x, y) => Number(x.offset) - Number(y.offset)).slice(0, 3);
    expect(stored.every((m) => m.key !== 'bad')).toBe(true);
    const { Enricher } = await import('@flowwatch/enrichment');
    const { decodeFlows } = await import('@flowwatch/flow-schema');
    const enricher = new Enricher(registry);
    const first = (stored[0] as (typeof stored)[number]).offset;
    const preRows = stored.flatMap((m) =>
      decodeFlows(m.value).records.map((r) => toRawRow(enricher.enrich(r), topics.flows, partition, m.offset, first)),
    );
    await ch.client.command({ query: 'DETACH TABLE flows_1m_mv' });
    await ch.client.insert({
      table: 'flows_raw',
      values: preRows,
      format: 'JSONEachRow',
      clickhouse_settings: dedupInsertSettings(batchToken(topics.flows, partition, BigInt(first))),
    });
    await ch.client.command({ query: 'ATTACH TABLE flows_1m_mv' });
    expect(await count('SELECT count() AS n FROM flows_raw')).toBe(preRows.length);
    expect(await count('SELECT count() AS n FROM flows_1m')).toBe(0);

    const a = aggregator();
    await a.start();
    await waitForRows(total);
    await new Promise((r) => setTimeout(r, 1500));
    await a.stop();

    // A second instance of the group starts after the committed offsets: nothing is written twice.
    const b = aggregator();
    await b.start();
    await new Promise((r) => setTimeout(r, 3000));
    await b.stop();

    expect(await count('SELECT count() AS n FROM flows_raw')).toBe(total);
    expect(await count('SELECT uniqExact(kafka_partition, kafka_offset, src_port, src_addr, bytes) AS n FROM flows_raw')).toBe(total);
    expect(
      await count(
        "SELECT count() AS n FROM flows_raw WHERE src_org = 'RR8' AND dst_org = 'X26' AND service = 'nrs' AND direction = 'cross_supplier'",
      ),
    ).toBe(total);
    expect(await count('SELECT sum(bytes_est) - 100 * sum(bytes) AS n FROM flows_raw')).toBe(0);
    // The rollup sums equal the raw sums, the batch cut short included.
    for (const table of ['flows_1m', 'flows_1h']) {
      expect({ table, flows: await count(`SELECT sum(flows) AS n FROM ${table}`) }).toEqual({ table, flows: total });
      expect(await count(`SELECT (SELECT sum(bytes) FROM ${table}) - (SELECT sum(bytes) FROM flows_raw) AS n`)).toBe(0);
    }

    const dlq = (await readTopic(kafka, topics.dlq, { done: (m) => m.length >= 6 })).map((m) => JSON.parse(String(m.value)));
    expect(dlq.map((d) => d.reason).sort()).toEqual([
      'invalid_message',
      'invalid_message',
      'invalid_record',
      'invalid_record',
      'invalid_record',
      'older_than_retention',
    ]);
    const records = dlq.filter((d) => d.reason === 'invalid_record').map((d) => [d.detail, Buffer.from(d.raw_base64, 'base64').toString()]);
    expect(records).toContainEqual([expect.stringMatching(/bytes is not an integer/), expect.stringContaining('"bytes":-5')]);
    expect(records).toContainEqual([
      expect.stringMatching(/dst_addr is not an address/),
      expect.stringContaining('"dst_addr":"10.0.0.256"'),
    ]);
    const binary = dlq.find((d) => /binary/.test(d.detail));
    expect(binary).toMatchObject({ reason: 'invalid_message', detail: expect.stringMatching(/truncated/) });
    expect(Buffer.from(binary.raw_base64, 'base64')).toEqual(cutShort());
  });
});
