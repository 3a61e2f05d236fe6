import { createRegistry, ServiceMetrics } from '@flowwatch/observability';
import { silentLogger, testKafka, uniqueName } from '@flowwatch/test-support';
import { ConfigResourceTypes } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { BufferedProducer, type ProducerOptions } from './buffered-producer.js';
import { createKafka } from './client.js';
import { type ConsumedBatch, DurableConsumer } from './durable-consumer.js';
import { ensureTopics } from './topics.js';

const { kafka } = testKafka();
const producerOptions: ProducerOptions = {
  maxBufferedMessages: 10_000,
  maxBufferedBytes: 8 * 1024 * 1024,
  lingerMs: 5,
  batchMaxMessages: 500,
  compression: 'gzip',
  acks: -1,
  retryBackoffMs: 100,
};
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function metrics() {
  const registry = createRegistry();
  return { registry, metrics: new ServiceMetrics(registry, 'test') };
}

async function metricValue(registry: ReturnType<typeof createRegistry>, name: string, labels: Record<string, string> = {}) {
  const m = await registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

/** A new topic of `partitions` partitions, named from `prefix`. */
async function newTopic(prefix: string, partitions: number): Promise<string> {
  const topic = uniqueName(prefix);
  await ensureTopics(
    kafka,
    [{ name: topic, partitions, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' }],
    silentLogger,
  );
  return topic;
}

async function waitFor(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('ensureTopics', () => {
  it('creates topics with their partitions and retention, and is idempotent', async () => {
    const name = uniqueName('topics');
    const spec = { name, partitions: 3, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' as const };
    const first = await ensureTopics(kafka, [spec], silentLogger);
    expect(first).toEqual({ created: [name], existing: [] });
    const second = await ensureTopics(kafka, [{ ...spec, retentionMs: 7_200_000 }], silentLogger);
    expect(second).toEqual({ created: [], existing: [name] });

    const admin = kafka.admin();
    await admin.connect();
    const meta = await admin.fetchTopicMetadata({ topics: [name] });
    expect(meta.topics[0]?.partitions).toHaveLength(3);
    const cfg = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms'] }],
    });
    expect(cfg.resources[0]?.configEntries.find((e) => e.configName === 'retention.ms')?.configValue).toBe('7200000');
    await admin.disconnect();
  });
});

describe('BufferedProducer and DurableConsumer', () => {
  it('round-trips keyed messages, commits after the handler and resumes after the commit', async () => {
    const topic = await newTopic('roundtrip', 2);
    const group = uniqueName('group');
    const { registry, metrics: m } = metrics();
    const producer = new BufferedProducer(kafka, producerOptions, m, silentLogger);
    await producer.start();
    cleanups.push(() => producer.stop());

    const N = 1000;
    const messages = Array.from({ length: N }, (_, i) => ({ key: `exporter-${i % 7}`, value: JSON.stringify({ i }) }));
    expect(producer.send(topic, messages.slice(0, 500))).toBe('queued');
    expect(producer.send(topic, messages.slice(500))).toBe('queued');
    await producer.flush();
    expect(await metricValue(registry, 'flowwatch_test_kafka_produced_messages_total', { topic })).toBe(N);
    expect(producer.ready()).toEqual({ ready: true });

    // First consumer: fails the first batch once (it must be retried, not skipped), then stores.
    const seen = new Map<number, number>();
    let failures = 0;
    const handle = async (batch: ConsumedBatch) => {
      if (failures === 0) {
        failures++;
        throw new Error('store unavailable');
      }
      for (const msg of batch.messages) {
        const i = JSON.parse(String(msg.value)).i as number;
        seen.set(i, (seen.get(i) ?? 0) + 1);
      }
    };
    const consumer = new DurableConsumer(
      kafka,
      { groupId: group, topics: [topic], fromBeginning: true, handle, retryBackoffMs: 50 },
      m,
      silentLogger,
    );
    await consumer.start();
    await waitFor(() => seen.size === N);
    await consumer.stop();
    expect([...seen.values()].every((c) => c === 1)).toBe(true);
    expect(await metricValue(registry, 'flowwatch_test_kafka_handler_retries_total', { topic })).toBe(1);

    // Per-key order: messages of one key arrive in the order sent (one partition per key).
    // A second consumer in the same group starts after the committed offsets: only new messages.
    expect(producer.send(topic, [{ key: 'late', value: JSON.stringify({ i: N }) }])).toBe('queued');
    await producer.flush();
    const later: number[] = [];
    const consumer2 = new DurableConsumer(
      kafka,
      {
        groupId: group,
        topics: [topic],
        fromBeginning: true,
        handle: async (b) => {
          for (const msg of b.messages) later.push(JSON.parse(String(msg.value)).i);
        },
      },
      m,
      silentLogger,
    );
    await consumer2.start();
    await waitFor(() => later.length >= 1);
    await new Promise((r) => setTimeout(r, 500));
    await consumer2.stop();
    expect(later).toEqual([N]);
  });

  it('writes and reads back every codec (the broker decompresses and validates each batch)', async () => {
    const codecs = ['none', 'gzip', 'lz4', 'snappy'] as const;
    const topic = await newTopic('codecs', 2);
    // NDJSON-like values, large enough that LZ4 and Snappy span several blocks per batch.
    const value = (codec: string, i: number) =>
      `${Array.from({ length: 40 }, (_, j) => `{"codec":"${codec}","i":${i},"j":${j},"bytes":${(i * 7919 + j) % 100_003}}`).join('\n')}\n`;
    const { registry, metrics: m } = metrics();
    for (const compression of codecs) {
      const producer = new BufferedProducer(kafka, { ...producerOptions, compression, batchMaxBytes: 4 << 20 }, m, silentLogger);
      await producer.start();
      for (let i = 0; i < 400; i++) producer.send(topic, [{ key: `${compression}/${i % 5}`, value: value(compression, i) }]);
      await producer.flush();
      await producer.stop();
    }
    expect(await metricValue(registry, 'flowwatch_test_kafka_produce_errors_total')).toBe(0);
    const seen = new Map<string, string>();
    const consumer = new DurableConsumer(
      kafka,
      {
        groupId: uniqueName('g'),
        topics: [topic],
        fromBeginning: true,
        handle: async (b) => {
          for (const msg of b.messages) seen.set(`${String(msg.key)}#${seen.size}`, String(msg.value));
        },
      },
      m,
      silentLogger,
    );
    await consumer.start();
    await waitFor(() => seen.size === codecs.length * 400);
    await consumer.stop();
    for (const compression of codecs) {
      const values = [...seen].filter(([k]) => k.startsWith(`${compression}/`)).map(([, v]) => v);
      expect(values.sort()).toEqual(Array.from({ length: 400 }, (_, i) => value(compression, i)).sort());
    }
  });

  it('does not linger while a full batch (by bytes) is waiting', async () => {
    // A linger before every request, as before, capped the collector at one 1 MiB request per
    // linger: here each message fills a batch by itself, so a minute's linger must never apply.
    const topic = await newTopic('linger', 1);
    const { registry, metrics: m } = metrics();
    const options = { ...producerOptions, lingerMs: 60_000, batchMaxMessages: 2000, batchMaxBytes: 1024 };
    const producer = new BufferedProducer(kafka, options, m, silentLogger);
    await producer.start();
    cleanups.push(() => producer.stop());
    await waitFor(() => producer.ready().ready);
    for (let i = 0; i < 20; i++) producer.send(topic, [{ value: 'x'.repeat(1024) }]);
    const drained = await Promise.race([
      producer.flush().then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 15_000)),
    ]);
    expect(drained).toBe(true);
    expect(await metricValue(registry, 'flowwatch_test_kafka_produced_messages_total', { topic })).toBe(20);
  });

  it('with writes in flight, reads on while a write runs, writes each partition in order, retries a failed write and commits only what landed', async () => {
    const topic = await newTopic('inflight', 2);
    const { registry, metrics: m } = metrics();
    const producer = new BufferedProducer(kafka, { ...producerOptions, batchMaxMessages: 10 }, m, silentLogger);
    await producer.start();
    const N = 400;
    // Sixteen keys: both partitions get some (two keys may hash to one partition).
    for (let i = 0; i < N; i++) producer.send(topic, [{ key: `k${i % 16}`, value: JSON.stringify({ i, pad: 'x'.repeat(200) }) }]);
    await producer.flush();
    await producer.stop();

    const group = uniqueName('g');
    let open: () => void = () => {};
    const gate = new Promise<void>((r) => {
      open = r;
    });
    let gated: number | undefined; // the partition whose first write waits at the gate
    let failed = false;
    const handled: string[] = [];
    const written = new Map<number, number[]>(); // partition -> first offsets, in the order written
    const seen = new Map<number, number>();
    const consumer = new DurableConsumer(
      kafka,
      {
        groupId: group,
        topics: [topic],
        fromBeginning: true,
        maxBytesPerPartition: 4096, // several batches a partition
        // One batch at a time: only a write handed back lets the next batch be read before it lands.
        partitionsConcurrently: 1,
        writesInFlight: 2,
        retryBackoffMs: 50,
        handle: async (b) => {
          handled.push(`${b.partition}@${b.firstOffset}`);
          const first = gated === undefined;
          if (first) gated = b.partition;
          return async () => {
            if (first) {
              await gate;
              if (!failed) {
                failed = true;
                throw new Error('insert failed');
              }
            }
            written.set(b.partition, [...(written.get(b.partition) ?? []), Number(b.firstOffset)]);
            for (const msg of b.messages) {
              const i = JSON.parse(String(msg.value)).i as number;
              seen.set(i, (seen.get(i) ?? 0) + 1);
            }
          };
        },
      },
      m,
      silentLogger,
    );
    await consumer.start();
    // The gated write holds its partition; the other partition's batches are read and written meanwhile.
    await waitFor(() => handled.length >= 2 && (written.get(gated === 0 ? 1 : 0)?.length ?? 0) >= 1);
    expect(written.get(gated as number)).toBeUndefined();
    const admin = kafka.admin();
    await admin.connect();
    const committed = async (partition: number) =>
      Number((await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0]?.partitions.find((p) => p.partition === partition)?.offset);
    expect(await committed(gated as number)).toBe(-1); // nothing of the gated partition is committed
    open();
    await waitFor(() => seen.size === N);
    await consumer.stop();
    expect([...seen.values()].every((c) => c === 1)).toBe(true);
    for (const [, firsts] of written) expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
    expect(await metricValue(registry, 'flowwatch_test_kafka_handler_retries_total', { topic })).toBe(1);
    // Everything landed, so everything is committed: each partition's offset is its end.
    const ends = await admin.fetchTopicOffsets(topic);
    for (const p of ends) expect(await committed(p.partition)).toBe(Number(p.offset));
    await admin.disconnect();
  });

  it('keeps one key in order within its partition', async () => {
    const topic = await newTopic('order', 4);
    const { metrics: m } = metrics();
    const producer = new BufferedProducer(kafka, { ...producerOptions, batchMaxMessages: 37 }, m, silentLogger);
    await producer.start();
    cleanups.push(() => producer.stop());
    for (let i = 0; i < 300; i++) producer.send(topic, [{ key: `k${i % 3}`, value: String(i) }]);
    await producer.flush();
    const byKey = new Map<string, number[]>();
    const partitionsByKey = new Map<string, Set<number>>();
    const consumer = new DurableConsumer(
      kafka,
      {
        groupId: uniqueName('g'),
        topics: [topic],
        fromBeginning: true,
        handle: async (b) => {
          for (const msg of b.messages) {
            const k = String(msg.key);
            byKey.set(k, [...(byKey.get(k) ?? []), Number(String(msg.value))]);
            partitionsByKey.set(k, (partitionsByKey.get(k) ?? new Set()).add(b.partition));
          }
        },
      },
      m,
      silentLogger,
    );
    await consumer.start();
    await waitFor(() => [...byKey.values()].reduce((n, v) => n + v.length, 0) === 300);
    await consumer.stop();
    for (const [, values] of byKey) expect(values).toEqual([...values].sort((a, b) => a - b));
    for (const [, parts] of partitionsByKey) expect(parts.size).toBe(1);
  });

  it('keeps its group membership through a batch that takes longer than the session time-out', async () => {
    const topic = await newTopic('slow', 1);
    const { metrics: m } = metrics();
    const producer = new BufferedProducer(kafka, producerOptions, m, silentLogger);
    await producer.start();
    cleanups.push(() => producer.stop());
    producer.send(topic, [{ key: 'a', value: '1' }]);
    await producer.flush();
    const handled: string[] = [];
    const consumer = new DurableConsumer(
      kafka,
      {
        groupId: uniqueName('g'),
        topics: [topic],
        fromBeginning: true,
        handle: async (b) => {
          for (const msg of b.messages) handled.push(String(msg.value));
          // The session time-out is 10 s: without heart-beats meanwhile the member is dropped, its
          // commit refused and the batch consumed a second time.
          if (handled.length === 1) await new Promise((r) => setTimeout(r, 13_000));
        },
      },
      m,
      silentLogger,
    );
    await consumer.start();
    await waitFor(() => handled.length >= 1);
    await new Promise((r) => setTimeout(r, 13_000));
    producer.send(topic, [{ key: 'a', value: '2' }]);
    await producer.flush();
    await waitFor(() => handled.includes('2'));
    await consumer.stop();
    expect(handled).toEqual(['1', '2']);
  }, 60_000);

  it('refuses and counts beyond its bound while Kafka is unreachable, and reports not ready', async () => {
    const unreachable = createKafka(
      { brokers: ['127.0.0.1:1'], clientId: 'unreachable', ssl: false, connectionTimeoutMs: 200 },
      silentLogger,
    );
    const { registry, metrics: m } = metrics();
    const producer = new BufferedProducer(unreachable, { ...producerOptions, maxBufferedMessages: 100, lingerMs: 0 }, m, silentLogger);
    await producer.start();
    expect(
      producer.send(
        't',
        Array.from({ length: 60 }, () => ({ value: 'x' })),
      ),
    ).toBe('queued');
    expect(
      producer.send(
        't',
        Array.from({ length: 60 }, () => ({ value: 'y' })),
      ),
    ).toBe('buffer_full');
    expect(producer.length).toBe(60);
    await waitFor(() => !producer.ready().ready && String((producer.ready() as { reason: string }).reason).startsWith('kafka unreachable'));
    expect(await metricValue(registry, 'flowwatch_test_kafka_refused_messages_total', { topic: 't', reason: 'buffer_full' })).toBe(60);
    await producer.stop(200);
    // What was still buffered at shutdown is counted too, not silently lost.
    expect(await metricValue(registry, 'flowwatch_test_kafka_refused_messages_total', { topic: 't', reason: 'shutdown' })).toBe(60);
    expect(producer.send('t', [{ value: 'z' }])).toBe('stopped');
  });
});

describe('messages larger than the broker accepts', () => {
  it('splits batches that are too large and refuses (and counts) a single message that can never fit', async () => {
    const topic = uniqueName('small');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '3000' }] }],
    });
    await admin.disconnect();
    const { registry, metrics: m } = metrics();
    const producer = new BufferedProducer(kafka, { ...producerOptions, compression: 'none', lingerMs: 50 }, m, silentLogger);
    await producer.start();
    cleanups.push(() => producer.stop());
    const small = Array.from({ length: 12 }, (_, i) => ({ value: `${i}`.padEnd(600, 'x') }));
    expect(producer.send(topic, small.slice(0, 6))).toBe('queued');
    expect(producer.send(topic, [{ value: 'y'.repeat(5000) }])).toBe('queued');
    expect(producer.send(topic, small.slice(6))).toBe('queued');
    await producer.flush();
    expect(await metricValue(registry, 'flowwatch_test_kafka_produced_messages_total', { topic })).toBe(12);
    expect(await metricValue(registry, 'flowwatch_test_kafka_refused_messages_total', { topic, reason: 'too_large' })).toBe(1);
    expect(producer.ready()).toEqual({ ready: true });
  });
});
