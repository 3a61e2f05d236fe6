import type { ClickHouseClient } from '@flowwatch/clickhouse';
import type { Answer, AnswerMeta, QueryContext } from './answer.js';
import {
  type Dimension,
  displayAddress,
  type FlowTable,
  METRICS,
  type Metric,
  type MetricValues,
  metricsWith,
  rawOnlyFields,
} from './fields.js';
import type { Filter, TopQuery } from './query-input.js';
import {
  DISTINCT_METRICS,
  dimensionFields,
  keyColumns,
  metricsSql,
  SqlParams,
  type SqlQuery,
  selectRows,
  toMetrics,
  whereSql,
} from './query-sql.js';
import { chooseTable } from './table-choice.js';

export interface TopRow extends MetricValues {
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
  totals: MetricValues;
}

/** What a top-N and the matrix share: a range, filters, the dimension to group by, an order and a limit. */
export interface RankedQuery {
  from: Date;
  to: Date;
  of: Dimension;
  metric: Metric;
  limit: number;
  where: Filter[];
  /** Metrics to compute (they include `metric`); every one when omitted. */
  metrics?: readonly Metric[] | undefined;
  table?: FlowTable | undefined;
}

function metricColumn(metric: Metric): string {
  if (!METRICS.includes(metric)) throw new Error(`not a metric: ${metric}`);
  return metric;
}

const askedMetrics = (q: Pick<RankedQuery, 'metric' | 'metrics'>): Metric[] => metricsWith(q.metric, q.metrics);

/** Whether the totals are sums of the keys' rows, so the top-N query can return them itself. */
export const totalsFromRows = (q: Pick<RankedQuery, 'metric' | 'metrics'>): boolean =>
  !askedMetrics(q).some((m) => DISTINCT_METRICS.includes(m));

/**
 * Keys with the asked metrics, the largest by `metric` first, and how many keys there are in all.
 * When no distinct count is asked, each row also carries the totals over all keys (`total_<metric>`,
 * window sums over the groups before the LIMIT), which saves `totalsSql`'s second scan.
 */
export function topSql(table: FlowTable, q: RankedQuery): SqlQuery {
  const keys = keyColumns(q.of);
  const aliases = keys.map((_, i) => `k${i}`).join(', ');
  const metrics = askedMetrics(q);
  const totals = totalsFromRows(q) ? metrics.map((m) => `, sum(${m}) OVER () AS total_${m}`).join('') : '';
  const p = new SqlParams();
  const sql = `SELECT ${aliases}, ${metrics.join(', ')}, count() OVER () AS keys${totals} FROM (
  SELECT ${keys.map((k, i) => `${k.column} AS k${i}`).join(', ')}, ${metricsSql(table, metrics)}
  FROM ${table}
  WHERE ${whereSql(table, q.from, q.to, q.where, p)}
  GROUP BY ${aliases}
) ORDER BY ${metricColumn(q.metric)} DESC, ${aliases} LIMIT ${p.add('UInt32', q.limit)}`;
  return { sql, params: p.values };
}

/** The asked metrics over everything the filters match. */
export function totalsSql(table: FlowTable, q: Omit<RankedQuery, 'of' | 'limit'>): SqlQuery {
  const p = new SqlParams();
  return {
    sql: `SELECT ${metricsSql(table, askedMetrics(q))} FROM ${table} WHERE ${whereSql(table, q.from, q.to, q.where, p)}`,
    params: p.values,
  };
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
  const metrics = askedMetrics(q);
  const fused = totalsFromRows(q);
  const [rows, totalRows] = await Promise.all([
    selectRows<Record<string, unknown>>(client, topSql(table, q), ctx.settings),
    fused ? undefined : selectRows<Record<string, unknown>>(client, totalsSql(table, q), ctx.settings),
  ]);
  // Fused: every row carries the totals; no row means nothing matched, so zeros.
  const totals = fused
    ? toMetrics(Object.fromEntries(metrics.map((m) => [m, rows[0]?.[`total_${m}`] ?? 0])), metrics)
    : toMetrics(totalRows?.[0] ?? {}, metrics);
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
        ...toMetrics(r, metrics),
      })),
      totals,
    },
  };
}

/** Top talkers (organisations, hosts), services, ports or pairs by a metric. */
export function topN(client: ClickHouseClient, q: TopQuery, ctx: QueryContext): Promise<Answer<TopResult>> {
  return ranked(client, q, ctx);
}
