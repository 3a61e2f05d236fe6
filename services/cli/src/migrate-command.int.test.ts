import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dedupInsertSettings, migrate, openClickHouse, SCHEMA } from '@flowwatch/clickhouse';
import { configSchema } from '@flowwatch/config';
import { enrichedFlowRows, hourStartAgo, silentLogger, testKafka, uniqueName } from '@flowwatch/test-support';
import { describe, expect, it } from 'vitest';
import { aggregatorMembers } from './migrate-command.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(ROOT, 'services/cli/src/main.ts');

function flowwatch(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, ['--conditions=flowwatch-src', '--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('flowwatch migrate (the deployment migration job)', () => {
  it('creates the schema and exits; a second run finds it applied', async () => {
    const path = mkdtempSync(join(tmpdir(), 'fw-migrate-'));
    const env = { FLOWWATCH__CLICKHOUSE__PATH: path, FLOWWATCH__STORAGE__RAW_TTL_DAYS: '3', FLOWWATCH__LOG__LEVEL: 'warn' };
    const first = flowwatch(['migrate'], env);
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ applied: [1, 2, 3, 4], alreadyApplied: [], cluster: null });
    const second = flowwatch(['migrate'], env);
    expect(second.status, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual({ applied: [], alreadyApplied: [1, 2, 3, 4], cluster: null });

    const ch = await openClickHouse({ username: 'default', password: '', database: 'flowwatch', path, requestTimeoutMs: 60_000 });
    try {
      const [row] = await (
        await ch.client.query({
          query: "SELECT create_table_query AS q FROM system.tables WHERE database = 'flowwatch' AND name = 'flows_raw'",
          format: 'JSONEachRow',
        })
      ).json<{ q: string }>();
      expect(row?.q).toContain('toIntervalDay(3)');
    } finally {
      await ch.client.close();
    }
  });

  it('refuses a cluster on the embedded engine (exit 2, naming the field)', () => {
    const r = flowwatch(['migrate'], { FLOWWATCH__CLICKHOUSE__CLUSTER: 'flowwatch' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/clickhouse\.cluster: a cluster needs url/);
  });

  it('rebuilds flows_raw of an embedded database at version 3 (the process owns it), keeping every row', async () => {
    const path = mkdtempSync(join(tmpdir(), 'fw-migrate-'));
    const open = () => openClickHouse({ username: 'default', password: '', database: 'flowwatch', path, requestTimeoutMs: 60_000 });
    let ch = await open();
    const rows = enrichedFlowRows(300, hourStartAgo(3), 3_600_000);
    try {
      await migrate(
        ch.client,
        SCHEMA.filter((m) => m.version <= 3),
        silentLogger,
      );
      await ch.client.insert({
        table: 'flows_raw',
        values: rows,
        format: 'JSONEachRow',
        clickhouse_settings: dedupInsertSettings('flows:0:0'),
      });
    } finally {
      await ch.client.close();
    }
    const r = flowwatch(['migrate'], { FLOWWATCH__CLICKHOUSE__PATH: path, FLOWWATCH__LOG__LEVEL: 'warn' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ applied: [4], alreadyApplied: [1, 2, 3], cluster: null });
    ch = await open();
    try {
      const [t] = await (
        await ch.client.query({
          query: `SELECT sorting_key, (SELECT count() FROM flows_raw) AS n FROM system.tables WHERE database = 'flowwatch' AND name = 'flows_raw'`,
          format: 'JSONEachRow',
        })
      ).json<{ sorting_key: string; n: number }>();
      expect(t).toEqual({ sorting_key: 'time_received', n: rows.length });
    } finally {
      await ch.client.close();
    }
  });

  it("asks Kafka whether the aggregators' consumer group has members (a server's rebuild needs none)", async () => {
    const { kafka, brokers } = testKafka();
    const config = configSchema.parse({ kafka: { brokers } });
    const groupId = uniqueName('fw-agg');
    expect(await aggregatorMembers(config.kafka, groupId, silentLogger)).toEqual({ ok: true, count: 0 });
    const topic = uniqueName('fw-migrate');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const consumer = kafka.consumer({ groupId });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic });
      const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
      await consumer.run({ eachMessage: async () => {} });
      await joined;
      expect(await aggregatorMembers(config.kafka, groupId, silentLogger)).toEqual({ ok: true, count: 1 });
    } finally {
      await consumer.disconnect();
    }
    expect(await aggregatorMembers(config.kafka, groupId, silentLogger)).toEqual({ ok: true, count: 0 });
    expect(await aggregatorMembers({ ...config.kafka, brokers: [] }, groupId, silentLogger)).toMatchObject({ ok: false });
  });
});
