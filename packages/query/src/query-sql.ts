import type { ClickHouseClient } from '@flowwatch/clickhouse';
import type { QuerySettings } from './answer.js';
import {
  DIMENSIONS,
  type Dimension,
  FILTER_FIELDS,
  type FlowTable,
  METRIC_SQL,
  METRICS,
  type Metric,
  type MetricValues,
  type ValueType,
} from './fields.js';
import type { Filter } from './query-input.js';

/**
 * Pieces of SQL shared by the queries. Every fragment here is a constant or comes from the
 * whitelists in fields.ts; every value is a `{name:Type}` placeholder bound through `query_params`.
 */
export class SqlParams {
  readonly values: Record<string, unknown> = {};
  #n = 0;

  /** A placeholder for `value` as a ClickHouse `type` (a whitelisted type, never input). */
  add(type: string, value: unknown): string {
    const name = `p${this.#n++}`;
    this.values[name] = value;
    return `{${name}:${type}}`;
  }
}

export interface SqlQuery {
  sql: string;
  params: Record<string, unknown>;
}

const isRaw = (table: FlowTable) => table === 'flows_raw';

/** The half-open range [from, to) on the table's time column. */
export function timeRangeSql(table: FlowTable, from: Date, to: Date, p: SqlParams): string {
  if (isRaw(table)) {
    return `time_received >= fromUnixTimestamp64Milli(${p.add('Int64', from.getTime())}, 'UTC') AND time_received < fromUnixTimestamp64Milli(${p.add('Int64', to.getTime())}, 'UTC')`;
  }
  // Rollup rows are whole minutes or hours; the table is only chosen for aligned ranges.
  return `ts >= toDateTime(${p.add('UInt32', from.getTime() / 1000)}, 'UTC') AND ts < toDateTime(${p.add('UInt32', to.getTime() / 1000)}, 'UTC')`;
}

/** Start of the bucket holding the row, in seconds since the epoch (UTC; epoch-aligned). */
export function bucketSql(table: FlowTable, stepSeconds: number, p: SqlParams): string {
  const step = p.add('UInt32', stepSeconds);
  return `intDiv(toUnixTimestamp(${isRaw(table) ? 'time_received' : 'ts'}), ${step}) * ${step}`;
}

/** All filters, ANDed: each field matches any of its values; an either-side field matches either column. */
export function filtersSql(filters: readonly Filter[], p: SqlParams): string[] {
  return filters.map(({ field, values }) => {
    const def = FILTER_FIELDS[field];
    const terms: string[] = [];
    const eq = values.flatMap((v) => (v.kind === 'eq' ? [v.value] : []));
    if (eq.length > 0) {
      const param = eq.length === 1 ? p.add(def.type, eq[0]) : p.add(`Array(${def.type})`, eq);
      for (const column of def.columns) terms.push(eq.length === 1 ? `${column} = ${param}` : `${column} IN ${param}`);
    }
    for (const v of values) {
      if (v.kind !== 'prefix') continue;
      const range = `IPv6CIDRToRange(${p.add('IPv6', v.address)}, ${p.add('UInt8', v.bits)})`;
      for (const column of def.columns) terms.push(`${column} BETWEEN tupleElement(${range}, 1) AND tupleElement(${range}, 2)`);
    }
    return terms.length === 1 ? (terms[0] as string) : `(${terms.join(' OR ')})`;
  });
}

export function whereSql(table: FlowTable, from: Date, to: Date, filters: readonly Filter[], p: SqlParams, extra: string[] = []): string {
  return [timeRangeSql(table, from, to, p), ...filtersSql(filters, p), ...extra].join('\n  AND ');
}

/** The metrics asked for (every one by default), named as in `Metrics`. */
export function metricsSql(table: FlowTable, metrics: readonly Metric[] = METRICS): string {
  const m = METRIC_SQL[isRaw(table) ? 'raw' : 'rollup'];
  return metrics.map((k) => `${m[k]} AS ${k}`).join(', ');
}

/** Distinct-address counts cannot be added up across groups (sums can). */
export const DISTINCT_METRICS: readonly Metric[] = ['src_addrs', 'dst_addrs'];

export function metricSql(table: FlowTable, metric: Metric): string {
  return METRIC_SQL[isRaw(table) ? 'raw' : 'rollup'][metric];
}

/** Key columns of a dimension, each selected as `k0`, `k1`, ... */
export function keyColumns(dimension: Dimension): { name: string; column: string; type: ValueType }[] {
  return DIMENSIONS[dimension].parts.map(({ name, field }) => {
    const def = FILTER_FIELDS[field];
    return { name, column: def.columns[0] as string, type: def.type };
  });
}

/** Fields a dimension reads (for the table choice). */
export function dimensionFields(dimension: Dimension) {
  return DIMENSIONS[dimension].parts.map((part) => part.field);
}

/** The metrics asked for from a row (ClickHouse's JSON: 64-bit integers arrive as strings, the rest as numbers). */
export function toMetrics(row: Record<string, unknown>, metrics: readonly Metric[] = METRICS): MetricValues {
  const out: MetricValues = {};
  for (const k of metrics) out[k] = Number(row[k] ?? 0);
  return out;
}

/** Zero for each metric asked for. */
export function zeroMetrics(metrics: readonly Metric[] = METRICS): MetricValues {
  return Object.fromEntries(metrics.map((k) => [k, 0]));
}

type ClickHouseSettings = NonNullable<Parameters<ClickHouseClient['query']>[0]['clickhouse_settings']>;

/** Runs a query; `settings` are the caller's limits (QueryContext.settings), if any. */
export async function selectRows<T>(client: ClickHouseClient, q: SqlQuery, settings?: QuerySettings): Promise<T[]> {
  const rs = await client.query({
    query: q.sql,
    query_params: q.params,
    format: 'JSONEachRow',
    // Numbers, though the client types the 64-bit ones as strings: both engines take either.
    ...(settings ? { clickhouse_settings: settings as unknown as ClickHouseSettings } : {}),
  });
  return rs.json<T>();
}
