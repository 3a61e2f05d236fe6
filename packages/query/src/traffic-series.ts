import type { ClickHouseClient } from '@flowwatch/clickhouse';
import { type Answer, type AnswerMeta, iso, type QueryContext } from './answer.js';
import { type Dimension, displayAddress, type FlowTable, type Metric, type MetricValues, rawOnlyFields } from './fields.js';
import type { TrafficQuery } from './query-input.js';
import {
  bucketSql,
  DISTINCT_METRICS,
  dimensionFields,
  keyColumns,
  metricSql,
  metricsSql,
  SqlParams,
  type SqlQuery,
  selectRows,
  toMetrics,
  whereSql,
  zeroMetrics,
} from './query-sql.js';
import { chooseTable } from './table-choice.js';

export interface TrafficPoint extends MetricValues {
  /** Bucket start, ISO-8601 UTC. */
  ts: string;
}

export interface TrafficSeries {
  /** The dimension's value; null for the total (no `by`) and for "other". Addresses as written (IPv4 plain). */
  key: string | number | null;
  kind: 'total' | 'key' | 'other';
  /** One point per bucket of the range, zeros where there was no traffic. */
  points: TrafficPoint[];
}

export interface TrafficSeriesResult extends AnswerMeta {
  from: string;
  to: string;
  interval: string;
  by: Dimension | null;
  rank: Metric;
  /** Distinct keys of `by` with traffic in the range. */
  keys: number;
  /** Keys beyond the top K: summed into the "other" series, or dropped (`rest`). */
  restKeys: number;
  rest: 'other' | 'drop';
  series: TrafficSeries[];
}

/** The ranking of `by` keys over the whole range: the top K by the ranking metric, largest first. */
export function trafficRankSql(table: FlowTable, q: TrafficQuery): SqlQuery {
  const key = seriesKey(q.by);
  const p = new SqlParams();
  const sql = `SELECT k0, m, count() OVER () AS keys FROM (
  SELECT ${key.column} AS k0, ${metricSql(table, q.rank)} AS m
  FROM ${table}
  WHERE ${whereSql(table, q.from, q.to, q.where, p)}
  GROUP BY k0
) ORDER BY m DESC, k0 ASC LIMIT ${p.add('UInt32', q.top)}`;
  return { sql, params: p.values };
}

/** Sums and distinct counts per bucket (and per top key, the rest as one NULL key or dropped). */
export function trafficSeriesSql(table: FlowTable, q: TrafficQuery, topKeys?: readonly unknown[]): SqlQuery {
  const p = new SqlParams();
  const bucket = bucketSql(table, q.interval.seconds, p);
  let keySql = '';
  const extra: string[] = [];
  if (q.by) {
    const key = seriesKey(q.by);
    const top = p.add(`Array(${key.type})`, topKeys ?? []);
    if (q.rest === 'drop') {
      keySql = `, ${key.column} AS k0`;
      extra.push(`${key.column} IN ${top}`);
    } else {
      keySql = `, if(${key.column} IN ${top}, ${key.column}, NULL) AS k0`;
    }
  }
  const sql = `SELECT ${bucket} AS bucket${keySql}, ${metricsSql(table, q.metrics)}
FROM ${table}
WHERE ${whereSql(table, q.from, q.to, q.where, p, extra)}
GROUP BY bucket${q.by ? ', k0' : ''}
ORDER BY bucket${q.by ? ', k0' : ''}`;
  return { sql, params: p.values };
}

/**
 * Whether one query can rank the keys and sum the series: only sums are asked and ranked by (distinct
 * counts can neither be re-added into "other" nor summed over buckets into a key's total).
 */
export const oneQuerySeries = (q: TrafficQuery): boolean =>
  q.by !== undefined && !DISTINCT_METRICS.includes(q.rank) && !q.metrics.some((m) => DISTINCT_METRICS.includes(m));

/**
 * Ranking and series in one scan, for sums only: per bucket and key, the key's total of the ranking
 * metric over the range (a window over the groups), its place (`dense_rank` by that total, then the
 * key, as `trafficRankSql` orders), and the number of keys. Keys placed beyond `top` become one NULL
 * key ("other") or are dropped. Each row carries `k0`, `place` (the key's; 0 for "other") and `keys`.
 */
export function trafficRankedSeriesSql(table: FlowTable, q: TrafficQuery): SqlQuery {
  const key = seriesKey(q.by);
  const p = new SqlParams();
  const bucket = bucketSql(table, q.interval.seconds, p);
  const top = p.add('UInt32', q.top);
  const sql = `SELECT b AS bucket, if(kr <= ${top}, kv, NULL) AS k0, if(kr <= ${top}, kr, 0) AS place,
  ${q.metrics.map((m) => `sum(v_${m}) AS ${m}`).join(', ')}, any(kn) AS keys
FROM (
  SELECT b, kv, ${q.metrics.map((m) => `v_${m}`).join(', ')},
    dense_rank() OVER (ORDER BY kt DESC, kv ASC) AS kr,
    count(DISTINCT kv) OVER () AS kn
  FROM (
    SELECT ${bucket} AS b, ${key.column} AS kv,
      ${q.metrics.map((m) => `${metricSql(table, m)} AS v_${m}`).join(', ')},
      sum(${metricSql(table, q.rank)}) OVER (PARTITION BY kv) AS kt
    FROM ${table}
    WHERE ${whereSql(table, q.from, q.to, q.where, p)}
    GROUP BY b, kv
  )
)${
    q.rest === 'drop'
      ? `
WHERE kr <= ${top}`
      : ''
  }
GROUP BY bucket, k0, place
ORDER BY bucket, place`;
  return { sql, params: p.values };
}

/** The one key column of a series dimension. */
function seriesKey(by: Dimension | undefined) {
  const keys = by ? keyColumns(by) : [];
  if (keys.length !== 1) throw new Error(`a series needs a dimension of one column, not ${by}`);
  return keys[0] as (typeof keys)[number];
}

/** Traffic over time, for one total or the top K keys of a dimension (the rest as "other" or dropped). */
export async function trafficSeries(client: ClickHouseClient, q: TrafficQuery, ctx: QueryContext): Promise<Answer<TrafficSeriesResult>> {
  const fields = [...q.where.map((f) => f.field), ...(q.by ? dimensionFields(q.by) : [])];
  const choice = chooseTable(
    { from: q.from, to: q.to, stepSeconds: q.interval.seconds, rawOnlyFields: rawOnlyFields(fields), force: q.table },
    { retention: ctx.retention, now: ctx.now ?? new Date() },
  );
  if (!choice.ok) return { ok: false, reason: 'unanswerable', message: choice.message };
  const { table } = choice;

  let topKeys: unknown[] = [];
  let keys = 0;
  let rows: (Record<string, unknown> & { bucket: number | string })[];
  if (oneQuerySeries(q)) {
    rows = await selectRows<Record<string, unknown> & { bucket: number | string; place: number | string; keys: number | string }>(
      client,
      trafficRankedSeriesSql(table, q),
      ctx.settings,
    );
    const places = new Map<number, unknown>();
    for (const row of rows) if (Number(row.place) > 0) places.set(Number(row.place), row.k0);
    topKeys = [...places].sort(([a], [b]) => a - b).map(([, k]) => k);
    keys = Number(rows[0]?.keys ?? 0);
  } else {
    if (q.by) {
      const ranked = await selectRows<{ k0: unknown; keys: number | string }>(client, trafficRankSql(table, q), ctx.settings);
      topKeys = ranked.map((r) => r.k0);
      keys = Number(ranked[0]?.keys ?? 0);
    }
    rows =
      q.by && topKeys.length === 0
        ? []
        : await selectRows<Record<string, unknown> & { bucket: number | string }>(
            client,
            trafficSeriesSql(table, q, topKeys),
            ctx.settings,
          );
  }

  const step = q.interval.seconds * 1000;
  const first = Math.floor(q.from.getTime() / step) * step;
  const bucketCount = Math.ceil(q.to.getTime() / step) - first / step;
  const emptyPoints = () =>
    Array.from({ length: bucketCount }, (_, i): TrafficPoint => ({ ts: iso(first + i * step), ...zeroMetrics(q.metrics) }));

  const isAddress = q.by ? seriesKey(q.by).type === 'IPv6' : false;
  const display = (k: unknown): string | number => (typeof k === 'number' ? k : isAddress ? displayAddress(String(k)) : String(k));
  const series = new Map<string, TrafficSeries>();
  if (!q.by) series.set('total', { key: null, kind: 'total', points: emptyPoints() });
  for (const k of topKeys) series.set(JSON.stringify(k), { key: display(k), kind: 'key', points: emptyPoints() });
  for (const row of rows) {
    const id = !q.by ? 'total' : row.k0 === null ? 'other' : JSON.stringify(row.k0);
    let s = series.get(id);
    if (!s && id === 'other') series.set(id, (s = { key: null, kind: 'other', points: emptyPoints() }));
    if (!s) throw new Error(`series query returned key ${id}, not among the top keys`);
    const i = (Number(row.bucket) * 1000 - first) / step;
    const point = s.points[i];
    if (!point) throw new Error(`bucket ${row.bucket} is outside the range`);
    Object.assign(point, toMetrics(row, q.metrics));
  }

  return {
    ok: true,
    result: {
      table,
      reason: choice.reason,
      notes: choice.notes,
      from: q.from.toISOString(),
      to: q.to.toISOString(),
      interval: q.interval.text,
      by: q.by ?? null,
      rank: q.rank,
      keys,
      restKeys: Math.max(0, keys - topKeys.length),
      rest: q.rest,
      series: [...series.values()],
    },
  };
}
