import { openTestClickHouse, silentLogger } from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseHandle } from './client.js';
import { type Migration, migrate } from './migrations.js';

let ch: ClickHouseHandle;
beforeAll(async () => {
  ch = await openTestClickHouse();
});
afterAll(async () => {
  await ch.client.close();
});

const migrations: Migration[] = [
  {
    version: 1,
    name: 'events',
    statements: [
      `CREATE TABLE IF NOT EXISTS events (at DateTime64(3, 'UTC'), supplier LowCardinality(String), bytes UInt64)
       ENGINE = MergeTree ORDER BY (supplier, at)`,
    ],
  },
  {
    version: 2,
    name: 'events by supplier',
    statements: [
      `CREATE TABLE IF NOT EXISTS events_by_supplier (supplier LowCardinality(String), bytes UInt64)
       ENGINE = SummingMergeTree ORDER BY supplier`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS events_by_supplier_mv TO events_by_supplier AS
       SELECT supplier, bytes FROM events`,
    ],
  },
];

describe('openClickHouse', () => {
  it('opens the configured database as the current one', async () => {
    const rows = await (await ch.client.query({ query: 'SELECT currentDatabase() AS db', format: 'JSONEachRow' })).json<{ db: string }>();
    expect(rows[0]?.db).toBe(ch.database);
    expect(ch.mode).toBe(process.env.CLICKHOUSE_URL ? 'server' : 'embedded');
  });
});

describe('per-query settings', () => {
  it('a deduplication token given to one insert does not drop the next inserts', async () => {
    await ch.client.command({
      query: 'CREATE TABLE sticky (n UInt64) ENGINE = MergeTree ORDER BY n SETTINGS non_replicated_deduplication_window = 100',
    });
    await ch.client.insert({
      table: 'sticky',
      values: [{ n: 1 }],
      format: 'JSONEachRow',
      clickhouse_settings: { insert_deduplication_token: 't' },
    });
    await ch.client.insert({ table: 'sticky', values: [{ n: 2 }], format: 'JSONEachRow' });
    await ch.client.insert({ table: 'sticky', values: [{ n: 3 }], format: 'JSONEachRow' });
    await ch.client.insert({
      table: 'sticky',
      values: [{ n: 4 }],
      format: 'JSONEachRow',
      clickhouse_settings: { insert_deduplication_token: 't' },
    });
    const rows = await (
      await ch.client.query({ query: 'SELECT groupArray(n) AS a FROM (SELECT n FROM sticky ORDER BY n)', format: 'JSONEachRow' })
    ).json<{
      a: number[];
    }>();
    await ch.client.command({ query: 'DROP TABLE sticky' });
    expect(rows[0]?.a.map(Number)).toEqual([1, 2, 3]);
  });
});

describe('migrate', () => {
  it('applies pending migrations in order, once', async () => {
    const first = await migrate(ch.client, migrations.slice(0, 1), silentLogger);
    expect(first).toEqual({ applied: [1], alreadyApplied: [] });
    const second = await migrate(ch.client, migrations, silentLogger);
    expect(second).toEqual({ applied: [2], alreadyApplied: [1] });
    const third = await migrate(ch.client, migrations, silentLogger);
    expect(third).toEqual({ applied: [], alreadyApplied: [1, 2] });
    const tables = await (
      await ch.client.query({
        query: 'SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name',
        format: 'JSONEachRow',
      })
    ).json<{ name: string }>();
    expect(tables.map((t) => t.name)).toEqual(['events', 'events_by_supplier', 'events_by_supplier_mv', 'flowwatch_schema_migrations']);
  });

  it('refuses a migration whose statements changed after it was applied', async () => {
    const edited = [{ ...migrations[0], statements: ['SELECT 1'] } as Migration];
    await expect(migrate(ch.client, edited, silentLogger)).rejects.toThrow(/migration 1 \(events\) changed after it was applied/);
  });

  it('refuses migrations out of version order', async () => {
    await expect(migrate(ch.client, [migrations[1] as Migration, migrations[0] as Migration], silentLogger)).rejects.toThrow(
      /out of order/,
    );
  });
});

describe('insert and parameterised query', () => {
  it('stores rows, fills the materialized view and binds parameters as data, never SQL', async () => {
    await migrate(ch.client, migrations, silentLogger);
    const hostile = "nhs'; DROP TABLE events; --";
    await ch.client.insert({
      table: 'events',
      format: 'JSONEachRow',
      values: [
        { at: '2026-11-21 10:00:00.000', supplier: 'a', bytes: 100 },
        { at: '2026-11-21 10:00:01.000', supplier: 'a', bytes: 50 },
        { at: '2026-11-21 10:00:02.000', supplier: hostile, bytes: 7 },
      ],
    });
    const q = async (supplier: string) =>
      (
        await ch.client.query({
          query: 'SELECT count() AS n, sum(bytes) AS bytes FROM events WHERE supplier = {supplier:String}',
          query_params: { supplier },
          format: 'JSONEachRow',
        })
      ).json<{ n: string | number; bytes: string | number }>();
    expect((await q('a'))[0]).toMatchObject({ n: expect.anything() });
    expect(Number((await q('a'))[0]?.bytes)).toBe(150);
    expect(Number((await q(hostile))[0]?.n)).toBe(1);
    const mv = await (
      await ch.client.query({
        query: 'SELECT supplier, sum(bytes) AS bytes FROM events_by_supplier GROUP BY supplier ORDER BY supplier',
        format: 'JSONEachRow',
      })
    ).json<{ supplier: string; bytes: string | number }>();
    expect(mv.map((r) => [r.supplier, Number(r.bytes)])).toEqual([
      ['a', 150],
      [hostile, 7],
    ]);
  });
});
