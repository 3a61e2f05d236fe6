import type { RawRow } from '@flowwatch/aggregator';
import { type ClickHouseHandle, migrate, SCHEMA } from '@flowwatch/clickhouse';
import { enrichedFlowRows, openTestClickHouse, rawRowTimeMs, silentLogger } from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Answer, QueryContext } from './answer.js';
import { FLOW_TABLES, type FlowTable, METRICS, type Metric, type Metrics } from './fields.js';
import { flowSearch } from './flow-search.js';
import { orgMatrix } from './org-matrix.js';
import { flowsQuerySchema, matrixQuerySchema, topQuerySchema, trafficQuerySchema } from './query-input.js';
import { topN } from './top-n.js';
import { oneQuerySeries, trafficSeries } from './traffic-series.js';

/**
 * Every query against flows_raw, flows_1m and flows_1h (forced) over the same hour-aligned range:
 * the answers must be identical, and equal to what this file computes from the rows it inserted.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// Recent enough for flows_raw's 7-day retention (rows older than their TTL may be dropped at any merge).
const BASE = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;
const FROM = new Date(BASE + HOUR);
const TO = new Date(BASE + 2 * DAY + 5 * HOUR);
const ctx: QueryContext = { retention: { rawDays: 7, minuteDays: 90, hourDays: 730 } };

type Row = RawRow & { ms: number };
let ch: ClickHouseHandle;
let rows: Row[];

beforeAll(async () => {
  ch = await openTestClickHouse();
  await migrate(ch.client, SCHEMA, silentLogger);
  const generated = enrichedFlowRows(4000, BASE, 2 * DAY + 6 * HOUR, 7);
  // Rows on the edges of the range, and rows received in the same millisecond (the flows order's tie-breaks).
  const at = (row: RawRow, ms: number, partition: number, offset: number): RawRow => ({
    ...row,
    time_received: new Date(ms).toISOString().slice(0, 23).replace('T', ' '),
    kafka_partition: partition,
    kafka_offset: String(offset),
  });
  const inNet3 = generated.find((r) => r.src_addr.startsWith('10.3.')) as RawRow;
  generated.push(
    at(generated[0] as RawRow, TO.getTime(), 0, 900_000),
    at(generated[1] as RawRow, FROM.getTime() - 1, 0, 900_001),
    at(inNet3, TO.getTime() - 10, 2, 900_002),
    at(inNet3, TO.getTime() - 10, 0, 900_003),
    at(inNet3, TO.getTime() - 10, 0, 900_004),
    at(inNet3, TO.getTime() - 10, 1, 900_005),
  );
  // Several inserts: several parts, so rollup rows of one key are not merged yet and queries must re-aggregate.
  for (let i = 0; i < generated.length; i += 1000) {
    await ch.client.insert({ table: 'flows_raw', values: generated.slice(i, i + 1000), format: 'JSONEachRow' });
  }
  rows = generated.map((r) => ({ ...r, ms: rawRowTimeMs(r.time_received) }));
}, 120_000);

afterAll(async () => {
  await ch?.client.close();
});

// The reference: computed here from the inserted rows, independently of the SQL.

function metricsOf(rs: readonly Row[]): Metrics {
  return {
    bytes: rs.reduce((a, r) => a + r.bytes, 0),
    packets: rs.reduce((a, r) => a + r.packets, 0),
    bytes_est: rs.reduce((a, r) => a + r.bytes_est, 0),
    packets_est: rs.reduce((a, r) => a + r.packets_est, 0),
    flows: rs.length,
    src_addrs: new Set(rs.map((r) => r.src_addr)).size,
    dst_addrs: new Set(rs.map((r) => r.dst_addr)).size,
  };
}

/** The metrics asked for, out of a full set. */
const only = (m: Partial<Metrics>, metrics: readonly Metric[]) => Object.fromEntries(metrics.map((k) => [k, m[k]]));

const inRange = (from: Date, to: Date) => (r: Row) => r.ms >= from.getTime() && r.ms < to.getTime();
const cmpKey = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);

function groupBy<K>(rs: readonly Row[], key: (r: Row) => K): Map<string, { key: K; rows: Row[] }> {
  const m = new Map<string, { key: K; rows: Row[] }>();
  for (const r of rs) {
    const k = key(r);
    const id = JSON.stringify(k);
    const g = m.get(id) ?? { key: k, rows: [] };
    g.rows.push(r);
    m.set(id, g);
  }
  return m;
}

function expectedSeries(opts: {
  from: Date;
  to: Date;
  step: number;
  match?: (r: Row) => boolean;
  by?: (r: Row) => string | number;
  top?: number;
  rank?: Metric;
  rest?: 'other' | 'drop';
}) {
  const rs = rows.filter(inRange(opts.from, opts.to)).filter(opts.match ?? (() => true));
  const stepMs = opts.step * 1000;
  const first = Math.floor(opts.from.getTime() / stepMs) * stepMs;
  const n = Math.ceil(opts.to.getTime() / stepMs) - first / stepMs;
  const points = (sel: readonly Row[]) =>
    Array.from({ length: n }, (_, i) => ({
      ts: new Date(first + i * stepMs).toISOString(),
      ...metricsOf(sel.filter((r) => Math.floor(r.ms / stepMs) === first / stepMs + i)),
    }));
  if (!opts.by) return { keys: 0, restKeys: 0, series: [{ key: null, kind: 'total', points: points(rs) }] };
  const by = opts.by;
  const groups = [...groupBy(rs, by).values()];
  const rank = opts.rank ?? 'bytes';
  groups.sort((a, b) => metricsOf(b.rows)[rank] - metricsOf(a.rows)[rank] || cmpKey(a.key, b.key));
  const top = groups.slice(0, opts.top ?? 10);
  const rest = groups.slice(top.length).flatMap((g) => g.rows);
  const series: { key: string | number | null; kind: string; points: ReturnType<typeof points> }[] = top.map((g) => ({
    key: g.key,
    kind: 'key',
    points: points(g.rows),
  }));
  if (rest.length > 0 && (opts.rest ?? 'other') === 'other') series.push({ key: null, kind: 'other', points: points(rest) });
  return { keys: groups.length, restKeys: groups.length - top.length, series };
}

function expectedTop(opts: {
  from: Date;
  to: Date;
  key: (r: Row) => Record<string, string | number>;
  metric: Metric;
  limit: number;
  match?: (r: Row) => boolean;
}) {
  const rs = rows.filter(inRange(opts.from, opts.to)).filter(opts.match ?? (() => true));
  const groups = [...groupBy(rs, opts.key).values()].map((g) => ({ key: g.key, ...metricsOf(g.rows) }));
  groups.sort((a, b) => {
    if (b[opts.metric] !== a[opts.metric]) return b[opts.metric] - a[opts.metric];
    for (const k of Object.keys(a.key)) {
      const c = cmpKey(a.key[k] as string | number, b.key[k] as string | number);
      if (c) return c;
    }
    return 0;
  });
  return { keys: groups.length, rows: groups.slice(0, opts.limit), totals: metricsOf(rs) };
}

/** Answers from each table, with what says which table answered taken out (it must be the only difference). */
async function fromEveryTable<T extends { table: FlowTable; reason: string; notes: string[] }>(
  tables: readonly FlowTable[],
  run: (table: FlowTable) => Promise<Answer<T>>,
): Promise<Omit<T, 'table' | 'reason' | 'notes'>[]> {
  const out: Omit<T, 'table' | 'reason' | 'notes'>[] = [];
  for (const table of tables) {
    const answer = await run(table);
    if (!answer.ok) throw new Error(`${table}: ${answer.message}`);
    const { table: answered, reason: _reason, notes, ...rest } = answer.result;
    expect(answered).toBe(table);
    expect(notes).toEqual([]);
    out.push(rest);
  }
  return out;
}

function expectAllEqual<T>(answers: T[]): T {
  const [first, ...others] = answers;
  for (const other of others) expect(other).toEqual(first);
  return first as T;
}

describe('the rows inserted', () => {
  it('are in all three tables, with equal sums (the rollups are complete)', async () => {
    const sums = async (table: string, flows: string) =>
      (
        await (
          await ch.client.query({
            query: `SELECT ${flows} AS flows, sum(bytes) AS bytes, sum(bytes_est) AS bytes_est FROM ${table}`,
            format: 'JSONEachRow',
          })
        ).json<Record<string, string>>()
      ).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)])))[0];
    const all = metricsOf(rows);
    const expected = { flows: all.flows, bytes: all.bytes, bytes_est: all.bytes_est };
    expect(await sums('flows_raw', 'count()')).toEqual(expected);
    expect(await sums('flows_1m', 'sum(flows)')).toEqual(expected);
    expect(await sums('flows_1h', 'sum(flows)')).toEqual(expected);
    // The range leaves rows out at both ends, and has rows exactly on its bounds.
    expect(rows.filter(inRange(FROM, TO)).length).toBeLessThan(rows.length);
    expect(rows.some((r) => r.ms === FROM.getTime())).toBe(true);
    expect(rows.some((r) => r.ms === TO.getTime() - 1)).toBe(true);
    expect(rows.some((r) => r.ms === TO.getTime())).toBe(true);
  });
});

describe('traffic time series', () => {
  const cases: {
    name: string;
    input: Record<string, unknown>;
    step: number;
    match?: (r: Row) => boolean;
    by?: (r: Row) => string | number;
    top?: number;
    rank?: Metric;
    rest?: 'other' | 'drop';
  }[] = [
    { name: 'total per hour', input: { interval: '1h' }, step: 3600 },
    { name: 'total per day (partial first and last day)', input: { interval: '1d' }, step: 86_400 },
    {
      name: 'by src_org, top 3 and the rest as other, every 6 hours',
      input: { interval: '6h', by: 'src_org', top: 3 },
      step: 21_600,
      by: (r) => r.src_org,
      top: 3,
    },
    {
      name: 'by dst_port, top 4 by flows, rest dropped',
      input: { interval: '2h', by: 'dst_port', top: 4, rank: 'flows', rest: 'drop' },
      step: 7200,
      by: (r) => r.dst_port,
      top: 4,
      rank: 'flows',
      rest: 'drop',
    },
    {
      name: 'by supplier, filtered on direction and an organisation on either end',
      input: { interval: '1h', by: 'supplier', where: ['direction=cross_supplier', 'direction=cross_org', 'org=RR8'] },
      step: 3600,
      by: (r) => r.supplier_id,
      match: (r) => ['cross_supplier', 'cross_org'].includes(r.direction) && (r.src_org === 'RR8' || r.dst_org === 'RR8'),
    },
    {
      name: 'by service, ranked by distinct sources, for one supplier and proto by name',
      input: { interval: '3h', by: 'service', rank: 'src_addrs', where: ['supplier_id=sup-b', 'proto=tcp'] },
      step: 10_800,
      by: (r) => r.service,
      rank: 'src_addrs',
      match: (r) => r.supplier_id === 'sup-b' && r.proto === 6,
    },
  ];

  it.each(cases)('$name: raw, 1m and 1h answer the same, and what the rows say', async (c) => {
    const q = trafficQuerySchema.parse({ from: FROM.toISOString(), to: TO.toISOString(), ...c.input });
    const answers = await fromEveryTable(FLOW_TABLES, (table) => trafficSeries(ch.client, { ...q, table }, ctx));
    const answer = expectAllEqual(answers);
    const expected = expectedSeries({ from: FROM, to: TO, ...c });
    expect(answer.series).toEqual(expected.series);
    expect({ keys: answer.keys, restKeys: answer.restKeys }).toEqual({ keys: expected.keys, restKeys: expected.restKeys });
    expect(answer.series.some((s) => s.points.some((p) => (p.flows ?? 0) > 0))).toBe(true);
  });

  // The dashboard asks for the sums it shows only: ranking and series then come from one query
  // (trafficRankedSeriesSql) unless the ranking metric is a distinct count.
  const SUMS = ['bytes', 'bytes_est', 'flows'] as const;
  it.each(cases)('$name, sums only: the same answer as with every metric, restricted to the sums', async (c) => {
    const q = trafficQuerySchema.parse({ from: FROM.toISOString(), to: TO.toISOString(), ...c.input, metrics: SUMS.join(',') });
    expect(q.metrics).toEqual(SUMS);
    expect(oneQuerySeries(q)).toBe(c.input.by !== undefined && c.rank !== 'src_addrs');
    const answer = expectAllEqual(await fromEveryTable(FLOW_TABLES, (table) => trafficSeries(ch.client, { ...q, table }, ctx)));
    const expected = expectedSeries({ from: FROM, to: TO, ...c });
    expect(answer.series).toEqual(expected.series.map((s) => ({ ...s, points: s.points.map((pt) => ({ ts: pt.ts, ...only(pt, SUMS) })) })));
    expect({ keys: answer.keys, restKeys: answer.restKeys }).toEqual({ keys: expected.keys, restKeys: expected.restKeys });
  });

  it('an empty range: no series for a dimension, zeros for the total, in one query or two', async () => {
    const empty = { from: new Date(BASE - 10 * DAY).toISOString(), to: new Date(BASE - 9 * DAY).toISOString(), interval: '1d' };
    for (const metrics of ['bytes', undefined]) {
      const keyed = await trafficSeries(ch.client, trafficQuerySchema.parse({ ...empty, by: 'src_org', metrics }), ctx);
      expect(keyed.ok && { keys: keyed.result.keys, series: keyed.result.series }).toEqual({ keys: 0, series: [] });
    }
  });

  it('5-minute buckets: raw and 1m agree; 1h cannot answer and says why', async () => {
    const from = new Date(BASE + DAY + 7 * HOUR + 5 * 60_000);
    const to = new Date(from.getTime() + 3 * HOUR);
    const q = trafficQuerySchema.parse({ from: from.toISOString(), to: to.toISOString(), interval: '5m', by: 'dst_org', top: 5 });
    const answer = expectAllEqual(
      await fromEveryTable(['flows_raw', 'flows_1m'], (table) => trafficSeries(ch.client, { ...q, table }, ctx)),
    );
    expect(answer.series).toEqual(expectedSeries({ from, to, step: 300, by: (r) => r.dst_org, top: 5 }).series);
    const refused = await trafficSeries(ch.client, { ...q, table: 'flows_1h' }, ctx);
    expect(refused).toEqual({ ok: false, reason: 'unanswerable', message: expect.stringMatching(/flows_1h cannot answer.*whole hours/) });
  });

  it('a range that is not minute-aligned is answered from flows_raw, to the millisecond', async () => {
    const from = new Date(BASE + 10 * HOUR + 12_345);
    const to = new Date(BASE + 20 * HOUR - 1);
    const q = trafficQuerySchema.parse({ from: from.toISOString(), to: to.toISOString(), interval: '1h', by: 'direction' });
    const answer = await trafficSeries(ch.client, q, ctx);
    if (!answer.ok) throw new Error(answer.message);
    expect(answer.result.table).toBe('flows_raw');
    expect(answer.result.series).toEqual(expectedSeries({ from, to, step: 3600, by: (r) => r.direction }).series);
  });

  it('picks the coarsest table by itself', async () => {
    const table = async (input: Record<string, unknown>) => {
      const a = await trafficSeries(ch.client, trafficQuerySchema.parse({ from: FROM.toISOString(), to: TO.toISOString(), ...input }), ctx);
      return a.ok ? a.result.table : a.message;
    };
    expect(await table({ interval: '1h', by: 'src_org' })).toBe('flows_1h');
    expect(await table({ interval: '1d' })).toBe('flows_1h');
    expect(await table({ interval: '30m' })).toBe('flows_1m');
    expect(await table({ interval: '1h', where: ['src_addr=10.1.0.0/16'] })).toBe('flows_raw');
    expect(await table({ interval: '1h', by: 'src_addr' })).toBe('flows_raw');
  });
});

describe('top-N', () => {
  const cases: {
    of: string;
    metric: Metric;
    limit: number;
    key: (r: Row) => Record<string, string | number>;
    tables: readonly FlowTable[];
  }[] = [
    { of: 'src_org', metric: 'bytes', limit: 5, key: (r) => ({ src_org: r.src_org }), tables: FLOW_TABLES },
    { of: 'dst_org', metric: 'flows', limit: 3, key: (r) => ({ dst_org: r.dst_org }), tables: FLOW_TABLES },
    { of: 'service', metric: 'bytes_est', limit: 10, key: (r) => ({ service: r.service }), tables: FLOW_TABLES },
    { of: 'dst_port', metric: 'packets', limit: 4, key: (r) => ({ dst_port: r.dst_port }), tables: FLOW_TABLES },
    { of: 'org_pair', metric: 'bytes', limit: 15, key: (r) => ({ src_org: r.src_org, dst_org: r.dst_org }), tables: FLOW_TABLES },
    { of: 'supplier', metric: 'dst_addrs', limit: 10, key: (r) => ({ supplier: r.supplier_id }), tables: FLOW_TABLES },
    { of: 'src_addr', metric: 'bytes', limit: 10, key: (r) => ({ src_addr: r.src_addr }), tables: ['flows_raw'] },
    {
      of: 'host_pair',
      metric: 'packets_est',
      limit: 10,
      key: (r) => ({ src_addr: r.src_addr, dst_addr: r.dst_addr }),
      tables: ['flows_raw'],
    },
  ];

  it.each(cases)('of $of by $metric: every table that can answer agrees with the rows', async (c) => {
    const q = topQuerySchema.parse({ from: FROM.toISOString(), to: TO.toISOString(), of: c.of, metric: c.metric, limit: c.limit });
    const answer = expectAllEqual(await fromEveryTable(c.tables, (table) => topN(ch.client, { ...q, table }, ctx)));
    const expected = expectedTop({ from: FROM, to: TO, key: c.key, metric: c.metric, limit: c.limit });
    expect(answer.rows).toEqual(expected.rows);
    expect(answer.keys).toBe(expected.keys);
    expect(answer.totals).toEqual(expected.totals);
  });

  it.each(cases)('of $of by $metric, asking for two sums only: the same rows and totals, restricted', async (c) => {
    const metrics = ['packets', 'flows'] as const;
    const q = topQuerySchema.parse({
      from: FROM.toISOString(),
      to: TO.toISOString(),
      of: c.of,
      metric: c.metric,
      limit: c.limit,
      metrics: metrics.join(','),
    });
    const asked = METRICS.filter((m) => m === c.metric || (metrics as readonly string[]).includes(m));
    expect(q.metrics).toEqual(asked);
    const answer = expectAllEqual(await fromEveryTable(c.tables, (table) => topN(ch.client, { ...q, table }, ctx)));
    const expected = expectedTop({ from: FROM, to: TO, key: c.key, metric: c.metric, limit: c.limit });
    expect(answer.rows).toEqual(expected.rows.map((r) => ({ key: r.key, ...only(r, asked) })));
    expect(answer.keys).toBe(expected.keys);
    expect(answer.totals).toEqual(only(expected.totals, asked));
  });

  it('totals of a range with no traffic are zeros, with or without the distinct counts', async () => {
    const empty = { from: new Date(BASE - 10 * DAY).toISOString(), to: new Date(BASE - 9 * DAY).toISOString(), of: 'src_org' };
    for (const metrics of ['bytes', undefined]) {
      const a = await topN(ch.client, topQuerySchema.parse({ ...empty, metrics }), ctx);
      expect(a.ok && { rows: a.result.rows, totals: a.result.totals }).toEqual({
        rows: [],
        totals: Object.fromEntries((metrics ? ['bytes'] : METRICS).map((m) => [m, 0])),
      });
    }
  });

  it('host-level questions refuse a rollup, saying why', async () => {
    const q = topQuerySchema.parse({ from: FROM.toISOString(), to: TO.toISOString(), of: 'dst_addr' });
    expect(await topN(ch.client, { ...q, table: 'flows_1m' }, ctx)).toEqual({
      ok: false,
      reason: 'unanswerable',
      message: 'table flows_1m cannot answer this: dst_addr is not in the rollups',
    });
    const auto = await topN(ch.client, q, ctx);
    expect(auto.ok && auto.result.table).toBe('flows_raw');
  });
});

describe('organisation matrix', () => {
  it.each([
    ['org', (r: Row) => ({ src: r.src_org, dst: r.dst_org })],
    ['supplier', (r: Row) => ({ src: r.src_org_supplier, dst: r.dst_org_supplier })],
  ] as const)('at %s level: the same from every table, and the sums of the rows', async (level, pair) => {
    const q = matrixQuerySchema.parse({ from: FROM.toISOString(), to: TO.toISOString(), level, limit: 20 });
    const answer = expectAllEqual(await fromEveryTable(FLOW_TABLES, (table) => orgMatrix(ch.client, { ...q, table }, ctx)));
    const expected = expectedTop({ from: FROM, to: TO, key: pair, metric: 'bytes', limit: 20 });
    expect(answer.cells).toEqual(expected.rows.map(({ key, ...m }) => ({ ...key, ...m })));
    expect({ pairs: answer.pairs, truncated: answer.truncated, totals: answer.totals }).toEqual({
      pairs: expected.keys,
      truncated: expected.keys > 20,
      totals: expected.totals,
    });
  });
});

describe('flows search', () => {
  const ipv4In = (addr: string, net: string, bits: number) => {
    const n = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(addr)) return false;
    const size = 2 ** (32 - bits);
    return Math.floor(n(addr) / size) === Math.floor(n(net) / size);
  };
  const newestFirst = (a: Row, b: Row) =>
    b.ms - a.ms ||
    cmpKey(a.kafka_topic, b.kafka_topic) ||
    a.kafka_partition - b.kafka_partition ||
    Number(b.kafka_offset) - Number(a.kafka_offset);
  const asFlow = (r: Row) => {
    // kafka_batch_first is bookkeeping for exactly-once inserts, not part of a flow.
    const { ms: _ms, kafka_batch_first: _batch, ...rest } = r;
    return {
      ...rest,
      time_received: new Date(r.ms).toISOString(),
      time_flow_start: new Date(rawRowTimeMs(r.time_flow_start)).toISOString(),
      time_flow_end: new Date(rawRowTimeMs(r.time_flow_end)).toISOString(),
    };
  };

  it.each([
    { where: ['src_addr=10.3.0.0/16'], match: (r: Row) => ipv4In(r.src_addr, '10.3.0.0', 16), limit: 25 },
    {
      where: ['dst_addr=10.200.0.0/16', 'dst_port=443'],
      match: (r: Row) => ipv4In(r.dst_addr, '10.200.0.0', 16) && r.dst_port === 443,
      limit: 40,
    },
    { where: ['addr=10.5.1.12'], match: (r: Row) => r.src_addr === '10.5.1.12' || r.dst_addr === '10.5.1.12', limit: 1000 },
    { where: ['src_addr=2001:db8::/32'], match: (r: Row) => r.src_addr.startsWith('2001:db8:'), limit: 30 },
    {
      where: ['direction=from_internet', 'proto=icmp', 'exporter_id=sup-c-r1', 'exporter_id=sup-b-r2'],
      match: (r: Row) => r.direction === 'from_internet' && r.proto === 1 && ['sup-c-r1', 'sup-b-r2'].includes(r.exporter_id),
      limit: 1000,
    },
  ])('where $where: newest first, addresses as written, every field as stored', async ({ where, match, limit }) => {
    const q = flowsQuerySchema.parse({ from: FROM.toISOString(), to: TO.toISOString(), where, limit });
    const answer = await flowSearch(ch.client, q, ctx);
    if (!answer.ok) throw new Error(answer.message);
    const all = rows.filter(inRange(FROM, TO)).filter(match).sort(newestFirst);
    expect(all.length).toBeGreaterThan(0);
    expect(answer.result.table).toBe('flows_raw');
    expect(answer.result.flows).toEqual(all.slice(0, limit).map(asFlow));
    expect(answer.result.truncated).toBe(all.length > limit);
  });

  it('binds hostile values as data', async () => {
    const q = flowsQuerySchema.parse({
      from: FROM.toISOString(),
      to: TO.toISOString(),
      where: ["src_org=RR8' OR 1=1 --", "service=\\'; DROP TABLE flows_raw; --", 'next_hop=\t\n{p0:String}'],
    });
    const answer = await flowSearch(ch.client, q, ctx);
    expect(answer.ok && answer.result.flows).toEqual([]);
    const [count] = await (await ch.client.query({ query: 'SELECT count() AS n FROM flows_raw', format: 'JSONEachRow' })).json<{
      n: string;
    }>();
    expect(Number(count?.n)).toBe(rows.length);
  });
});

describe('retention', () => {
  // Seen from 30 days later, flows_raw (7 days) no longer holds the range; the rollups still do.
  const later: QueryContext = { ...ctx, now: new Date(Date.now() + 30 * DAY) };

  it('an aligned question moves to a rollup that still holds the range', async () => {
    const q = trafficQuerySchema.parse({ from: FROM.toISOString(), to: TO.toISOString(), interval: '1h', by: 'src_org' });
    const now = await trafficSeries(ch.client, q, ctx);
    const then = await trafficSeries(ch.client, q, later);
    expect(then.ok && then.result.table).toBe('flows_1h');
    expect(then.ok && then.result.series).toEqual(now.ok && now.result.series);
  });

  it('a question only flows_raw could answer is refused, not answered with zeros', async () => {
    const q = trafficQuerySchema.parse({ from: new Date(FROM.getTime() + 30_000).toISOString(), to: TO.toISOString(), interval: '1h' });
    const refused = await trafficSeries(ch.client, q, later);
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.message).toMatch(
      /older than flows_raw keeps \(7 days.*flows_1m keeps it but cannot answer: from and to must be whole minutes/,
    );
    const flows = await flowSearch(ch.client, flowsQuerySchema.parse({ from: FROM.toISOString(), to: TO.toISOString() }), later);
    expect(!flows.ok && flows.message).toMatch(/older than flows_raw keeps.*individual flows is not in the rollups/);
  });

  it('a forced table answers, with a note that the start may have expired', async () => {
    const q = topQuerySchema.parse({ from: FROM.toISOString(), to: TO.toISOString(), of: 'src_org', table: 'flows_raw' });
    const answer = await topN(ch.client, q, later);
    expect(answer.ok && answer.result.notes).toEqual([expect.stringMatching(/^flows_raw keeps 7 days: data before .* may have expired/)]);
  });
});

describe('distinct address counts', () => {
  it('uniq over raw rows equals uniqMerge of the rollup states, and the exact count for these sizes', async () => {
    // Over the whole range at once: the largest sets in this data.
    const q = topQuerySchema.parse({ from: FROM.toISOString(), to: TO.toISOString(), of: 'direction', limit: 10 });
    const [raw, m1, h1] = await fromEveryTable(FLOW_TABLES, (table) => topN(ch.client, { ...q, table }, ctx));
    expect(m1?.totals).toEqual(raw?.totals);
    expect(h1?.totals).toEqual(raw?.totals);
    const inRangeRows = rows.filter(inRange(FROM, TO));
    expect(raw?.totals.src_addrs).toBe(new Set(inRangeRows.map((r) => r.src_addr)).size);
    expect(raw?.totals.dst_addrs).toBe(new Set(inRangeRows.map((r) => r.dst_addr)).size);
    expect(METRICS.length).toBe(7);
  });
});
