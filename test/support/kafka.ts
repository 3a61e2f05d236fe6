import { randomBytes } from 'node:crypto';
import { createKafka } from '@flowwatch/kafka';
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
