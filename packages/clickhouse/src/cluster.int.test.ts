import { openTestClickHouse, silentLogger } from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient, ClickHouseHandle } from './client.js';
import { type ClusterTarget, clusterMigrations, clusterTtlStatement, localName, SHARDING_KEYS } from './cluster.js';
import { migrate, migrationsTableDdl } from './migrations.js';
import { SCHEMA } from './schema.js';

/**
 * No ClickHouse cluster runs here, so the cluster DDL is checked two ways on the embedded engine:
 * every statement must parse (formatQuery parses DDL it cannot execute: ON CLUSTER, Replicated
 * engines, Distributed over a cluster this engine does not have), and the local tables, views and
 * ALTERs, with only ON CLUSTER and replication taken out, are executed and must give the same
 * columns, keys and rollups as the single-node schema. What neither can show (Keeper paths, macros,
 * the DDL queue, Distributed inserts) is listed in docs/storage.md as not run.
 */

let ch: ClickHouseHandle;
let target: ClusterTarget;
beforeAll(async () => {
  ch = await openTestClickHouse();
  await migrate(ch.client, SCHEMA, silentLogger);
  target = { cluster: 'flowwatch', database: `${ch.database}_cl` };
  await ch.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${target.database}` });
});
afterAll(async () => {
  await ch.client.close();
});

const q = async <T>(query: string, query_params: Record<string, unknown> = {}) =>
  (await ch.client.query({ query, query_params, format: 'JSONEachRow' })).json<T>();

/** The statement as ClickHouse parses it, or the parser's error. */
async function parse(statement: string): Promise<{ ok: true; text: string } | { ok: false; error: string }> {
  try {
    const [row] = await q<{ text: string }>('SELECT formatQuery({s:String}) AS text', { s: statement });
    return { ok: true, text: (row as { text: string }).text };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** The same statement on one node: without ON CLUSTER and without replication (Keeper path, replica). */
function rehearsal(statement: string): string {
  return statement
    .replace(/ ON CLUSTER '[^']*'/, '')
    .replace(/Replicated(\w*MergeTree)\('[^']*', '\{replica\}'(?:, )?/, '$1(')
    .replace(/\breplicated_deduplication_window\b/, 'non_replicated_deduplication_window');
}

/**
 * A client for a migration step written for the cluster, on the embedded engine: every command is
 * recorded as the step wrote it (ON CLUSTER, replicated, Distributed), and run as its rehearsal on
 * the local tables: the Distributed tables stand for their local ones, and SHOW CREATE shows the
 * local table replicated, as a server would.
 */
function rehearsing(client: ClickHouseClient, recorded: string[]): ClickHouseClient {
  const local = (sql: string) => rehearsal(sql).replace(/`(flows_raw(?:_next)?)`/g, '`$1_local`');
  return new Proxy(client, {
    get(real, prop, receiver) {
      if (prop === 'command')
        return async (p: Parameters<ClickHouseClient['command']>[0]) => {
          recorded.push(p.query);
          if (/ENGINE = Distributed\(/.test(p.query)) return;
          const { parallel_distributed_insert_select: _, ...settings } = p.clickhouse_settings ?? {};
          return real.command({ ...p, query: local(p.query), clickhouse_settings: settings });
        };
      if (prop === 'query')
        return async (p: Parameters<ClickHouseClient['query']>[0]) => {
          const result = await real.query({ ...p, query: local(p.query) });
          if (!p.query.startsWith('SHOW CREATE TABLE')) return result;
          const rows = (await result.json<{ statement: string }>()) as { statement: string }[];
          const path = `/clickhouse/tables/{shard}/${target.database}/flows_raw_local`;
          const shown = rows.map((r) => ({
            statement: r.statement.replace(/ENGINE = MergeTree\b/, `ENGINE = ReplicatedMergeTree('${path}', '{replica}')`),
          }));
          return { json: async () => shown };
        };
      if (prop === 'insert') return async (p: Parameters<ClickHouseClient['insert']>[0]) => real.insert({ ...p, table: local(p.table) });
      return Reflect.get(real, prop, receiver);
    },
  });
}

describe('cluster DDL on the embedded engine', () => {
  it('parses: every migration statement, the migrations record and the retention ALTERs', async () => {
    const statements = [
      migrationsTableDdl(target),
      ...clusterMigrations(SCHEMA, target).flatMap((m) => m.statements),
      ...['flows_raw', 'flows_1m', 'flows_1h'].map((t) => clusterTtlStatement(t, 'ts + INTERVAL 3 DAY', target)),
    ];
    const failures: string[] = [];
    for (const s of statements) {
      const r = await parse(s);
      if (!r.ok) failures.push(`${r.error}\n  in: ${s.slice(0, 200)}`);
      else expect(r.text).toContain('ON CLUSTER flowwatch');
    }
    expect(failures, failures.join('\n')).toEqual([]);
  });

  it('the parse check fails on a typo', async () => {
    const [first] = clusterMigrations(SCHEMA, target)[0]?.statements ?? [];
    const broken = (first as string).replace("'{replica}')", "'{replica}'");
    expect(await parse(broken)).toMatchObject({ ok: false, error: expect.stringMatching(/Syntax error/) });
  });

  it('gives local tables with the columns, keys and TTLs of the single-node tables, and rollups that fill', async () => {
    const stepStatements: string[] = [];
    for (const m of clusterMigrations(SCHEMA, target)) {
      for (const s of m.statements) {
        if (/ENGINE = Distributed\(/.test(s)) continue;
        if (/^ALTER TABLE `\w+`\.`(\w+)`/.exec(s)?.[1]?.endsWith('_local') === false) continue;
        await ch.client.command({ query: rehearsal(s) });
      }
      await m.step?.run({ client: rehearsing(ch.client, stepStatements), logger: silentLogger, cluster: target, writersStopped: true });
    }
    // The steps' own statements (migration 4's rebuild of flows_raw_local) parse as written for the cluster.
    expect(
      stepStatements.some((s) => /^EXCHANGE TABLES `\w+`\.`flows_raw_local` AND `\w+`\.`flows_raw_next_local` ON CLUSTER/.test(s)),
    ).toBe(true);
    expect(
      stepStatements.some((s) =>
        /ReplicatedMergeTree\('\/clickhouse\/tables\/\{shard\}\/\w+\/flows_raw_local_m4', '\{replica\}'\)/.test(s),
      ),
    ).toBe(true);
    const failures: string[] = [];
    for (const s of stepStatements) {
      const r = await parse(s);
      if (!r.ok) failures.push(`${r.error}\n  in: ${s.slice(0, 200)}`);
    }
    expect(failures, failures.join('\n')).toEqual([]);
    const columns = (db: string, table: string) =>
      q<Record<string, string>>(
        `SELECT name, type, default_kind, default_expression, compression_codec FROM system.columns
         WHERE database = {db:String} AND table = {t:String} ORDER BY position`,
        { db, t: table },
      );
    const shape = async (db: string, table: string) =>
      (
        await q<Record<string, string>>(
          `SELECT engine, partition_key, sorting_key, primary_key,
             replaceRegexpAll(create_table_query, '.*\\\\b(TTL .*?) SETTINGS.*|.*', '\\\\1') AS ttl
           FROM system.tables WHERE database = {db:String} AND name = {t:String}`,
          { db, t: table },
        )
      )[0];
    for (const table of Object.keys(SHARDING_KEYS)) {
      const single = await columns(ch.database, table);
      expect(single.length, table).toBeGreaterThan(3);
      expect(await columns(target.database, localName(table)), table).toEqual(single);
      expect(await shape(target.database, localName(table)), table).toEqual(await shape(ch.database, table));
      if (table.startsWith('flows_')) expect((await shape(ch.database, table))?.ttl, table).toMatch(/^TTL /);
    }

    // The views read and write the local tables: a row inserted on a shard reaches its minute and hour rollups.
    await ch.client.insert({
      table: `${target.database}.flows_raw_local`,
      values: [1, 2, 3].map((i) => ({
        time_received: `2026-11-21 10:00:0${i}.000`,
        time_flow_start: '2026-11-21 10:00:00.000',
        time_flow_end: '2026-11-21 10:00:00.000',
        type: 'IPFIX',
        supplier_id: 's',
        src_addr: `::ffff:10.0.0.${i}`,
        dst_addr: '::ffff:10.0.1.1',
        bytes: 100 * i,
        packets: i,
        kafka_topic: 'flows',
        kafka_partition: 0,
        kafka_offset: i,
      })),
      format: 'JSONEachRow',
    });
    const sums = async (table: string) =>
      Object.values(
        (
          await q<Record<string, string | number>>(`SELECT sum(bytes), sum(flows), uniqMerge(src_addrs) FROM ${target.database}.${table}`)
        )[0] ?? {},
      ).map(Number);
    expect(await sums('flows_1m_local')).toEqual([600, 3, 3]);
    expect(await sums('flows_1h_local')).toEqual([600, 3, 3]);
  });
});
