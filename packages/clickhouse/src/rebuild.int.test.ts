import { dayStartAgo, openTestClickHouse, silentLogger } from '@flowwatch/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import { dedupInsertSettings, resendBatch } from './batches.js';
import type { ClickHouseClient, ClickHouseHandle } from './client.js';
import { type MigrateOptions, migrate } from './migrations.js';
import { SCHEMA } from './schema.js';

/**
 * Migration 4 rebuilds flows_raw ordered by time_received (rebuild.ts): a database at version 3
 * with rows keeps every row, the rollups keep filling, the replay repair's tokens hold, and runs
 * cut short, refused or overtaken leave the data as it was.
 */

const handles: ClickHouseHandle[] = [];
afterEach(async () => {
  for (const h of handles.splice(0)) await h.client.close();
});

async function database(): Promise<ClickHouseClient> {
  const h = await openTestClickHouse();
  handles.push(h);
  return h.client;
}

const q = async <T>(c: ClickHouseClient, query: string) => (await c.query({ query, format: 'JSONEachRow' })).json<T>();
const one = async (c: ClickHouseClient, query: string) => Object.values((await q<Record<string, unknown>>(c, query))[0] ?? {})[0];
const sortingKey = (c: ClickHouseClient) =>
  one(c, "SELECT sorting_key FROM system.tables WHERE database = currentDatabase() AND name = 'flows_raw'");
const tables = async (c: ClickHouseClient) =>
  (
    await q<{ name: string }>(
      c,
      "SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'flows_raw%' ORDER BY name",
    )
  ).map((r) => r.name);
/** Every row, column for column, as one number and a count (the order of rows does not matter). */
const fingerprint = (c: ClickHouseClient, table = 'flows_raw') =>
  q(c, `SELECT count() AS n, groupBitXor(cityHash64(*)) AS h FROM ${table}`);
const rollupSums = (c: ClickHouseClient) => q(c, 'SELECT sum(flows) AS flows, sum(bytes) AS bytes FROM flows_1m');

const OLD_KEY = 'toStartOfFiveMinutes(time_received), supplier_id, src_org, dst_org, time_received';
const V3 = SCHEMA.filter((m) => m.version <= 3);
const DAYS = [2, 1].map((n) => new Date(dayStartAgo(n)).toISOString().slice(0, 10));

function row(partition: number, offset: number, batchFirst: number | undefined) {
  // Kafka partition 0's inserts fall on two days, partition 1's on one (as the aggregator cuts them).
  const day = DAYS[partition === 1 ? 1 : offset % 2] as string;
  return {
    time_received: `${day} 10:${String(offset % 60).padStart(2, '0')}:${String((offset * 7) % 60).padStart(2, '0')}.${String(offset % 1000).padStart(3, '0')}`,
    time_flow_start: `${day} 09:59:00.000`,
    time_flow_end: `${day} 10:00:00.000`,
    type: 'IPFIX',
    supplier_id: offset % 3 ? 'supplier-a' : 'supplier-b',
    exporter_id: 'r1',
    src_addr: offset % 2 ? `10.0.${partition}.${offset % 250}` : `2001:db8::${(offset % 250).toString(16)}`,
    dst_addr: '10.200.1.53',
    src_port: 40000 + offset,
    dst_port: 443,
    proto: 6,
    bytes: 1000 + offset,
    packets: 1 + (offset % 5),
    bytes_est: 1000 + offset,
    packets_est: 1 + (offset % 5),
    sampling_rate: 1,
    src_org: offset % 4 ? 'RR8' : 'RAE',
    dst_org: 'X26',
    service: 'nrs',
    direction: 'cross_supplier',
    kafka_topic: 'flows',
    kafka_partition: partition,
    kafka_offset: offset,
    ...(batchFirst === undefined ? {} : { kafka_batch_first: batchFirst }),
  };
}

/**
 * Kafka partitions 0 and 1 stored as the aggregator stores them: inserts of 40 offsets, each under
 * its token; partition 0's rows on two days (a message with rows on two days is such an insert),
 * partition 1's on one. Partition 2 as before migration 2: no first offset (unknown), never
 * re-sent by the repair.
 */
async function store(c: ClickHouseClient, batches = 4): Promise<void> {
  for (const partition of [0, 1]) {
    for (let b = 0; b < batches; b++) {
      const first = b * 40;
      const values = Array.from({ length: 40 }, (_, i) => row(partition, first + i, first));
      await c.insert({
        table: 'flows_raw',
        values,
        format: 'JSONEachRow',
        clickhouse_settings: dedupInsertSettings(`flows:${partition}:${first}`),
      });
    }
  }
  const old = Array.from({ length: 30 }, (_, i) => row(2, i, undefined));
  await c.insert({ table: 'flows_raw', values: old, format: 'JSONEachRow' });
}

/** A new database at schema version 3 (the old key) holding the rows of `store`. */
async function atVersion3(batches = 4): Promise<ClickHouseClient> {
  const c = await database();
  await migrate(c, V3, silentLogger);
  await store(c, batches);
  return c;
}

const stopped: MigrateOptions = { writersStopped: true };

describe('migration 4: flows_raw rebuilt ordered by time_received', () => {
  it('keeps every row of a database at version 3; the minute view still fills; a second run does nothing', async () => {
    const c = await atVersion3();
    expect(await sortingKey(c)).toBe(OLD_KEY);
    const before = await fingerprint(c);
    const rollups = await rollupSums(c);
    expect(before).toEqual([{ n: 350, h: expect.anything() }]);

    expect(await migrate(c, SCHEMA, silentLogger, undefined, stopped)).toEqual({ applied: [4], alreadyApplied: [1, 2, 3] });
    expect(await sortingKey(c)).toBe('time_received');
    expect(await fingerprint(c)).toEqual(before);
    expect(await rollupSums(c)).toEqual(rollups);
    expect(await tables(c)).toEqual(['flows_raw']);
    const ddl = String(
      await one(c, "SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'flows_raw'"),
    );
    expect(ddl).toContain('INDEX kafka_offset_minmax');
    expect(ddl).toMatch(/TTL toDateTime\(time_received\) \+ toIntervalDay\(7\)/);
    expect(ddl).toMatch(/non_replicated_deduplication_window = 10000/);

    // The view reading flows_raw follows the name through the exchange.
    await c.insert({ table: 'flows_raw', values: [row(0, 1000, 1000)], format: 'JSONEachRow' });
    expect(await rollupSums(c)).toEqual([{ flows: 351, bytes: expect.anything() }]);

    expect(await migrate(c, SCHEMA, silentLogger, undefined, stopped)).toEqual({ applied: [], alreadyApplied: [1, 2, 3, 4] });
  });

  it("keeps the tokens of each Kafka partition's last insert, which the replay repair re-sends, and no others", async () => {
    const c = await atVersion3();
    await migrate(c, SCHEMA, silentLogger, undefined, stopped);
    const before = await fingerprint(c);
    const rollups = await rollupSums(c);
    // What the aggregator's repair sends after a restart: the last stored insert of each partition.
    for (const partition of [0, 1]) {
      expect(await resendBatch(c, 'flows_raw', 'flows_raw', { topic: 'flows', partition, first: 120n, last: 159n })).toBe(40);
    }
    expect(await fingerprint(c)).toEqual(before);
    expect(await rollupSums(c)).toEqual(rollups);
    // The new table's deduplication log holds only those: an earlier insert re-sent is stored again
    // (in the raw table; the rollups' logs still know it), so the checks above can fail.
    await resendBatch(c, 'flows_raw', 'flows_raw', { topic: 'flows', partition: 0, first: 80n, last: 119n });
    await resendBatch(c, 'flows_raw', 'flows_raw', { topic: 'flows', partition: 1, first: 80n, last: 119n });
    expect(await one(c, 'SELECT count() FROM flows_raw')).toBe(430);
    expect(await rollupSums(c)).toEqual(rollups);
  });

  it('refuses rows it cannot know are safe: a service start on a server with rows stored', async () => {
    const c = await atVersion3(1);
    const before = await fingerprint(c);
    await expect(migrate(c, SCHEMA, silentLogger)).rejects.toThrow(/holds 110 rows .*Stop the aggregators, then run `flowwatch migrate`/);
    expect(await sortingKey(c)).toBe(OLD_KEY);
    expect(await fingerprint(c)).toEqual(before);
    expect(await one(c, 'SELECT groupArray(version) FROM flowwatch_schema_migrations')).not.toContain(4);
    expect(await tables(c)).toEqual(['flows_raw']);
  });

  it('rebuilds an empty table without being told writers are stopped (a new installation)', async () => {
    const c = await database();
    expect(await migrate(c, SCHEMA, silentLogger)).toEqual({ applied: [1, 2, 3, 4], alreadyApplied: [] });
    expect(await sortingKey(c)).toBe('time_received');
    expect(await tables(c)).toEqual(['flows_raw']);
  });

  it('starts again after a run cut short before its exchange, and finishes one cut short after it', async () => {
    const c = await atVersion3();
    const before = await fingerprint(c);
    // Cut short during the copy: a partial new table.
    await c.command({ query: 'CREATE TABLE flows_raw_next AS flows_raw' });
    await c.command({ query: 'INSERT INTO flows_raw_next SELECT * FROM flows_raw LIMIT 17' });
    await migrate(c, SCHEMA, silentLogger, undefined, stopped);
    expect(await fingerprint(c)).toEqual(before);
    expect(await tables(c)).toEqual(['flows_raw']);

    // Cut short after the exchange: the old table left as flows_raw_next, the migration unrecorded.
    const d = await atVersion3();
    const kept = await fingerprint(d);
    await d.command({
      query: 'CREATE TABLE flows_raw_next AS flows_raw ENGINE = MergeTree PARTITION BY toYYYYMMDD(time_received) ORDER BY time_received',
    });
    await d.command({ query: 'INSERT INTO flows_raw_next SELECT * FROM flows_raw' });
    await d.command({ query: 'EXCHANGE TABLES flows_raw AND flows_raw_next' });
    expect(await migrate(d, SCHEMA, silentLogger, undefined, stopped)).toEqual({ applied: [4], alreadyApplied: [1, 2, 3] });
    expect(await fingerprint(d)).toEqual(kept);
    expect(await tables(d)).toEqual(['flows_raw']);
  });

  it('completes when the old table still holds rows past their retention, which the new one drops', async () => {
    const c = await atVersion3();
    // Retention shortened to 1 day without materialising, as applyRetention does: the rows of two
    // days ago stay in the old table until a TTL merge.
    await c.command({
      query: 'ALTER TABLE flows_raw MODIFY TTL toDateTime(time_received) + INTERVAL 1 DAY',
      clickhouse_settings: { materialize_ttl_after_modify: 0 },
    });
    const old = Number(await one(c, `SELECT countIf(toDate(time_received) = '${DAYS[0]}') FROM flows_raw`));
    expect(old).toBeGreaterThan(0);
    await migrate(c, SCHEMA, silentLogger, undefined, stopped);
    expect(await sortingKey(c)).toBe('time_received');
    expect(await one(c, 'SELECT count() FROM flows_raw')).toBe(350 - old);
    expect(await tables(c)).toEqual(['flows_raw']);
  });

  it('gives up, changing nothing, when rows arrive during the copy (an aggregator still running)', async () => {
    const c = await atVersion3();
    const before = await fingerprint(c);
    // A writer that inserts while the rebuild copies its first partition.
    let wrote = false;
    const writing = new Proxy(c, {
      get(target, prop, receiver) {
        if (prop !== 'command') return Reflect.get(target, prop, receiver);
        return async (params: { query: string }) => {
          const result = await target.command(params as Parameters<ClickHouseClient['command']>[0]);
          if (!wrote && params.query.startsWith('INSERT INTO flows_raw_next')) {
            wrote = true;
            await target.insert({ table: 'flows_raw', values: [row(0, 5000, 5000)], format: 'JSONEachRow' });
          }
          return result;
        };
      },
    });
    await expect(migrate(writing, SCHEMA, silentLogger, undefined, stopped)).rejects.toThrow(
      /flows_raw received rows during its rebuild \(350 when the copy began, 351 now\)/,
    );
    expect(wrote).toBe(true);
    expect(await sortingKey(c)).toBe(OLD_KEY);
    expect(await tables(c)).toEqual(['flows_raw']);
    expect(await one(c, 'SELECT count() FROM flows_raw')).toBe(351);
    // With the writer gone, the next run completes.
    await migrate(c, SCHEMA, silentLogger, undefined, stopped);
    expect(await sortingKey(c)).toBe('time_received');
    expect(await one(c, 'SELECT count() FROM flows_raw')).toBe(351);
    expect(before).toEqual([{ n: 350, h: expect.anything() }]);
  });
});
