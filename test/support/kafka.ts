import { randomBytes } from 'node:crypto';
import { BufferedProducer, createKafka, type ProducerOptions } from '@flowwatch/kafka';
import { createRegistry, ServiceMetrics } from '@flowwatch/observability';
import type { Kafka } from 'kafkajs';
import { inject } from 'vitest';
import { silentLogger } from './logger.js';

/** A name no other test uses: topics and consumer groups are per test. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** A kafkajs client on the broker the global set-up started. */
export function testKafka(): { kafka: Kafka; brokers: string[] } {
  const brokers = inject('kafkaBrokers');
  const kafka = createKafka({ brokers, clientId: uniqueName('test'), ssl: false, connectionTimeoutMs: 3000 }, silentLogger);
  return { kafka, brokers };
}

/** The producer options of a service under test (its dead letters): small buffer, no compression. */
export const SERVICE_PRODUCER_OPTIONS: ProducerOptions = {
  maxBufferedMessages: 1000,
  maxBufferedBytes: 8 << 20,
  lingerMs: 5,
  batchMaxMessages: 100,
  compression: 'none',
  acks: -1,
  retryBackoffMs: 100,
};

/**
 * A started producer for tests to feed topics with: acks from all replicas, 5 ms linger, gzip,
 * 100 messages a batch and a 64 MB buffer unless `overrides` says otherwise.
 */
export async function testProducer(kafka: Kafka, overrides: Partial<ProducerOptions> = {}): Promise<BufferedProducer> {
  const producer = new BufferedProducer(
    kafka,
    {
      maxBufferedMessages: 10_000,
      maxBufferedBytes: 64 << 20,
      lingerMs: 5,
      batchMaxMessages: 100,
      compression: 'gzip',
      acks: -1,
      retryBackoffMs: 100,
      ...overrides,
    },
    new ServiceMetrics(createRegistry(), 'test'),
    silentLogger,
  );
  await producer.start();
  return producer;
}
