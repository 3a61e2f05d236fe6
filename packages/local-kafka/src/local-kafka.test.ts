import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEPLOY_DIR, dockerRunArgs, pinnedKafkaVersion } from './local-kafka.js';

describe('local Kafka', () => {
  it('reads the pinned version from deploy/kafka/pom.xml', () => {
    expect(pinnedKafkaVersion()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(existsSync(join(DEPLOY_DIR, 'run-broker.sh'))).toBe(true);
    expect(existsSync(join(DEPLOY_DIR, 'log4j.properties'))).toBe(true);
  });

  it('runs the same version in Docker, on loopback, with single-node internal topics', () => {
    const args = dockerRunArgs('fw', '3.9.1', { host: '127.0.0.1', port: 19092 });
    expect(args).toContain('apache/kafka:3.9.1');
    expect(args).toContain('127.0.0.1:19092:9092');
    expect(args).toContain('KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1');
    expect(args).toContain('KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1');
    expect(args).toContain('KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://127.0.0.1:19092');
  });
});
