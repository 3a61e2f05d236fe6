import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAggregator } from '@flowwatch/aggregator';
import { type ClickHouseClient, migrate, openClickHouse, SCHEMA } from '@flowwatch/clickhouse';
import type { RegistryConfig } from '@flowwatch/config';
import { emptyFlow, encodeFlows, type FlowRecord, type FlowsEncoding } from '@flowwatch/flow-schema';
import { BufferedProducer, createKafka, ensureTopics } from '@flowwatch/kafka';
import { LocalKafka } from '@flowwatch/local-kafka';
import { createRegistry, ServiceMetrics } from '@flowwatch/observability';
import { pino } from 'pino';
import { freePort } from '../support/ports.js';
import { hourStartAgo } from '../support/recent-time.js';
import { brokerPid, processCpuSeconds, ThreadCpu } from './proc-stat.js';

/** 300 organisations of 8 suppliers, each with an IPv4 /18 and an IPv6 /48; a dozen services. */
function benchRegistry(): RegistryConfig {
  const suppliers = Array.from({ length: 8 }, (_, s) => ({
    id: `supplier-${s}`,
    name: `Supplier ${s}`,
    exporters: [],
    pushTokens: [],
    clientCertFingerprints: [],
  }));
  const organisations = Array.from({ length: 300 }, (_, i) => ({
    code: `R${i.toString(36).toUpperCase().padStart(2, '0')}`,
    name: `Organisation ${i}`,
    type: 'acute',
    supplier: `supplier-${i % 8}`,
    prefixes: [`10.${i >> 2}.${(i & 3) * 64}.0/18`, `2001:db8:${i.toString(16)}::/48`],
  }));
  const services = Array.from({ length: 12 }, (_, k) => ({
    id: `svc-${k}`,
    name: `Service ${k}`,
    supplier: 'supplier-0',
    prefixes: [`10.200.${k}.0/24`],
    ports: [443],
  }));
  return { suppliers, organisations, services, groups: [] };
}

/** A flow between organisations, services and the internet, with some variety in every key column. */
function benchFlow(i: number, t0: number): FlowRecord {
  const src = i % 300;
  const dst = (i * 7919) % 300;
  const toService = i % 5 === 0;
  return {
    ...emptyFlow(i % 2 ? 'IPFIX' : 'NETFLOW_V9'),
    time_received_ns: (t0 + Math.floor(i / 50)) * 1e6,
    time_flow_start_ns: (t0 + Math.floor(i / 50) - 30_000) * 1e6,
    time_flow_end_ns: (t0 + Math.floor(i / 50) - 1000) * 1e6,
    src_addr: `10.${src >> 2}.${(src & 3) * 64 + (i % 64)}.${(i >> 6) % 250}`,
    dst_addr: toService
      ? `10.200.${i % 12}.${i % 200}`
      : i % 11 === 0
        ? `203.0.113.${i % 250}`
        : `10.${dst >> 2}.${(dst & 3) * 64}.${i % 250}`,
    src_port: 1024 + (i % 60_000),
    dst_port: toService ? 443 : ([443, 445, 53, 80, 3389, 389, 88, 123][i % 8] ?? 443),
    proto: i % 8 === 2 || i % 8 === 7 ? 17 : 6,
    bytes: 60 + ((i * 2654435761) % 1_000_000),
    packets: 1 + (i % 700),
    sampling_rate: i % 3 === 0 ? 1000 : 1,
    supplier_id: `supplier-${src % 8}`,
    exporter_id: `r${src % 8}-${i % 4}`,
    sampler_address: `127.0.${src % 8}.${1 + (i % 4)}`,
    in_if: i % 48,
    out_if: (i + 1) % 48,
  };
}

export interface AggregatorBenchOptions {
  /** Another sorting key for flows_raw (the expression after ORDER BY), to compare merges and queries. */
  rawOrderBy?: string | undefined;
  /** Times drill-down queries of flows_raw on the bench's data once it is stored (`drill_down_ms`). */
  drillDown?: boolean | undefined;
}

/**
 * Recreates the (empty) flows_raw with sorting key `orderBy`, and the minute view that reads it:
 * a bench-only way to measure another key on the same data and code. The table as the schema made
 * it (SHOW CREATE, its ORDER BY line replaced), so no copy of its definition lives here.
 */
async function reorderRaw(client: ClickHouseClient, orderBy: string): Promise<void> {
  const ddl = await (await client.query({ query: 'SHOW CREATE TABLE flows_raw', format: 'TabSeparatedRaw' })).text();
  const view = SCHEMA.flatMap((m) => m.statements).find((x) => x.includes('MATERIALIZED VIEW IF NOT EXISTS flows_1m_mv'));
  if (!/^ORDER BY .*$/m.test(ddl) || !view) throw new Error('flows_raw has no ORDER BY line, or the schema no flows_1m_mv');
  await client.command({ query: 'DROP VIEW flows_1m_mv SYNC' });
  await client.command({ query: 'DROP TABLE flows_raw SYNC' });
  await client.command({ query: ddl.replace(/^ORDER BY .*$/m, `ORDER BY ${orderBy}`) });
  await client.command({ query: view });
}

/**
 * Median milliseconds (5 timed runs after one) of drill-downs an analyst runs on flows_raw, over
 * everything the bench stored: the newest flows, of one organisation, of one supplier (what a
 * supplier-role user sees), of one address; one organisation pair's totals; a supplier's top hosts;
 * one organisation's newest flows in the last minute.
 */
async function drillDownMs(client: ClickHouseClient): Promise<Record<string, number>> {
  const [range] = await (
    await client.query({
      query: 'SELECT toString(min(time_received)) AS a, toString(max(time_received)) AS b FROM flows_raw',
      format: 'JSONEachRow',
    })
  ).json<{ a: string; b: string }>();
  const all = `time_received >= '${range?.a}' AND time_received <= '${range?.b}'`;
  const queries: Record<string, string> = {
    newest_100: `SELECT * FROM flows_raw WHERE ${all} ORDER BY time_received DESC LIMIT 100`,
    organisation_newest_100: `SELECT * FROM flows_raw WHERE ${all} AND src_org = 'R05' ORDER BY time_received DESC LIMIT 100`,
    supplier_newest_100: `SELECT * FROM flows_raw WHERE ${all} AND supplier_id = 'supplier-3' ORDER BY time_received DESC LIMIT 100`,
    address_newest_100: `SELECT * FROM flows_raw WHERE ${all} AND dst_addr = toIPv6('203.0.113.7') ORDER BY time_received DESC LIMIT 100`,
    organisation_pair_totals: `SELECT count(), sum(bytes) FROM flows_raw WHERE ${all} AND src_org = 'R05' AND dst_org = 'R87'`,
    supplier_top_10_hosts: `SELECT src_addr, sum(bytes) AS b FROM flows_raw WHERE ${all} AND supplier_id = 'supplier-3' GROUP BY src_addr ORDER BY b DESC LIMIT 10`,
    organisation_last_minute: `SELECT * FROM flows_raw WHERE time_received >= toDateTime64('${range?.b}', 3) - INTERVAL 60 SECOND AND src_org = 'R05' ORDER BY time_received DESC LIMIT 100`,
  };
  const out: Record<string, number> = {};
  for (const [name, query] of Object.entries(queries)) {
    const ms: number[] = [];
    for (let run = 0; run < 6; run++) {
      const t = performance.now();
      const rows = await (await client.query({ query, format: 'JSONEachRow' })).json();
      if (rows.length === 0) throw new Error(`drill-down ${name} found nothing`);
      ms.push(performance.now() - t);
    }
    ms.shift();
    ms.sort((a, b) => a - b);
    out[name] = Math.round(ms[2] ?? 0);
  }
  return out;
}

/**
 * The aggregator on this machine: `flows` pre-filled in a local Kafka broker (8 partitions,
 * 100 records per message, as the collector writes them), then one aggregator in this process
 * consumes it into embedded ClickHouse (raw table and both rollups). Reports flows/s from the
 * first to the last commit, CPU, and bytes per flow on disk once parts are merged.
 */
export async function aggregatorBench(
  print: (o: Record<string, unknown>) => void,
  totalFlows = 1_000_000,
  encoding: FlowsEncoding = 'ndjson',
  partitionsConcurrently = 2,
  insertsInFlight = 2,
  options: AggregatorBenchOptions = {},
) {
  const logger = pino({ level: 'warn' });
  const dir = mkdtempSync(join(tmpdir(), 'fw-bench-aggr-'));
  const broker = new LocalKafka({
    runtime: 'jvm',
    host: '127.0.0.1',
    port: await freePort(),
    controllerPort: await freePort(),
    dataDir: join(dir, 'kafka'),
    cacheDir: join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? tmpdir(), '.cache'), 'flowwatch', 'kafka'),
    heapMb: 1024,
    startTimeoutMs: 120_000,
  });
  await broker.start();
  const ch = await openClickHouse({
    path: join(dir, 'clickhouse'),
    database: 'bench',
    username: 'default',
    password: '',
    requestTimeoutMs: 600_000,
  });
  try {
    await migrate(ch.client, SCHEMA, logger);
    if (options.rawOrderBy) await reorderRaw(ch.client, options.rawOrderBy);
    const kafka = createKafka({ brokers: broker.brokers, clientId: 'bench', ssl: false, connectionTimeoutMs: 3000 }, logger);
    const topic = 'flows-bench';
    await ensureTopics(
      kafka,
      [
        { name: topic, partitions: 8, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
        { name: `${topic}.dlq`, partitions: 1, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
      ],
      logger,
    );
    const producerOptions = {
      maxBufferedMessages: 20_000,
      maxBufferedBytes: 512 << 20,
      lingerMs: 20,
      batchMaxMessages: 500,
      // As the collector writes `flows` by default (kafka.producer.compression).
      compression: 'lz4' as const,
      acks: -1 as const,
      retryBackoffMs: 100,
    };
    const producer = new BufferedProducer(kafka, producerOptions, new ServiceMetrics(createRegistry(), 'bench'), logger);
    await producer.start();
    // Two hours ago: flows_raw drops rows past its retention at insert, and the bench would wait for them.
    const t0 = hourStartAgo(2);
    for (let m = 0; m < totalFlows / 100; m++) {
      const records = Array.from({ length: 100 }, (_, k) => benchFlow(m * 100 + k, t0));
      const message = { key: `supplier-${m % 8}/r${m % 32}`, value: encodeFlows(records, 0, records.length, encoding) };
      // hasRoom() counts messages, not this one's bytes: a send can still be refused (and counted)
      // near the byte bound, so wait and send again until it is queued.
      while (producer.send(topic, [message]) !== 'queued') await producer.whenWritable();
    }
    await producer.flush();
    await producer.stop();

    const registry = createRegistry();
    const aggregator = createAggregator(
      { logger, registry, kafka, clickhouse: ch.client, producerOptions, topics: { flows: topic, dlq: `${topic}.dlq` }, readiness: [] },
      {
        groupId: 'bench-aggregators',
        maxBytesPerPartition: 8 << 20,
        minBytes: 512 << 10,
        maxWaitMs: 500,
        partitionsConcurrently,
        insertsInFlight,
      },
      benchRegistry(),
    );
    const rowsWritten = async () =>
      ((await registry.getSingleMetric('flowwatch_aggregator_rows_written_total')?.get())?.values ?? []).reduce((a, v) => a + v.value, 0);
    // Rows read by merges (every table; the rollups' are a few thousand): system.events, a counter
    // of the whole engine. (Inactive parts are no measure: chDB removes merged parts within seconds.)
    const mergedRows = async () =>
      Number(
        (
          await (
            await ch.client.query({ query: `SELECT sum(value) AS v FROM system.events WHERE event = 'MergedRows'`, format: 'JSONEachRow' })
          ).json<{ v: string }>()
        )[0]?.v ?? 0,
      );
    const merged0 = await mergedRows();
    const cpu0 = process.cpuUsage();
    // Where the CPU goes: this process's threads by name (main: JavaScript; node: V8's collector
    // and libuv; chDB's inserts and merges under their own names) and the broker's JVM.
    const threads = new ThreadCpu(process.pid);
    const broker0 = processCpuSeconds(brokerPid(join(dir, 'kafka')));
    const start = performance.now();
    await aggregator.start();
    // When rows were first seen, and how many: the sustained rate counts only the rows after them.
    let first = 0;
    let firstRows = 0;
    while ((await rowsWritten()) < totalFlows && performance.now() - start < 900_000) {
      if (!first) {
        firstRows = await rowsWritten();
        if (firstRows > 0) first = performance.now();
      }
      threads.sample();
      await new Promise((r) => setTimeout(r, 100));
    }
    const end = performance.now();
    const cpu = process.cpuUsage(cpu0);
    threads.sample();
    const brokerSeconds = processCpuSeconds(brokerPid(join(dir, 'kafka'))) - broker0;
    await aggregator.stop();
    const written = await rowsWritten();
    const insertMetric = ((await registry.getSingleMetric('flowwatch_aggregator_insert_duration_seconds')?.get())?.values ?? []) as {
      metricName?: string;
      value: number;
    }[];
    const inserts = insertMetric.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
    const insertSeconds = insertMetric.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
    const merged = (await mergedRows()) - merged0;
    const [rawParts] = await (
      await ch.client.query({
        query: `SELECT count() AS n FROM system.parts WHERE database = currentDatabase() AND table = 'flows_raw' AND active`,
        format: 'JSONEachRow',
      })
    ).json<{ n: string }>();
    const drillDown = options.drillDown ? await drillDownMs(ch.client) : undefined;
    await ch.client.command({ query: 'OPTIMIZE TABLE flows_raw FINAL' });
    await ch.client.command({ query: 'OPTIMIZE TABLE flows_1m FINAL' });
    await ch.client.command({ query: 'OPTIMIZE TABLE flows_1h FINAL' });
    const parts = await (
      await ch.client.query({
        query: `SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts
                WHERE database = currentDatabase() AND active AND table LIKE 'flows_%' GROUP BY table ORDER BY table`,
        format: 'JSONEachRow',
      })
    ).json<{ table: string; rows: string; bytes: string }>();
    const seconds = (end - start) / 1000;
    print({
      bench: 'aggregator',
      flows_encoding: encoding,
      partitions_concurrently: partitionsConcurrently,
      inserts_in_flight: insertsInFlight,
      flows: written,
      seconds: +seconds.toFixed(2),
      flows_per_second: Math.round(written / seconds),
      // The rows written after the first were seen, over the time since (the first insert's rows
      // are not counted: they were written before that moment).
      flows_per_second_after_first_insert: first && end > first ? Math.round((written - firstRows) / ((end - first) / 1000)) : null,
      cpu_seconds: +((cpu.user + cpu.system) / 1e6).toFixed(2),
      cpu_by_thread_seconds: threads.byName(),
      broker_cpu_seconds: +brokerSeconds.toFixed(2),
      inserts,
      flows_per_insert: inserts ? Math.round(written / inserts) : null,
      insert_seconds: +insertSeconds.toFixed(2),
      raw_parts_at_end: Number(rawParts?.n ?? 0),
      // Rows the background merges read (and wrote again) per flow, and merge CPU per such row.
      merged_rows_per_flow: +(merged / written).toFixed(2),
      merge_cpu_us_per_merged_row: merged ? +(((threads.byName().MergeMutate ?? 0) * 1e6) / merged).toFixed(2) : null,
      ...(drillDown ? { drill_down_ms: drillDown } : {}),
      disk: Object.fromEntries(
        parts.map((p) => [
          p.table,
          { rows: Number(p.rows), bytes: Number(p.bytes), bytes_per_flow: +(Number(p.bytes) / written).toFixed(2) },
        ]),
      ),
    });
  } finally {
    await ch.client.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
