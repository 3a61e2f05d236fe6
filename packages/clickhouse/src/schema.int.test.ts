import { dayStartAgo, openTestClickHouse, silentLogger } from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dedupInsertSettings } from './batches.js';
import type { ClickHouseHandle } from './client.js';
import { migrate } from './migrations.js';
import { applyRetention, SCHEMA } from './schema.js';

let ch: ClickHouseHandle;
beforeAll(async () => {
  ch = await openTestClickHouse();
  await migrate(ch.client, SCHEMA, silentLogger);
});
afterAll(async () => {
  await ch.client.close();
});

const q = async <T>(query: string) => (await ch.client.query({ query, format: 'JSONEachRow' })).json<T>();

// Yesterday, UTC (flows_raw drops rows past its retention at insert).
const DAY = new Date(dayStartAgo(1)).toISOString().slice(0, 10);

function row(i: number, minute: number, extra: Record<string, unknown> = {}) {
  return {
    time_received: `${DAY} 10:${String(minute).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.000`,
    time_flow_start: `${DAY} 09:59:00.000`,
    time_flow_end: `${DAY} 10:00:00.000`,
    type: 'IPFIX',
    supplier_id: 'supplier-a',
    exporter_id: 'r1',
    src_addr: i % 2 ? `10.0.0.${i % 250}` : `2001:db8::${(i % 250).toString(16)}`,
    dst_addr: '10.200.1.53',
    src_port: 40000 + i,
    dst_port: 443,
    proto: 6,
    bytes: 1000 + i,
    packets: 1 + (i % 5),
    bytes_est: (1000 + i) * 10,
    packets_est: (1 + (i % 5)) * 10,
    sampling_rate: 10,
    src_org: i % 3 ? 'RR8' : 'RAE',
    dst_org: '',
    src_org_supplier: 'supplier-b',
    service: 'nrs',
    direction: 'cross_supplier',
    kafka_topic: 'flows',
    kafka_partition: 0,
    kafka_offset: i,
    ...extra,
  };
}

describe('flow schema', () => {
  it('stores a retried batch once, in the raw table and in both rollups', async () => {
    const batch = Array.from({ length: 200 }, (_, i) => row(i, i < 100 ? 0 : 1));
    for (let attempt = 0; attempt < 3; attempt++) {
      await ch.client.insert({
        table: 'flows_raw',
        values: batch,
        format: 'JSONEachRow',
        clickhouse_settings: dedupInsertSettings('flows-0-0-199'),
      });
    }
    await ch.client.insert({
      table: 'flows_raw',
      values: [row(500, 59)],
      format: 'JSONEachRow',
      clickhouse_settings: dedupInsertSettings('flows-0-500-500'),
    });

    const [raw] = await q<{ n: string; bytes: string; packets: string; est: string }>(
      'SELECT count() AS n, sum(bytes) AS bytes, sum(packets) AS packets, sum(bytes_est) AS est FROM flows_raw',
    );
    expect(Number(raw?.n)).toBe(201);
    for (const table of ['flows_1m', 'flows_1h']) {
      const [r] = await q<{ n: string; bytes: string; packets: string; est: string }>(
        `SELECT sum(flows) AS n, sum(bytes) AS bytes, sum(packets) AS packets, sum(bytes_est) AS est FROM ${table}`,
      );
      expect({ table, ...r }).toEqual({ table, ...raw });
    }
    // Per-minute rows and distinct sources agree with the raw table.
    const byMinuteRaw = await q<{ ts: string; org: string; n: string; srcs: string }>(
      'SELECT toStartOfMinute(time_received) AS ts, src_org AS org, count() AS n, uniq(src_addr) AS srcs FROM flows_raw GROUP BY ts, org ORDER BY ts, org',
    );
    const byMinuteRollup = await q<{ ts: string; org: string; n: string; srcs: string }>(
      'SELECT ts, src_org AS org, sum(flows) AS n, uniqMerge(src_addrs) AS srcs FROM flows_1m GROUP BY ts, org ORDER BY ts, org',
    );
    expect(byMinuteRollup.map((r) => [r.org, Number(r.n), Number(r.srcs)])).toEqual(
      byMinuteRaw.map((r) => [r.org, Number(r.n), Number(r.srcs)]),
    );
    // IPv4 sources are stored as IPv4-mapped IPv6 and read back as such.
    const [v4] = await q<{ a: string }>('SELECT toString(src_addr) AS a FROM flows_raw WHERE kafka_offset = 1');
    expect(v4?.a).toBe('::ffff:10.0.0.1');
  });

  it('retention is configuration: applied at start, idempotently', async () => {
    await applyRetention(ch.client, { rawDays: 3, minuteDays: 30, hourDays: 365 });
    await applyRetention(ch.client, { rawDays: 3, minuteDays: 30, hourDays: 365 });
    const tables = await q<{ name: string; create_table_query: string }>(
      "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase() AND name IN ('flows_raw', 'flows_1m', 'flows_1h') ORDER BY name",
    );
    const ttl = Object.fromEntries(tables.map((t) => [t.name, /TTL (.*?) (SETTINGS|$)/.exec(t.create_table_query)?.[1]]));
    expect(ttl).toEqual({
      flows_1h: 'ts + toIntervalDay(365)',
      flows_1m: 'ts + toIntervalDay(30)',
      flows_raw: 'toDateTime(time_received) + toIntervalDay(3)',
    });
    await expect(applyRetention(ch.client, { rawDays: 0, minuteDays: 1, hourDays: 1 })).rejects.toThrow(/out of range/);
  });
});
