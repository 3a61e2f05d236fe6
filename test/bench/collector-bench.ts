import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createCollector } from '@flowwatch/collector';
import type { FlowsEncoding } from '@flowwatch/flow-schema';
import { createKafka, ensureTopics, type ProducerOptions } from '@flowwatch/kafka';
import { LocalKafka } from '@flowwatch/local-kafka';
import { createRegistry } from '@flowwatch/observability';
import { pino } from 'pino';
import { freePort } from '../support/ports.js';
import { brokerPid, processCpuSeconds, procStat } from './proc-stat.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function metric(registry: ReturnType<typeof createRegistry>, name: string): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (m?.values ?? []).reduce((a, v) => a + v.value, 0);
}

async function metricWhere(registry: ReturnType<typeof createRegistry>, name: string, labels: Record<string, string>): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (m?.values ?? [])
    .filter((v) => Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l))
    .reduce((a, v) => a + v.value, 0);
}

/** This process's CPU seconds by thread (the main JS thread; libuv's pool and V8's helpers by name where named). */
function threadCpuSeconds(workerTids: ReadonlySet<string> = new Set()): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = procStat(`/proc/self/task/${tid}/stat`);
    if (stat === undefined) continue; // thread gone meanwhile
    // Thread names are not set on every Node build: the main thread is the one whose id is the pid.
    const name = Number(tid) === process.pid ? 'main' : workerTids.has(tid) ? 'workers' : stat.comm === 'node' ? 'other' : stat.comm;
    out[name] = (out[name] ?? 0) + stat.cpuSeconds;
  }
  return out;
}

/**
 * The collector end to end on this machine: a sender process pushes IPFIX over UDP at fixed flow
 * rates to a collector in this process, which decodes and produces to a real local Kafka broker
 * (running beside it on the same two cores). Reports, per rate, what arrived in Kafka, what the
 * collector refused, and what the kernel dropped.
 */
export interface CollectorBenchOptions {
  rates: number[];
  seconds: number;
  compression: ProducerOptions['compression'];
  flowsPerMessage: number;
  batchMaxBytes: number;
  lingerMs: number;
  /** collector.workers: decode threads (0 = in the main thread). */
  workers: number;
  workerQueueDatagrams: number;
  /** collector.flowsEncoding: each is run at every rate (NDJSON, the default, and binary). */
  flowsEncodings: FlowsEncoding[];
}

/** Defaults, each overridable from the environment (FLOWWATCH_BENCH_COLLECTOR_*). */
export function collectorBenchOptions(env = process.env): CollectorBenchOptions {
  return {
    rates: (env.FLOWWATCH_BENCH_COLLECTOR_RATES ?? '50000,100000,200000,300000').split(',').map(Number),
    seconds: Number(env.FLOWWATCH_BENCH_COLLECTOR_SECONDS ?? 10),
    compression: (env.FLOWWATCH_BENCH_COLLECTOR_COMPRESSION ?? 'lz4') as ProducerOptions['compression'],
    flowsPerMessage: Number(env.FLOWWATCH_BENCH_COLLECTOR_FLOWS_PER_MESSAGE ?? 100),
    batchMaxBytes: Number(env.FLOWWATCH_BENCH_COLLECTOR_BATCH_MAX_BYTES ?? 1 << 20),
    lingerMs: Number(env.FLOWWATCH_BENCH_COLLECTOR_LINGER_MS ?? 20),
    workers: Number(env.FLOWWATCH_BENCH_COLLECTOR_WORKERS ?? 1),
    workerQueueDatagrams: Number(env.FLOWWATCH_BENCH_COLLECTOR_WORKER_QUEUE ?? 4096),
    flowsEncodings: (env.FLOWWATCH_BENCH_COLLECTOR_ENCODINGS ?? 'ndjson,binary').split(',') as FlowsEncoding[],
  };
}

export async function collectorBench(print: (o: Record<string, unknown>) => void, options = collectorBenchOptions()) {
  const { rates, seconds } = options;
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
  const broker_pid = brokerPid(dataDir);
  try {
    const kafka = createKafka({ brokers: broker.brokers, clientId: 'bench', ssl: false, connectionTimeoutMs: 3000 }, logger);
    for (const [encoding, rate] of options.flowsEncodings.flatMap((e) => rates.map((r) => [e, r] as const))) {
      const topic = `flows-bench-${encoding}-${rate}`;
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
            lingerMs: options.lingerMs,
            batchMaxMessages: 2000,
            batchMaxBytes: options.batchMaxBytes,
            compression: options.compression,
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
          flowsPerMessage: options.flowsPerMessage,
          flowsEncoding: encoding,
          heartbeatMs: 10_000,
          timeReceivedFrom: 'clock',
          workers: options.workers,
          workerQueueDatagrams: options.workerQueueDatagrams,
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
      // Threads born while the collector starts are its decode workers (Node does not name them).
      const tidsBefore = new Set(readdirSync('/proc/self/task'));
      await collector.start();
      const workerTids = new Set(readdirSync('/proc/self/task').filter((t) => !tidsBefore.has(t)));
      const cpu0 = process.cpuUsage();
      // The main thread's stalls: longer than the socket buffer lasts, they are kernel drops.
      const loopDelay = monitorEventLoopDelay({ resolution: 10 });
      loopDelay.enable();
      const threads0 = threadCpuSeconds(workerTids);
      const brokerCpu0 = processCpuSeconds(broker_pid);
      const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
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
      const sent = JSON.parse(out) as { datagrams: number; flows: number; cpuSeconds: number };
      await Promise.race([collector.flush(), new Promise((r) => setTimeout(r, 30_000))]);
      const elapsed = (Date.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      loopDelay.disable();
      const threads = Object.fromEntries(
        Object.entries(threadCpuSeconds(workerTids))
          .map(([k, v]) => [k, +(v - (threads0[k] ?? 0)).toFixed(2)] as const)
          .filter(([, v]) => v > 0),
      );
      const brokerCpu = processCpuSeconds(broker_pid) - brokerCpu0;
      const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
      const produced = await metric(registry, 'flowwatch_collector_kafka_produced_messages_total');
      const records = await metric(registry, 'flowwatch_collector_records_total');
      const refused = await metric(registry, 'flowwatch_collector_rejected_total');
      const workerDropped = await metricWhere(registry, 'flowwatch_collector_rejected_total', { reason: 'worker_queue_full' });
      const kernelDrops = await metric(registry, 'flowwatch_collector_kernel_udp_drops_total');
      const received = await metric(registry, 'flowwatch_collector_datagrams_total');
      await collector.stop();
      const collectorCpu = (cpu.user + cpu.system) / 1e6;
      print({
        bench: 'collector',
        compression: options.compression,
        flows_per_message: options.flowsPerMessage,
        flows_encoding: encoding,
        batch_max_bytes: options.batchMaxBytes,
        linger_ms: options.lingerMs,
        workers: options.workers,
        target_flows_per_second: rate,
        seconds,
        sent_flows: sent.flows,
        received_datagrams: received,
        lost_datagrams: sent.datagrams - received,
        kernel_udp_drops: kernelDrops,
        flows_to_kafka: records,
        kafka_messages: produced,
        // Everything rejected (records, except worker_queue_full: datagrams, also given on their own).
        refused_flows: refused - workerDropped,
        worker_queue_dropped_datagrams: workerDropped,
        achieved_flows_per_second: Math.round(records / seconds),
        collector_cpu_seconds: +collectorCpu.toFixed(2),
        collector_cpu_seconds_by_thread: threads,
        broker_cpu_seconds: +brokerCpu.toFixed(2),
        sender_cpu_seconds: +sent.cpuSeconds.toFixed(2),
        // CPU per flow that reached Kafka (the collector's whole process; the broker's JVM)
        collector_cpu_us_per_flow: +((collectorCpu / records) * 1e6).toFixed(2),
        broker_cpu_us_per_flow: +((brokerCpu / records) * 1e6).toFixed(2),
        wall_seconds: +elapsed.toFixed(1),
        load_average: `${load0} -> ${load1}`,
        main_loop_delay_ms: { p99: +(loopDelay.percentile(99) / 1e6).toFixed(1), max: +(loopDelay.max / 1e6).toFixed(1) },
      });
    }
  } finally {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
