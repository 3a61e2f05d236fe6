import { type ClickHouseClient, migrate, SCHEMA } from '@flowwatch/clickhouse';
import type { RegistryConfig } from '@flowwatch/config';
import { emptyFlow, encodeFlows, type FlowRecord } from '@flowwatch/flow-schema';
import { ensureTopics } from '@flowwatch/kafka';
import { createRegistry, type Registry } from '@flowwatch/observability';
import {
  dayStartAgo,
  openTestClickHouse,
  SERVICE_PRODUCER_OPTIONS,
  silentLogger,
  testKafka,
  testProducer,
  uniqueName,
} from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Aggregator, createAggregator } from './aggregator.js';

/**
 * Issue 4: a slow insert outlives the aggregator's group membership. A second member joins, the
 * first cannot re-join while its handler is still inside the insert, so after the rebalance
 * time-out (20 s) the broker hands the partition to the second member, which finds nothing stored
 * yet and writes the same offsets again, with a batch of its own (more messages arrived meanwhile,
 * so other batch boundaries and another deduplication token). Then the first member's insert
 * lands. Both orders are tested: the old generation's insert landing last, and first.
 *
 * "Slow" is a gate in front of the first member's ClickHouse client: its first flows_raw insert
 * waits until the test releases it, which stands for ClickHouse taking that long.
 */
const registry: RegistryConfig = {
  suppliers: [{ id: 'supplier-b', name: 'B', exporters: [], pushTokens: [], clientCertFingerprints: [] }],
  organisations: [{ code: 'RR8', name: 'Leeds Teaching Hospitals', type: 'acute', supplier: 'supplier-b', prefixes: ['10.12.0.0/16'] }],
  services: [],
  groups: [],
};
const PER_MESSAGE = 50;
const { kafka } = testKafka();
let ch: Awaited<ReturnType<typeof openTestClickHouse>>;

beforeAll(async () => {
  ch = await openTestClickHouse();
  await migrate(ch.client, SCHEMA, silentLogger);
});
afterAll(async () => {
  await ch?.client.close();
});

// Yesterday, UTC (flows_raw drops rows past its retention at insert).
const YESTERDAY = dayStartAgo(1);

/** Flows of one test within its own hour of yesterday, so that the rollups of the two tests can be told apart. */
function flow(i: number, hour: number): FlowRecord {
  return {
    ...emptyFlow('IPFIX'),
    time_received_ns: (YESTERDAY + hour * 3_600_000 + (i % 5) * 60_000 + (i % 60) * 1000) * 1e6,
    src_addr: `10.12.${i % 7}.${i % 250}`,
    dst_addr: '10.200.1.53',
    src_port: 40_000 + (i % 1000),
    dst_port: 443,
    proto: 6,
    bytes: 4_000 + i,
    packets: 3,
    sampling_rate: 1,
    supplier_id: 'supplier-b',
    exporter_id: 'r1',
  };
}

async function produce(topic: string, hour: number, from: number, to: number): Promise<void> {
  const producer = await testProducer(kafka, { compression: 'none' });
  for (let m = from; m < to; m++) {
    producer.send(topic, [
      { key: 'k', value: encodeFlows(Array.from({ length: PER_MESSAGE }, (_, k) => flow(m * PER_MESSAGE + k, hour))) },
    ]);
  }
  await producer.flush();
  await producer.stop();
}

/** A deferred signal. */
function signal(): { promise: Promise<void>; fire: () => void; fired: () => boolean } {
  let fire!: () => void;
  let done = false;
  const promise = new Promise<void>((r) => {
    fire = () => {
      done = true;
      r();
    };
  });
  return { promise, fire, fired: () => done };
}

/**
 * The shared client with a gate on its first Native insert into flows_raw: `entered` fires when
 * the insert is called, the insert goes to ClickHouse once `release` is fired, `landed` fires
 * once ClickHouse has answered.
 */
function gatedClient(client: ClickHouseClient) {
  const entered = signal();
  const release = signal();
  const landed = signal();
  let used = false;
  const gated = new Proxy(client, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop !== 'exec') return typeof v === 'function' ? v.bind(target) : v;
      return async (params: { query: string }) => {
        if (used || !/^INSERT INTO `flows_raw` .* FORMAT Native$/s.test(params.query))
          return (v as typeof client.exec).call(target, params as never);
        used = true;
        entered.fire();
        await release.promise;
        try {
          return await (v as typeof client.exec).call(target, params as never);
        } finally {
          landed.fire();
        }
      };
    },
  });
  return { client: gated, entered, release, landed };
}

function aggregator(client: ClickHouseClient, topic: string, groupId: string, metrics: Registry): Aggregator {
  return createAggregator(
    {
      logger: silentLogger,
      registry: metrics,
      kafka,
      clickhouse: client,
      producerOptions: SERVICE_PRODUCER_OPTIONS,
      topics: { flows: topic, dlq: `${topic}.dlq` },
      readiness: [],
    },
    { groupId, maxBytesPerPartition: 4 << 20, minBytes: 1, maxWaitMs: 200, partitionsConcurrently: 2, insertsInFlight: 2 },
    registry,
  );
}

const one = async <T>(query: string, query_params: Record<string, unknown>): Promise<T> =>
  (await (await ch.client.query({ query, query_params, format: 'JSONEachRow' })).json<T>())[0] as T;
const stored = (topic: string) =>
  one<{ n: string; offsets: string }>(
    'SELECT count() AS n, uniqExact(kafka_offset) AS offsets FROM flows_raw WHERE kafka_topic = {t:String}',
    { t: topic },
  ).then((r) => ({ rows: Number(r.n), offsets: Number(r.offsets) }));

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 45_000): Promise<void> {
  for (const end = Date.now() + ms; !(await ok()); ) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function committed(groupId: string, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return Number(t?.partitions[0]?.offset ?? -1);
  } catch {
    return -1;
  } finally {
    await admin.disconnect();
  }
}

/**
 * `oldLandsLast`: the old generation's insert lands after the new owner's (the order the skip
 * check cannot see); otherwise first, with the new owner's own insert held until it has.
 */
async function rebalanceDuringSlowInsert(oldLandsLast: boolean, hour: number) {
  const topic = uniqueName('flows-rebal');
  const groupId = `${topic}-aggregators`;
  await ensureTopics(
    kafka,
    [
      { name: topic, partitions: 1, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
      { name: `${topic}.dlq`, partitions: 1, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
    ],
    silentLogger,
  );
  await produce(topic, hour, 0, 20);
  const oldGate = gatedClient(ch.client);
  const newGate = gatedClient(ch.client);
  if (oldLandsLast) newGate.release.fire();
  const metrics = { first: createRegistry(), second: createRegistry() };
  const first = aggregator(oldGate.client, topic, groupId, metrics.first);
  const second = aggregator(newGate.client, topic, groupId, metrics.second);
  try {
    await first.start();
    await until('the first member inside its first insert', () => oldGate.entered.fired());
    // More messages arrive while the insert hangs: the next owner's batch is longer.
    await produce(topic, hour, 20, 40);
    await second.start();
    if (oldLandsLast) {
      // The first member is dropped after the rebalance time-out; the second stores offsets 0-39.
      await until('the second member storing the partition', async () => (await stored(topic)).offsets === 40);
      oldGate.release.fire();
      await oldGate.landed.promise;
    } else {
      await until('the second member inside its insert', () => newGate.entered.fired());
      oldGate.release.fire();
      await oldGate.landed.promise;
      newGate.release.fire();
      await newGate.landed.promise;
    }
    await until('every message committed', async () => (await committed(groupId, topic)) === 40);
  } finally {
    oldGate.release.fire();
    newGate.release.fire();
    await Promise.all([first.stop(), second.stop()]);
  }
  const raw = await stored(topic);
  const rollup = await one<{ flows: string }>(
    'SELECT sum(flows) AS flows FROM flows_1m WHERE ts >= {from:DateTime} AND ts < {from:DateTime} + INTERVAL 1 HOUR',
    { from: (YESTERDAY + hour * 3_600_000) / 1000 },
  );
  const overlaps = async (r: Registry) =>
    ((await r.getSingleMetric('flowwatch_aggregator_insert_overlaps_total')?.get())?.values ?? []).reduce((n, v) => n + v.value, 0);
  return {
    raw,
    rollupFlows: Number(rollup.flows),
    overlaps: { first: await overlaps(metrics.first), second: await overlaps(metrics.second) },
  };
}

describe('aggregator: a rebalance during a slow insert (issue 4)', () => {
  it('stores every flow once when the old generation insert lands after the new owner has stored the partition', async () => {
    const stored = await rebalanceDuringSlowInsert(true, 10);
    // The old generation's insert (offsets 0-19) had the token of the new owner's (0-39): dropped.
    expect(stored).toEqual({
      raw: { rows: 40 * PER_MESSAGE, offsets: 40 },
      rollupFlows: 40 * PER_MESSAGE,
      overlaps: { first: 0, second: 0 },
    });
  });

  it('stores every flow once when the old generation insert lands first and the new owner has a longer batch in flight', async () => {
    const stored = await rebalanceDuringSlowInsert(false, 11);
    // The new owner's insert (0-39) was dropped for the old one's (0-19); it then sent 20-39 alone.
    expect(stored).toEqual({
      raw: { rows: 40 * PER_MESSAGE, offsets: 40 },
      rollupFlows: 40 * PER_MESSAGE,
      overlaps: { first: 0, second: 1 },
    });
  });
});
