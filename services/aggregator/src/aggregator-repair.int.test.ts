import { dedupInsertSettings, insertNative, migrate, SCHEMA } from '@flowwatch/clickhouse';
import type { RegistryConfig } from '@flowwatch/config';
import { Enricher } from '@flowwatch/enrichment';
import { decodeFlows, emptyFlow, encodeFlows, type FlowRecord } from '@flowwatch/flow-schema';
import { ensureTopics } from '@flowwatch/kafka';
import { createRegistry } from '@flowwatch/observability';
import { openTestClickHouse, silentLogger, testKafka, testProducer, uniqueName } from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchToken, createAggregator } from './aggregator.js';
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
const { kafka } = testKafka();
let ch: Awaited<ReturnType<typeof openTestClickHouse>>;

beforeAll(async () => {
  ch = await openTestClickHouse();
  await migrate(ch.client, SCHEMA, silentLogger);
});
afterAll(async () => {
  await ch?.client.close();
});

function flow(i: number): FlowRecord {
  return {
    ...emptyFlow('NETFLOW_V9'),
    time_received_ns: Date.UTC(2026, 10, 21, 12, i % 60, i % 60) * 1e6,
    src_addr: `10.12.${i % 250}.${(i >> 8) % 250}`,
    dst_addr: `2001:db8::${(i % 65_000).toString(16)}`,
    src_port: i % 65_000,
    dst_port: 443,
    proto: 6,
    bytes: 1_000 + i,
    packets: 2,
    sampling_rate: 1,
    supplier_id: 'supplier-b',
    exporter_id: 'r1',
    sampler_address: '192.0.2.1',
  };
}

describe('aggregator replaying a large stored batch', () => {
  it('re-sends it for the rollups without storing it twice', async () => {
    const topic = uniqueName('flows-repair');
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
    for (let m = 0; m < MESSAGES; m++) {
      const value = Buffer.from(encodeFlows(Array.from({ length: PER_MESSAGE }, (_, k) => flow(m * PER_MESSAGE + k))));
      values.push(value);
      producer.send(topic, [{ key: 'k', value }]);
    }
    await producer.flush();
    await producer.stop();

    // What a run that stored offsets 0-299 in one insert and died before its commit leaves: the
    // rows the aggregator would have written, with its token.
    const enricher = new Enricher(registry);
    const block = new RawBlock(STORED * PER_MESSAGE);
    for (let m = 0; m < STORED; m++) {
      for (const r of decodeFlows(values[m] as Buffer).records) block.append(enricher.enrich(r), topic, 0, String(m), '0');
    }
    await insertNative(ch.client, {
      table: 'flows_raw',
      columns: block.columns,
      clickhouse_settings: dedupInsertSettings(batchToken(topic, 0, 0n)),
    });

    const metrics = createRegistry();
    const aggregator = createAggregator(
      {
        logger: silentLogger,
        registry: metrics,
        kafka,
        clickhouse: ch.client,
        producerOptions: {
          maxBufferedMessages: 1000,
          maxBufferedBytes: 8 << 20,
          lingerMs: 5,
          batchMaxMessages: 100,
          compression: 'none',
          acks: -1,
          retryBackoffMs: 100,
        },
        topics: { flows: topic, dlq: `${topic}.dlq` },
        readiness: [],
      },
      { groupId: `${topic}-aggregators`, maxBytesPerPartition: 16 << 20, minBytes: 1, maxWaitMs: 200 },
      registry,
    );
    const repairs = async () =>
      ((await metrics.getSingleMetric('flowwatch_aggregator_rollup_repairs_total')?.get())?.values ?? []).reduce((n, v) => n + v.value, 0);
    const written = async () =>
      ((await metrics.getSingleMetric('flowwatch_aggregator_rows_written_total')?.get())?.values ?? []).reduce((n, v) => n + v.value, 0);
    await aggregator.start();
    try {
      for (const end = Date.now() + 45_000; (await written()) < (MESSAGES - STORED) * PER_MESSAGE; ) {
        if (Date.now() > end) throw new Error('the aggregator did not store the unstored messages within 45 s');
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await aggregator.stop();
    }
    const one = async (query: string) =>
      Number(((await (await ch.client.query({ query, format: 'JSONEachRow' })).json<{ n: string }>())[0] as { n: string }).n);
    expect(await repairs()).toBeGreaterThanOrEqual(1);
    expect({
      raw: await one('SELECT count() AS n FROM flows_raw'),
      minute: await one('SELECT sum(flows) AS n FROM flows_1m'),
      hour: await one('SELECT sum(flows) AS n FROM flows_1h'),
    }).toEqual({ raw: MESSAGES * PER_MESSAGE, minute: MESSAGES * PER_MESSAGE, hour: MESSAGES * PER_MESSAGE });
  });
});
