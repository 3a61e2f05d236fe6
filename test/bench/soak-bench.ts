import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { openClickHouse } from '@flowwatch/clickhouse';
import type { AlertMessage, FlowsEncoding } from '@flowwatch/flow-schema';
import { createKafka } from '@flowwatch/kafka';
import { LocalKafka } from '@flowwatch/local-kafka';
import { pino } from 'pino';
import { consumerLag, startFlowwatch } from '../support/flowwatch-process.js';
import { freePort } from '../support/ports.js';
import { brokerPid, processCpuSeconds, ThreadCpu } from './proc-stat.js';
import type { SoakSenderOptions } from './soak-sender.js';
import {
  bucketCounts,
  histogramOf,
  histogramQuantile,
  leastSquaresSlope,
  type PromSample,
  parsePrometheusText,
  sumBy,
  sumOf,
} from './soak-stats.js';
import { RECORDS_PER_DATAGRAM, soakRegistry } from './soak-traffic.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LATENCY = 'flowwatch_detector_detection_latency_seconds';

/** Options, each from the environment (FLOWWATCH_BENCH_SOAK_*). */
export interface SoakBenchOptions {
  /** Steady background flows per second. */
  rate: number;
  minutes: number;
  /** Seconds between two sample lines. */
  sampleS: number;
  /** Samples before this are warm-up, left out of the memory and lag trends. */
  warmupS: number;
  incidentEveryS: number;
  firstIncidentS: number;
  /** Longest wait for the pipeline to drain after sending stops. */
  drainTimeoutS: number;
  /** Aggregator batch bounds (`aggregator.maxWaitMs`, `aggregator.minBytes`); unset: flowwatch's defaults. */
  aggregatorWaitMs?: number;
  aggregatorMinBytes?: number;
  /** `collector.flowsEncoding` (ndjson or binary); unset: flowwatch's default. */
  flowsEncoding?: FlowsEncoding;
  /** Partitions of `flows` (`kafka.topics.flows.partitions`); unset: flowwatch's default. */
  flowsPartitions?: number;
}

const optionalNumber = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));

export function soakBenchOptions(env = process.env): SoakBenchOptions {
  const minutes = Number(env.FLOWWATCH_BENCH_SOAK_MINUTES ?? 3);
  return {
    rate: Number(env.FLOWWATCH_BENCH_SOAK_RATE ?? 5000),
    minutes,
    sampleS: Number(env.FLOWWATCH_BENCH_SOAK_SAMPLE_S ?? 30),
    warmupS: Number(env.FLOWWATCH_BENCH_SOAK_WARMUP_S ?? Math.min(300, Math.round((minutes * 60) / 3))),
    incidentEveryS: Number(env.FLOWWATCH_BENCH_SOAK_INCIDENT_S ?? 120),
    firstIncidentS: Number(env.FLOWWATCH_BENCH_SOAK_FIRST_INCIDENT_S ?? 45),
    drainTimeoutS: Number(env.FLOWWATCH_BENCH_SOAK_DRAIN_TIMEOUT_S ?? 600),
    aggregatorWaitMs: optionalNumber(env.FLOWWATCH_BENCH_SOAK_AGGREGATOR_WAIT_MS),
    aggregatorMinBytes: optionalNumber(env.FLOWWATCH_BENCH_SOAK_AGGREGATOR_MIN_BYTES),
    flowsEncoding: flowsEncodingOption(env.FLOWWATCH_BENCH_SOAK_ENCODING),
    flowsPartitions: optionalNumber(env.FLOWWATCH_BENCH_SOAK_FLOWS_PARTITIONS),
  };
}

function flowsEncodingOption(v: string | undefined): FlowsEncoding | undefined {
  if (v === undefined || v === '') return undefined;
  if (v !== 'ndjson' && v !== 'binary') throw new Error(`FLOWWATCH_BENCH_SOAK_ENCODING must be ndjson or binary, not ${v}`);
  return v;
}

/** The aggregator section of the soak's flowwatch.json: only the bounds that were set, so flowwatch's defaults apply otherwise. */
export function soakAggregatorConfig(options: Pick<SoakBenchOptions, 'aggregatorWaitMs' | 'aggregatorMinBytes'>): Record<string, number> {
  return {
    ...(options.aggregatorWaitMs !== undefined && { maxWaitMs: options.aggregatorWaitMs }),
    ...(options.aggregatorMinBytes !== undefined && { minBytes: options.aggregatorMinBytes }),
  };
}

interface Sample {
  elapsed_s: number;
  sending: boolean;
  sent_flows: number;
  flows_to_kafka: number;
  rows_stored: number;
  detector_flows: number;
  lag_aggregator_messages: number;
  lag_detector_messages: number;
  /** Messages in the collector's producer buffer, not yet in Kafka (a backlog consumer lag does not show). */
  collector_buffer_messages: number;
  /** Datagrams waiting for or inside the collector's decode workers. */
  worker_queue_datagrams: number;
  /** Wall clock minus the detector's event-time watermark. */
  detector_watermark_lag_s: number;
  kernel_udp_drops_datagrams: number;
  /** The JavaScript thread's longest event-loop delay since the previous sample (prom-client resets it at each scrape). */
  event_loop_max_delay_s: number;
  collector_rejected: Record<string, number>;
  rss_mb: number;
  heap_used_mb: number;
  flowwatch_cpu_s: number;
  broker_cpu_s: number;
  load_average: string;
}

const mb = (bytes: number) => +(bytes / 2 ** 20).toFixed(1);
const round = (x: number, digits = 2) => (Number.isFinite(x) ? +x.toFixed(digits) : null);

/**
 * The whole pipeline for a long run (issue 8): a local broker, `flowwatch start --services
 * collector,aggregator,detector` (embedded chDB) with 8 suppliers, 16 exporters and 300
 * organisations, and a sender process pushing IPFIX and NetFlow v9 at a steady rate with a port
 * scan every few minutes. One JSON line per sample period; at the end, after the pipeline has
 * drained, a summary with loss accounting, memory trend and detection latency.
 */
export async function soakBench(print: (o: Record<string, unknown>) => void, options = soakBenchOptions()): Promise<void> {
  const logger = pino({ level: 'warn' });
  const dir = mkdtempSync(join(tmpdir(), 'fw-bench-soak-'));
  const kafkaDir = join(dir, 'kafka');
  const broker = new LocalKafka({
    runtime: 'jvm',
    host: '127.0.0.1',
    port: await freePort(),
    controllerPort: await freePort(),
    dataDir: kafkaDir,
    cacheDir: join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? tmpdir(), '.cache'), 'flowwatch', 'kafka'),
    heapMb: 1024,
    startTimeoutMs: 120_000,
  });
  await broker.start();
  const brokerProcess = brokerPid(kafkaDir);
  const kafka = createKafka({ brokers: broker.brokers, clientId: 'soak-bench', ssl: false, connectionTimeoutMs: 3000 }, logger);
  const [netflowPort, ipfixPort, sflowPort] = [await freePort(), await freePort(), await freePort()];
  const configFile = join(dir, 'flowwatch.json');
  const chPath = join(dir, 'clickhouse');
  writeFileSync(
    configFile,
    JSON.stringify({
      log: { level: 'warn' },
      ...(options.flowsPartitions !== undefined && { kafka: { topics: { flows: { partitions: options.flowsPartitions } } } }),
      clickhouse: { path: chPath },
      collector: {
        host: '127.0.0.1',
        netflowPort,
        ipfixPort,
        sflowPort,
        push: { enabled: false },
        ...(options.flowsEncoding !== undefined && { flowsEncoding: options.flowsEncoding }),
      },
      aggregator: soakAggregatorConfig(options),
      registry: soakRegistry(),
    }),
  );
  const fw = await startFlowwatch('collector,aggregator,detector', {
    FLOWWATCH_CONFIG: configFile,
    KAFKA_BROKERS: broker.brokers.join(','),
  });
  const alertReader = kafka.consumer({ groupId: `soak-reader-${Date.now()}`, maxWaitTimeInMs: 200 });
  let sender: ReturnType<typeof spawn> | undefined;
  try {
    for (const t0 = Date.now(); (await fw.readiness()).status !== 200; ) {
      if (fw.child.exitCode !== null) throw new Error(`flowwatch exited:\n${fw.output().slice(-3000)}`);
      if (Date.now() - t0 > 180_000) throw new Error(`flowwatch not ready in 180 s:\n${fw.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const fwPid = fw.child.pid;
    // Its threads' CPU from here on (those that end keep what they had at their last sample).
    const fwThreadCpu = fwPid === undefined ? undefined : new ThreadCpu(fwPid);

    // Port-scan alerts as they are published, by source (each incident has a fresh one).
    const scanAlerts = new Map<string, number>();
    await alertReader.connect();
    await alertReader.subscribe({ topics: ['alerts'], fromBeginning: true });
    await alertReader.run({
      eachMessage: async ({ message }) => {
        const m = JSON.parse(String(message.value)) as AlertMessage;
        const src = m.alert.src_addr;
        if (m.alert.type === 'port_scan' && src !== undefined && !scanAlerts.has(src)) scanAlerts.set(src, Date.now());
      },
    });

    const senderOptions: SoakSenderOptions = {
      port: ipfixPort,
      rate: options.rate,
      seconds: options.minutes * 60,
      incidentEveryS: options.incidentEveryS,
      firstIncidentS: options.firstIncidentS,
      scanPorts: 150,
      poolDatagrams: 400,
    };
    sender = spawn(
      process.execPath,
      ['--conditions=flowwatch-src', '--import', 'tsx', join(ROOT, 'test/bench/soak-sender.ts'), JSON.stringify(senderOptions)],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const senderPid = sender.pid;
    let sent = { flows: 0, datagrams: 0, templates: 0, cpuSeconds: Number.NaN, errors: 0 };
    let senderStartMs = 0;
    const incidents: { n: number; src: string; dst: string; ms: number }[] = [];
    const lines = createInterface({ input: sender.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      const o = JSON.parse(line);
      if (o.type === 'incident') incidents.push(o);
      else {
        senderStartMs ||= o.ms;
        sent = { ...sent, ...o };
      }
    });
    const senderExited = new Promise<void>((r) => sender?.once('exit', () => r()));
    let sending = true;
    void senderExited.then(() => {
      sending = false;
    });

    const t0 = Date.now();
    const samples: Sample[] = [];
    const metricsNow = async (): Promise<PromSample[]> => {
      const res = await fetch(`http://127.0.0.1:${fw.port}/metrics`, { signal: AbortSignal.timeout(10_000) });
      return parsePrometheusText(await res.text());
    };
    const takeSample = async (): Promise<{ sample: Sample; metrics: PromSample[] }> => {
      fwThreadCpu?.sample();
      const m = await metricsNow();
      const [lagAggregator, lagDetector] = await Promise.all([
        consumerLag(kafka, 'flowwatch-aggregator', 'flows'),
        consumerLag(kafka, 'flowwatch-detector', 'flows'),
      ]);
      const sample: Sample = {
        elapsed_s: Math.round((Date.now() - t0) / 1000),
        sending,
        sent_flows: sent.flows,
        flows_to_kafka: sumOf(m, 'flowwatch_collector_records_total'),
        rows_stored: sumOf(m, 'flowwatch_aggregator_rows_written_total'),
        detector_flows: sumOf(m, 'flowwatch_detector_flows_processed_total'),
        // The end offsets and the committed ones are two reads: a commit between them shows as a small negative lag.
        lag_aggregator_messages: Math.max(0, lagAggregator),
        lag_detector_messages: Math.max(0, lagDetector),
        collector_buffer_messages: sumOf(m, 'flowwatch_collector_kafka_buffer_messages'),
        worker_queue_datagrams: sumOf(m, 'flowwatch_collector_worker_queued_datagrams_count'),
        detector_watermark_lag_s: round(sumOf(m, 'flowwatch_detector_watermark_lag_seconds'), 1) ?? Number.NaN,
        kernel_udp_drops_datagrams: sumOf(m, 'flowwatch_collector_kernel_udp_drops_total'),
        event_loop_max_delay_s: round(sumOf(m, 'flowwatch_nodejs_eventloop_lag_max_seconds'), 3) ?? Number.NaN,
        collector_rejected: sumBy(m, 'flowwatch_collector_rejected_total', 'reason'),
        rss_mb: mb(sumOf(m, 'flowwatch_process_resident_memory_bytes')),
        heap_used_mb: mb(sumOf(m, 'flowwatch_nodejs_heap_size_used_bytes')),
        flowwatch_cpu_s: round(processCpuSeconds(fwPid), 1) ?? Number.NaN,
        broker_cpu_s: round(processCpuSeconds(brokerProcess), 1) ?? Number.NaN,
        load_average: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
      };
      return { sample, metrics: m };
    };
    const printSample = (s: Sample, previous: Sample | undefined) => {
      const dt = previous ? s.elapsed_s - previous.elapsed_s : s.elapsed_s;
      print({
        bench: 'soak',
        ...s,
        // Over the last period: what was sent and stored per second, and CPU used per second.
        sent_per_s: previous ? Math.round((s.sent_flows - previous.sent_flows) / dt) : null,
        stored_per_s: previous ? Math.round((s.rows_stored - previous.rows_stored) / dt) : null,
        flowwatch_cpu_per_s: previous ? round((s.flowwatch_cpu_s - previous.flowwatch_cpu_s) / dt) : null,
        broker_cpu_per_s: previous ? round((s.broker_cpu_s - previous.broker_cpu_s) / dt) : null,
        sender_cpu_s: round(processCpuSeconds(senderPid), 1),
      });
    };

    while (sending) {
      await Promise.race([senderExited, new Promise((r) => setTimeout(r, options.sampleS * 1000))]);
      if (!sending) break;
      const { sample } = await takeSample();
      printSample(sample, samples[samples.length - 1]);
      samples.push(sample);
      if (fw.child.exitCode !== null) throw new Error(`flowwatch exited during the soak:\n${fw.output().slice(-3000)}`);
    }
    const sendEndMs = Date.now();

    // Drain: both groups at the end of `flows` and every flow Kafka took either stored or accounted for.
    let last = await takeSample();
    while (Date.now() - sendEndMs < options.drainTimeoutS * 1000) {
      const s = last.sample;
      if (s.lag_aggregator_messages === 0 && s.lag_detector_messages === 0 && s.rows_stored >= s.flows_to_kafka) break;
      await new Promise((r) => setTimeout(r, 2000));
      last = await takeSample();
    }
    // Scan alerts of the last incidents get a few seconds more.
    for (const t = Date.now(); incidents.some((i) => !scanAlerts.has(i.src)) && Date.now() - t < 30_000; )
      await new Promise((r) => setTimeout(r, 1000));
    const drainS = (Date.now() - sendEndMs) / 1000;
    printSample(last.sample, samples[samples.length - 1]);
    samples.push(last.sample);
    const m = last.metrics;
    const end = last.sample;

    fwThreadCpu?.sample();
    const fwThreads = fwThreadCpu?.byName(0.5) ?? {};
    await alertReader.disconnect();
    const stopCode = await fw.stop(60_000);
    // The process owned the chDB directory; now this one opens it and counts.
    const ch = await openClickHouse({ path: chPath, database: 'flowwatch', username: 'default', password: '', requestTimeoutMs: 600_000 });
    const count = async (query: string) =>
      Number(((await (await ch.client.query({ query, format: 'JSONEachRow' })).json()) as { n: string }[])[0]?.n ?? 0);
    const storedRows = await count('SELECT count() AS n FROM flows_raw');
    const scanRows = await count(
      "SELECT count() AS n FROM flows_raw WHERE dst_port BETWEEN 1 AND 150 AND toString(src_addr) LIKE '%198.51.%'",
    );
    await ch.client.close();

    // Steady state: samples after warm-up, while sending.
    const steady = samples.filter((s) => s.sending && s.elapsed_s >= options.warmupS);
    const lastSteady = steady[steady.length - 1];
    const trend = (pick: (s: Sample) => number) => round(leastSquaresSlope(steady.map((s) => [s.elapsed_s / 3600, pick(s)] as const)), 1);
    // A backlog in seconds of traffic: messages (one per 30-flow datagram) in Kafka not yet consumed,
    // plus those still in the collector (producer buffer, decode queue), which consumer lag misses.
    const lagSeconds = (lag: number) => (lag * RECORDS_PER_DATAGRAM) / options.rate;
    const inCollector = (s: Sample) => s.collector_buffer_messages + s.worker_queue_datagrams;
    const backlogOf = {
      aggregator: (s: Sample) => lagSeconds(s.lag_aggregator_messages + inCollector(s)),
      detector: (s: Sample) => lagSeconds(s.lag_detector_messages + inCollector(s)),
    };
    const steadyMinutes = steady.length > 1 ? ((lastSteady?.elapsed_s ?? 0) - (steady[0]?.elapsed_s ?? 0)) / 60 : 0;
    // Behind: the fitted backlog grows over the steady samples by more than 10 s of traffic and more than it started with.
    const backlog = (pick: (s: Sample) => number) => {
      const slope = leastSquaresSlope(steady.map((s) => [s.elapsed_s / 60, pick(s)] as const));
      const startS = steady[0] ? pick(steady[0]) : 0;
      return {
        start_s: round(startS, 1),
        end_s: lastSteady ? round(pick(lastSteady), 1) : null,
        slope_s_per_min: round(slope, 2),
        falling_behind: Number.isFinite(slope) && slope * steadyMinutes > Math.max(10, startS),
      };
    };

    const steadyCpu = (a: Sample, b: Sample) => {
      const flows = b.sent_flows - a.sent_flows;
      const seconds = b.elapsed_s - a.elapsed_s;
      return {
        seconds,
        flows_per_s: round(flows / seconds, 0),
        flowwatch_cores: round((b.flowwatch_cpu_s - a.flowwatch_cpu_s) / seconds),
        broker_cores: round((b.broker_cpu_s - a.broker_cpu_s) / seconds),
        flowwatch_us_per_flow: round(((b.flowwatch_cpu_s - a.flowwatch_cpu_s) / flows) * 1e6, 1),
        broker_us_per_flow: round(((b.broker_cpu_s - a.broker_cpu_s) / flows) * 1e6, 1),
      };
    };
    const rejected = sumBy(m, 'flowwatch_collector_rejected_total', 'reason');
    const workerQueueDatagrams = rejected.worker_queue_full ?? 0;
    const rejectedRecords = Object.entries(rejected)
      .filter(([reason]) => reason !== 'worker_queue_full')
      .reduce((n, [, v]) => n + v, 0);
    const kernelDatagrams = end.kernel_udp_drops_datagrams;
    const unknownSource = sumOf(m, 'flowwatch_collector_unknown_source_datagrams_total');
    const aggregatorDlq = sumOf(m, 'flowwatch_aggregator_dead_letters_total');
    const collectorDlq = sumOf(m, 'flowwatch_collector_dead_letters_total');
    // Datagram counts are turned into flows at 30 per datagram (template refreshes carry none).
    const counted = (kernelDatagrams + workerQueueDatagrams + unknownSource) * RECORDS_PER_DATAGRAM + rejectedRecords + aggregatorDlq;
    const loss = sent.flows - storedRows;
    const latencyAll = histogramOf(m, LATENCY);
    const latencyScan = histogramOf(m, LATENCY, { type: 'port_scan' });
    const quantiles = (h: typeof latencyAll) => ({
      count: h.counts[h.counts.length - 1] ?? 0,
      p50_s: round(histogramQuantile(0.5, h)),
      p95_s: round(histogramQuantile(0.95, h)),
      max_bucket_s: (() => {
        const i = h.counts.findIndex((c) => c === h.counts[h.counts.length - 1]);
        return i < 0 ? null : (h.le[i] ?? null);
      })(),
      buckets: bucketCounts(h),
    });
    const e2e = incidents
      .filter((i) => scanAlerts.has(i.src))
      .map((i) => ((scanAlerts.get(i.src) as number) - i.ms) / 1000)
      .sort((a, b) => a - b);
    const first = steady[0];
    const cpuFw = end.flowwatch_cpu_s;
    const cpuBroker = end.broker_cpu_s;
    print({
      bench: 'soak-summary',
      rate_target: options.rate,
      minutes: options.minutes,
      aggregator_config: soakAggregatorConfig(options),
      flows_encoding: options.flowsEncoding ?? 'default',
      flows_partitions: options.flowsPartitions ?? 'default',
      sent_flows: sent.flows,
      sent_datagrams: sent.datagrams,
      sender_seconds: round((sendEndMs - senderStartMs) / 1000, 0),
      achieved_send_rate: round(sent.flows / ((sendEndMs - t0) / 1000), 0),
      sender_cpu_seconds: round(sent.cpuSeconds, 1),
      sender_socket_errors: sent.errors,
      flows_to_kafka: end.flows_to_kafka,
      rows_written_metric: end.rows_stored,
      stored_raw_rows: storedRows,
      stored_scan_probe_rows: scanRows,
      loss_flows: loss,
      loss_counted: {
        kernel_udp_drops_datagrams: kernelDatagrams,
        worker_queue_full_datagrams: workerQueueDatagrams,
        unknown_source_datagrams: unknownSource,
        collector_rejected_records: rejected,
        collector_dlq_messages: collectorDlq,
        aggregator_dlq_records: aggregatorDlq,
        total_flows_approx: counted,
      },
      loss_unexplained_flows: loss - counted,
      zero_loss: loss === 0 && counted === 0,
      drain_seconds: round(drainS, 0),
      // Seconds of traffic not yet consumed (Kafka lag plus what waits in the collector), over the steady samples.
      backlog: { aggregator: backlog(backlogOf.aggregator), detector: backlog(backlogOf.detector) },
      memory: {
        warmup_s: options.warmupS,
        rss_mb: { steady_start: first?.rss_mb ?? null, end: lastSteady?.rss_mb ?? null, slope_mb_per_hour: trend((s) => s.rss_mb) },
        heap_used_mb: {
          steady_start: first?.heap_used_mb ?? null,
          end: lastSteady?.heap_used_mb ?? null,
          slope_mb_per_hour: trend((s) => s.heap_used_mb),
        },
      },
      cpu: {
        flowwatch_s: cpuFw,
        flowwatch_by_thread_s: fwThreads,
        broker_s: cpuBroker,
        flowwatch_us_per_flow: round((cpuFw / storedRows) * 1e6),
        broker_us_per_flow: round((cpuBroker / storedRows) * 1e6),
        sender_us_per_flow: round((sent.cpuSeconds / sent.flows) * 1e6),
        // Over the steady samples only (start-up, warm-up and drain left out): CPU per flow sent meanwhile.
        steady: first && lastSteady && lastSteady !== first ? steadyCpu(first, lastSteady) : null,
      },
      detection_latency: { all: quantiles(latencyAll), port_scan: quantiles(latencyScan) },
      aggregator_inserts: {
        count: sumOf(m, 'flowwatch_aggregator_insert_duration_seconds_count'),
        seconds: round(sumOf(m, 'flowwatch_aggregator_insert_duration_seconds_sum'), 1),
        rows_per_insert: round(end.rows_stored / sumOf(m, 'flowwatch_aggregator_insert_duration_seconds_count'), 0),
      },
      alerts_opened_by_type: sumBy(m, 'flowwatch_detector_alerts_raised_total', 'type'),
      incidents: {
        injected: incidents.length,
        alerted: e2e.length,
        missed: incidents.filter((i) => !scanAlerts.has(i.src)).map((i) => i.src),
        wall_latency_s: {
          min: round(e2e[0] ?? Number.NaN),
          p50: round(e2e[Math.floor(e2e.length / 2)] ?? Number.NaN),
          max: round(e2e[e2e.length - 1] ?? Number.NaN),
        },
      },
      flowwatch_stop: stopCode,
      load_average_end: end.load_average,
    });
  } finally {
    if (sender && sender.exitCode === null) sender.kill('SIGTERM');
    await alertReader.disconnect().catch(() => {});
    await fw.stop(30_000);
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
