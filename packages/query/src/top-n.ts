import type { ClickHouseClient } from '@flowwatch/clickhouse';
import type { Answer, AnswerMeta, QueryContext } from './answer.js';
import { type Dimension, displayAddress, type FlowTable, METRICS, type Metric, type Metrics, rawOnlyFields } from './fields.js';
import type { Filter, TopQuery } from './query-input.js';
import { dimensionFields, keyColumns, metricsSql, SqlParams, type SqlQuery, selectRows, toMetrics, whereSql } from './query-sql.js';
import { chooseTable } from './table-choice.js';

export interface TopRow extends Metrics {
  /** The dimension's value(s) by name, e.g. { src_org: 'RR8', dst_org: 'RAE' }; addresses as written (IPv4 plain). */
  key: Record<string, string | number>;
}

export interface TopResult extends AnswerMeta {
  from: string;
  to: string;
  of: Dimension;
  metric: Metric;
  limit: number;
  /** Distinct keys with traffic in the range (rows has the first `limit`). */
  keys: number;
  /** The largest first; ties by key. */
  rows: TopRow[];
  /** Over everything the filters match, for shares. */
  totals: Metrics;
}

/** What a top-N and the matrix share: a range, filters, the dimension to group by, an order and a limit. */
export interface RankedQuery {
  from: Date;
  to: Date;
  of: Dimension;
  metric: Metric;
  limit: number;
  where: Filter[];
  table?: FlowTable | undefined;
}

function metricColumn(metric: Metric): string {
  if (!METRICS.includes(metric)) throw new Error(`not a metric: ${metric}`);
  return metric;
}

/** Keys with every metric, the largest by `metric` first, and how many keys there are in all. */
export function topSql(table: FlowTable, q: RankedQuery): SqlQuery {
  const keys = keyColumns(q.of);
  const aliases = keys.map((_, i) => `k${i}`).join(', ');
  const p = new SqlParams();
  const sql = `SELECT ${aliases}, ${[...METRICS].join(', ')}, count() OVER () AS keys FROM (
  SELECT ${keys.map((k, i) => `${k.column} AS k${i}`).join(', ')}, ${metricsSql(table)}
  FROM ${table}
  WHERE ${whereSql(table, q.from, q.to, q.where, p)}
  GROUP BY ${aliases}
) ORDER BY ${metricColumn(q.metric)} DESC, ${aliases} LIMIT ${p.add('UInt32', q.limit)}`;
  return { sql, params: p.values };
}

/** Every metric over everything the filters match. */
export function totalsSql(table: FlowTable, q: Omit<RankedQuery, 'of' | 'metric' | 'limit'>): SqlQuery {
  const p = new SqlParams();
  return { sql: `SELECT ${metricsSql(table)} FROM ${table} WHERE ${whereSql(table, q.from, q.to, q.where, p)}`, params: p.values };
}

/** A ranking of any dimension; `topN` and `orgMatrix` are this with their own input and output. */
export async function ranked(client: ClickHouseClient, q: RankedQuery, ctx: QueryContext): Promise<Answer<TopResult>> {
  const fields = [...q.where.map((f) => f.field), ...dimensionFields(q.of)];
  const choice = chooseTable(
    { from: q.from, to: q.to, stepSeconds: 0, rawOnlyFields: rawOnlyFields(fields), force: q.table },
    { retention: ctx.retention, now: ctx.now ?? new Date() },
  );
  if (!choice.ok) return { ok: false, reason: 'unanswerable', message: choice.message };
  const { table } = choice;
  const [rows, totals] = await Promise.all([
    selectRows<Record<string, unknown>>(client, topSql(table, q)),
    selectRows<Record<string, unknown>>(client, totalsSql(table, q)),
  ]);
  const keys = keyColumns(q.of);
  return {
    ok: true,
    result: {
      table,
      reason: choice.reason,
      notes: choice.notes,
      from: q.from.toISOString(),
      to: q.to.toISOString(),
      of: q.of,
      metric: q.metric,
      limit: q.limit,
      keys: Number(rows[0]?.keys ?? 0),
      rows: rows.map((r) => ({
        key: Object.fromEntries(
          keys.map((k, i) => {
            const v = r[`k${i}`];
            return [k.name, k.type === 'IPv6' ? displayAddress(String(v)) : typeof v === 'number' ? v : String(v)];
          }),
        ),
        ...toMetrics(r),
      })),
      totals: toMetrics(totals[0] ?? {}),
    },
  };
}

/** Top talkers (organisations, hosts), services, ports or pairs by a metric. */
export function topN(client: ClickHouseClient, q: TopQuery, ctx: QueryContext): Promise<Answer<TopResult>> {
  return ranked(client, q, ctx);
}
