import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createClient } from '@clickhouse/client';
import { type ClickHouseHandle, dedupInsertSettings, migrate, openClickHouse, SCHEMA } from '@flowwatch/clickhouse';
import { silentLogger } from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalClickHouse } from './local-clickhouse.js';

/**
 * flowwatch's server code path (`CLICKHOUSE_URL`, @clickhouse/client over HTTP) against chDB
 * behind the front, in a process of its own. About 15 s: most of it two front restarts.
 */
describe('local ClickHouse: chDB behind an HTTP front', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-local-ch-'));
  const front = new LocalClickHouse({ path: join(dir, 'ch') });
  let ch: ClickHouseHandle;
  const open = () =>
    openClickHouse({ url: front.url, username: 'default', password: '', database: 'fw_front', path: '', requestTimeoutMs: 20_000 });
  const one = async (query: string) =>
    Number(((await (await ch.client.query({ query, format: 'JSONEachRow' })).json<{ n: string }>())[0] as { n: string }).n);

  beforeAll(async () => {
    await front.start();
    ch = await open();
  }, 60_000);
  afterAll(async () => {
    await ch?.client.close();
    await front.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens the database in server mode and migrates the schema', async () => {
    expect(ch.mode).toBe('server');
    const result = await migrate(ch.client, SCHEMA, silentLogger);
    expect(result.applied.length).toBeGreaterThan(0);
    expect(
      await one(`SELECT count() AS n FROM system.tables WHERE database = 'fw_front' AND name IN ('flows_raw', 'flows_1m', 'flows_1h')`),
    ).toBe(3);
    // A second run finds everything applied.
    expect((await migrate(ch.client, SCHEMA, silentLogger)).applied).toEqual([]);
  });

  it('applies a setting to its own query only: a token does not outlive its insert', async () => {
    await ch.client.command({
      query: 'CREATE TABLE t (x UInt32) ENGINE = MergeTree ORDER BY x SETTINGS non_replicated_deduplication_window = 100',
    });
    const insert = (values: number[], token?: string) =>
      ch.client.insert({
        table: 't',
        values: values.map((x) => ({ x })),
        format: 'JSONEachRow',
        ...(token ? { clickhouse_settings: dedupInsertSettings(token) } : {}),
      });
    await insert([1, 2], 'a');
    await insert([1, 2], 'a'); // a retry of the same insert: dropped
    await insert([3, 4], 'b');
    await insert([5, 6]); // no token: on a sticky session it would reuse 'b' and be dropped
    expect(await one('SELECT count() AS n FROM t')).toBe(6);
    expect(await one('SELECT sum(x) AS n FROM t')).toBe(21);
  });

  it('binds query parameters from their text form, quotes and backslashes included', async () => {
    const rows = await (
      await ch.client.query({
        query: 'SELECT {s:String} AS s, {a:Array(String)} AS a, {n:UInt64} AS n, {ip:IPv6} AS ip, {p:UInt16} AS p',
        query_params: { s: "it's a \\ back\tslash", a: ["x'y", 'z\\w'], n: '18446744073709551615', ip: '::ffff:10.1.2.3', p: 443 },
        format: 'JSONEachRow',
      })
    ).json();
    expect(rows).toEqual([{ s: "it's a \\ back\tslash", a: ["x'y", 'z\\w'], n: '18446744073709551615', ip: '::ffff:10.1.2.3', p: 443 }]);
  });

  it('answers errors as the server does: code and type reach the client', async () => {
    await expect(ch.client.query({ query: 'SELECT * FROM no_such_table' })).rejects.toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' });
    await expect(
      ch.client.insert({ table: 't', values: Readable.from(['not a number\n'], { objectMode: false }), format: 'TabSeparated' }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^(6|27|72)$/) });
    const res = await fetch(`${front.url}/?query=${encodeURIComponent('SELECT throwIf(1)')}`);
    expect(res.status).toBe(500);
    expect(res.headers.get('x-clickhouse-exception-code')).toBe('395');
    expect(await res.text()).toMatch(/^Code: 395\. DB::Exception: /);
  });

  it('serves compressed requests and answers, pings, and client-wide settings', async () => {
    const client = createClient({
      url: front.url,
      database: 'fw_front',
      compression: { request: true, response: true },
      clickhouse_settings: { date_time_output_format: 'iso' },
    });
    try {
      expect((await client.ping()).success).toBe(true);
      await client.insert({ table: 't', values: [{ x: 7 }], format: 'JSONEachRow' });
      const rows = await (
        await client.query({ query: "SELECT sum(x) AS n, toDateTime('2026-11-21 10:00:00', 'UTC') AS t FROM t", format: 'JSONEachRow' })
      ).json();
      expect(rows).toEqual([{ n: '28', t: '2026-11-21T10:00:00Z' }]);
    } finally {
      await client.close();
    }
  });

  it('goes away and comes back on the same port with its data, after a stop and after a kill', async () => {
    const before = await one('SELECT count() AS n FROM t');
    await front.stop();
    expect((await ch.client.ping()).success).toBe(false);
    await expect(ch.client.query({ query: 'SELECT 1' })).rejects.toThrow(/ECONNREFUSED|socket hang up|ECONNRESET/);
    await front.start();
    expect(await one('SELECT count() AS n FROM t')).toBe(before);
    await ch.client.insert({ table: 't', values: [{ x: 8 }], format: 'JSONEachRow' });
    await front.kill();
    await front.start();
    expect(await one('SELECT count() AS n FROM t')).toBe(before + 1);
  }, 60_000);
});
