import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalKafka } from '@flowwatch/local-kafka';
import type { TestProject } from 'vitest/node';
import { freePort } from '../support/ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string[];
  }
}

/**
 * One real Kafka broker for the whole integration run: KAFKA_BROKERS when set, otherwise the
 * project's own local broker (Docker image where an engine answers, else the Maven jars on the
 * JVM) on free ports with a throw-away data directory. Each test uses its own topics and groups.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.KAFKA_BROKERS?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (external && external.length > 0) {
    project.provide('kafkaBrokers', external);
    return async () => {};
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'fw-test-kafka-'));
  const kafka = new LocalKafka({
    runtime: (process.env.FLOWWATCH__KAFKA__LOCAL__RUNTIME as 'auto' | 'jvm' | 'docker' | undefined) ?? 'auto',
    host: '127.0.0.1',
    port: await freePort(),
    controllerPort: await freePort(),
    dataDir,
    cacheDir:
      process.env.FLOWWATCH__KAFKA__LOCAL__CACHE_DIR ??
      join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? tmpdir(), '.cache'), 'flowwatch', 'kafka'),
    heapMb: 512,
    startTimeoutMs: 120_000,
    progress: (line) => process.stderr.write(`[test kafka] ${line}\n`),
  });
  await kafka.start();
  project.provide('kafkaBrokers', kafka.brokers);
  return async () => {
    await kafka.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
