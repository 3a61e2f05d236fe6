import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCollector } from '@flowwatch/collector';
import { createKafka, ensureTopics } from '@flowwatch/kafka';
import { LocalKafka } from '@flowwatch/local-kafka';
import { createRegistry } from '@flowwatch/observability';
import { pino } from 'pino';
import { freePort } from '../support/ports.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function metric(registry: ReturnType<typeof createRegistry>, name: string): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (m?.values ?? []).reduce((a, v) => a + v.value, 0);
}

/**
 * The collector end to end on this machine: a sender process pushes IPFIX over UDP at fixed flow
 * rates to a collector in this process, which decodes and produces to a real local Kafka broker
 * (running beside it on the same two cores). Reports, per rate, what arrived in Kafka, what the
 * collector refused, and what the kernel dropped.
 */
export async function collectorBench(
  print: (o: Record<string, unknown>) => void,
  rates = [50_000, 100_000, 200_000, 300_000],
  seconds = 10,
) {
  const logger = pino({ level: 'warn' });
  const dataDir = mkdtempSync(join(tmpdir(), 'fw-bench-kafka-'));
  const broker = new LocalKafka({
    runtime: 'jvm',
    host: '127.0.0.1',
    port: await freePort(),
    controllerPort: await freePort(),
    dataDir,
    cacheDir: join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? tmpdir(), '.cache'), 'flowwatch', 'kafka'),
    heapMb: 1024,
    startTimeoutMs: 120_000,
  });
  await broker.start();
  try {
    const kafka = createKafka({ brokers: broker.brokers, clientId: 'bench', ssl: false, connectionTimeoutMs: 3000 }, logger);
    for (const rate of rates) {
      const topic = `flows-bench-${rate}`;
      await ensureTopics(
        kafka,
        [{ name: topic, partitions: 8, replicationFactor: 1, retentionMs: 600_000, cleanupPolicy: 'delete' }],
        logger,
      );
      const registry = createRegistry();
      const collector = createCollector(
        {
          logger,
          registry,
          kafka,
          producerOptions: {
            maxBufferedMessages: 100_000,
            maxBufferedBytes: 256 << 20,
            lingerMs: 20,
            batchMaxMessages: 2000,
            batchMaxBytes: 1 << 20,
            compression: 'gzip',
            acks: -1,
            retryBackoffMs: 200,
          },
          topics: { flows: topic, dlq: `${topic}.dlq` },
          readiness: [],
        },
        {
          host: '127.0.0.1',
          netflowPort: 0,
          ipfixPort: 0,
          sflowPort: 0,
          receiveBufferBytes: 32 << 20,
          flowsPerMessage: 100,
          timeReceivedFrom: 'clock',
          templates: {
            maxTemplatesPerDomain: 1024,
            maxDomains: 1000,
            maxTemplateBytes: 128 << 20,
            maxPendingSets: 1024,
            pendingTtlMs: 30_000,
          },
          push: {
            enabled: false,
            host: '127.0.0.1',
            port: 0,
            bodyLimitBytes: 1 << 20,
            maxRecordsPerRequest: 1,
            rateLimitRecordsPerSecond: 1,
            rateLimitBurst: 1,
            maxDepth: 16,
            replayWindowMs: 0,
            replayCacheEntries: 1,
            timeouts: { headersMs: 10_000, requestMs: 60_000, idleMs: 30_000 },
          },
        },
        {
          organisations: [],
          services: [],
          groups: [],
          suppliers: [
            {
              id: 'bench',
              name: 'bench',
              exporters: [{ id: 'sender', address: '127.0.0.5', samplingRate: 0 }],
              pushTokens: [],
              clientCertFingerprints: [],
            },
          ],
        },
      );
      await collector.start();
      const cpu0 = process.cpuUsage();
      const t0 = Date.now();
      const sender = spawn(
        process.execPath,
        [
          '--conditions=flowwatch-src',
          '--import',
          'tsx',
          join(ROOT, 'test/bench/udp-sender.ts'),
          String(collector.ports().ipfix),
          '127.0.0.5',
          String(rate),
          String(seconds),
        ],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let out = '';
      sender.stdout.on('data', (d) => (out += d));
      await new Promise((r) => sender.on('exit', r));
      const sent = JSON.parse(out) as { datagrams: number; flows: number };
      await Promise.race([collector.flush(), new Promise((r) => setTimeout(r, 30_000))]);
      const elapsed = (Date.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const produced = await metric(registry, 'flowwatch_collector_kafka_produced_messages_total');
      const records = await metric(registry, 'flowwatch_collector_records_total');
      const refused = await metric(registry, 'flowwatch_collector_rejected_total');
      const kernelDrops = await metric(registry, 'flowwatch_collector_kernel_udp_drops_total');
      const received = await metric(registry, 'flowwatch_collector_datagrams_total');
      await collector.stop();
      print({
        bench: 'collector',
        target_flows_per_second: rate,
        seconds,
        sent_flows: sent.flows,
        received_datagrams: received,
        lost_datagrams: sent.datagrams - received,
        kernel_udp_drops: kernelDrops,
        flows_to_kafka: records,
        kafka_messages: produced,
        refused_flows: refused,
        achieved_flows_per_second: Math.round(records / seconds),
        collector_cpu_seconds: +((cpu.user + cpu.system) / 1e6).toFixed(2),
        wall_seconds: +elapsed.toFixed(1),
      });
    }
  } finally {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
