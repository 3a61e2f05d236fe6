import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import {
  DIMENSIONS,
  type Dimension,
  FIELD_ALIASES,
  FILTER_FIELDS,
  type FilterField,
  FLOW_TABLES,
  METRICS,
  type Metric,
  metricsWith,
  PROTOCOLS,
  SERIES_DIMENSIONS,
  type ValueType,
} from './fields.js';

/**
 * What one query may ask for. The bounds keep one answer small enough to hold in memory and
 * render (and one ClickHouse query short); docs/storage.md, "Queries", explains each.
 */
export const QUERY_LIMITS = {
  /** Longest range of a time series, top-N or matrix: the 1-hour rollup's default retention. */
  maxRangeDays: 731,
  /** Longest range of a flows search (flows_raw keeps 7 days by default). */
  maxFlowsRangeDays: 31,
  /** Buckets of one time series. 1m over 2 days, 5m over a week, 1h over 120 days. */
  maxBuckets: 3000,
  /** Series of one time series (top K by the ranking metric), not counting "other". */
  maxSeries: 50,
  /** Points of one time series answer: buckets x series (+1 for "other"). */
  maxPoints: 100_000,
  /** Rows of a top-N. */
  maxTop: 1000,
  /** Cells of an organisation matrix. */
  maxMatrixCells: 10_000,
  /** Flows of a flows search. */
  maxFlows: 10_000,
  /** `where` terms of one query. */
  maxFilters: 32,
  /** Length of one string value in a filter. */
  maxValueLength: 256,
} as const;

/** An instant: ISO-8601 with Z or an offset (seconds and fractions optional), or a date (midnight UTC). */
const INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;
const instant = (description: string) =>
  z
    .string()
    .transform((s, ctx) => {
      const ms = INSTANT.test(s) ? Date.parse(s) : Number.NaN;
      if (Number.isNaN(ms)) {
        ctx.addIssue({ code: 'custom', message: `'${s}' is not an ISO-8601 time with Z or an offset (e.g. 2026-11-21T10:00:00Z)` });
        return z.NEVER;
      }
      return new Date(ms);
    })
    .describe(description);

export interface Interval {
  /** As written: 5m, 1h, 1d. */
  text: string;
  seconds: number;
}

/**
 * Intervals whose buckets fall on UTC clock boundaries: N minutes with N dividing 60, N hours with
 * N dividing 24, or one day. Buckets are aligned to the Unix epoch, which these all divide.
 */
export function parseInterval(text: string): Interval | undefined {
  const m = /^([1-9]\d{0,2})([mhd])$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] as 'm' | 'h' | 'd';
  const ok = unit === 'm' ? 60 % n === 0 : unit === 'h' ? 24 % n === 0 : n === 1;
  return ok ? { text, seconds: n * { m: 60, h: 3600, d: 86_400 }[unit] } : undefined;
}

const interval = z
  .string()
  .transform((s, ctx) => {
    const parsed = parseInterval(s);
    if (!parsed) {
      ctx.addIssue({ code: 'custom', message: `'${s}': use Nm (N divides 60), Nh (N divides 24) or 1d, e.g. 1m, 5m, 1h, 1d` });
      return z.NEVER;
    }
    return parsed;
  })
  .describe('Bucket width; omitted: the finest of 1m, 5m, 15m, 1h, 6h, 1d giving at most 500 buckets');

const AUTO_INTERVALS = ['1m', '5m', '15m', '1h', '6h', '1d'].map((s) => parseInterval(s) as Interval);

/** The finest of the usual intervals that gives at most 500 buckets over the range. */
export function autoInterval(from: Date, to: Date): Interval {
  const span = (to.getTime() - from.getTime()) / 1000;
  return AUTO_INTERVALS.find((i) => span / i.seconds <= 500) ?? (AUTO_INTERVALS.at(-1) as Interval);
}

/** Number of buckets the range touches at this interval (the first and last may be partial). */
export function bucketCount(from: Date, to: Date, seconds: number): number {
  const step = seconds * 1000;
  return Math.ceil(to.getTime() / step) - Math.floor(from.getTime() / step);
}

/** One value a filter field is compared with. */
export type FilterValue = { kind: 'eq'; value: string | number } | { kind: 'prefix'; address: string; bits: number };

/** Every term on one field: the flow matches if it matches any of them. Terms on different fields all apply. */
export interface Filter {
  field: FilterField;
  values: FilterValue[];
}

const UINT_MAX: Record<Exclude<ValueType, 'String' | 'IPv6' | 'UInt64'>, number> = { UInt8: 255, UInt16: 65_535, UInt32: 4_294_967_295 };

/** Parses one filter value for a field of this type; a string is the reason it is not one. */
export function parseFilterValue(field: FilterField, raw: string): FilterValue | string {
  const type = FILTER_FIELDS[field].type;
  switch (type) {
    case 'String':
      return raw.length <= QUERY_LIMITS.maxValueLength
        ? { kind: 'eq', value: raw }
        : `longer than ${QUERY_LIMITS.maxValueLength} characters`;
    case 'UInt64':
      return /^\d{1,20}$/.test(raw) && BigInt(raw) < 2n ** 64n ? { kind: 'eq', value: raw.replace(/^0+(?=\d)/, '') } : 'not a whole number';
    case 'IPv6':
      return parseAddress(raw);
    default: {
      if (field === 'proto' && PROTOCOLS[raw.toLowerCase()] !== undefined)
        return { kind: 'eq', value: PROTOCOLS[raw.toLowerCase()] as number };
      const max = UINT_MAX[type];
      if (!/^\d{1,10}$/.test(raw) || Number(raw) > max)
        return `not a whole number from 0 to ${max}${field === 'proto' ? ' or a protocol name' : ''}`;
      return { kind: 'eq', value: Number(raw) };
    }
  }
}

/**
 * An address or CIDR prefix, as stored: IPv4 becomes IPv4-mapped IPv6 (`::ffff:a.b.c.d`), so an
 * IPv4 /n is the IPv6 /(96+n) of the mapped range.
 */
export function parseAddress(raw: string): FilterValue | string {
  const slash = raw.indexOf('/');
  const address = slash < 0 ? raw : raw.slice(0, slash);
  const bitsText = slash < 0 ? undefined : raw.slice(slash + 1);
  const v4 = isIPv4(address);
  if (!v4 && !isIPv6(address)) return 'not an IPv4 or IPv6 address or CIDR prefix (e.g. 10.1.0.0/16)';
  const mapped = v4 ? `::ffff:${address}` : address.toLowerCase();
  if (bitsText === undefined) return { kind: 'eq', value: mapped };
  const max = v4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) return `prefix length must be 0 to ${max}`;
  return { kind: 'prefix', address: mapped, bits: Number(bitsText) + (v4 ? 96 : 0) };
}

/** `field=value` terms (a repeated field matches any of its values) grouped by field. */
export function parseWhere(terms: readonly string[]): { ok: true; filters: Filter[] } | { ok: false; index: number; message: string } {
  const byField = new Map<FilterField, FilterValue[]>();
  for (const [index, term] of terms.entries()) {
    const eq = term.indexOf('=');
    if (eq <= 0) return { ok: false, index, message: `'${term}' is not field=value` };
    const name = term.slice(0, eq).trim();
    const field = FIELD_ALIASES[name] ?? (Object.hasOwn(FILTER_FIELDS, name) ? (name as FilterField) : undefined);
    if (!field) return { ok: false, index, message: `unknown field '${name}' (fields: ${Object.keys(FILTER_FIELDS).join(', ')})` };
    const value = parseFilterValue(field, term.slice(eq + 1));
    if (typeof value === 'string') return { ok: false, index, message: `${term}: ${value}` };
    byField.set(field, [...(byField.get(field) ?? []), value]);
  }
  return { ok: true, filters: [...byField].map(([field, values]) => ({ field, values })) };
}

const where = z
  .array(z.string())
  .max(QUERY_LIMITS.maxFilters)
  .default([])
  .transform((terms, ctx) => {
    const r = parseWhere(terms);
    if (r.ok) return r.filters;
    ctx.addIssue({ code: 'custom', path: [r.index], message: r.message });
    return z.NEVER;
  })
  .describe('Filters, field=value (addresses also field=prefix/len); a repeated field matches any of its values');

const table = z
  .enum(FLOW_TABLES)
  .optional()
  .describe('Answer from this table (for comparisons and debugging); default: the coarsest that can');
const metric = z.enum(METRICS);
/** A list of metrics, comma-separated or repeated; every one when omitted. */
const metricList = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v, ctx): Metric[] => {
    if (v === undefined) return [...METRICS];
    const names = (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim());
    const bad = names.find((n) => !(METRICS as readonly string[]).includes(n));
    if (bad !== undefined || names.length === 0) {
      ctx.addIssue({ code: 'custom', message: `'${bad ?? ''}' is not a metric (metrics: ${METRICS.join(', ')})` });
      return z.NEVER;
    }
    return METRICS.filter((m) => names.includes(m));
  })
  .describe(
    `Metrics to compute, comma-separated (${METRICS.join(', ')}); default all. The distinct-address counts cost the most: leave them out when they are not shown`,
  );
const count = (max: number, fallback: number, description: string) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' })
    .max(max, { error: `must be at most ${max}` })
    .default(fallback)
    .describe(description);

function checkRange(v: { from: Date; to: Date }, maxDays: number, ctx: z.RefinementCtx): void {
  if (v.to.getTime() <= v.from.getTime()) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' });
  else if (v.to.getTime() - v.from.getTime() > maxDays * 86_400_000) {
    ctx.addIssue({ code: 'custom', path: ['to'], message: `the range is longer than ${maxDays} days` });
  }
}

const range = {
  from: instant('Start of the range (inclusive)'),
  to: instant('End of the range (exclusive)'),
};

/** Traffic time series: sums and distinct address counts per bucket, for one total or per key of a dimension. */
export const trafficQuerySchema = z
  .strictObject({
    ...range,
    interval: interval.optional(),
    by: z
      .enum(SERIES_DIMENSIONS as [Dimension, ...Dimension[]])
      .optional()
      .describe('Split into one series per value of this dimension'),
    where,
    top: count(QUERY_LIMITS.maxSeries, 10, 'Series kept: the top K keys by the ranking metric over the whole range'),
    rank: metric.default('bytes').describe('Metric ranking the series'),
    rest: z.enum(['other', 'drop']).default('other').describe('Keys beyond the top K: summed into one "other" series, or dropped'),
    metrics: metricList,
    table,
  })
  .superRefine((v, ctx) => checkRange(v, QUERY_LIMITS.maxRangeDays, ctx))
  .transform((v) => ({ ...v, interval: v.interval ?? autoInterval(v.from, v.to) }))
  .superRefine((v, ctx) => {
    const buckets = bucketCount(v.from, v.to, v.interval.seconds);
    if (buckets > QUERY_LIMITS.maxBuckets) {
      ctx.addIssue({
        code: 'custom',
        path: ['interval'],
        message: `${v.interval.text} gives ${buckets} buckets over this range, more than ${QUERY_LIMITS.maxBuckets}: use a coarser interval or a shorter range`,
      });
      return;
    }
    const series = v.by ? v.top + (v.rest === 'other' ? 1 : 0) : 1;
    if (buckets * series > QUERY_LIMITS.maxPoints) {
      ctx.addIssue({
        code: 'custom',
        path: ['top'],
        message: `${buckets} buckets x ${series} series is more than ${QUERY_LIMITS.maxPoints} points: fewer series, a coarser interval or a shorter range`,
      });
    }
  });
export type TrafficQueryInput = z.input<typeof trafficQuerySchema>;
export type TrafficQuery = z.output<typeof trafficQuerySchema>;

/** Top-N: the keys of a dimension (or pair) with the most of a metric over the range. */
export const topQuerySchema = z
  .strictObject({
    ...range,
    of: z
      .enum(Object.keys(DIMENSIONS) as [Dimension, ...Dimension[]])
      .describe('What to rank: hosts, organisations, services, ports, pairs'),
    metric: metric.default('bytes').describe('Metric to rank by'),
    limit: count(QUERY_LIMITS.maxTop, 10, 'Rows returned'),
    where,
    metrics: metricList,
    table,
  })
  .superRefine((v, ctx) => checkRange(v, QUERY_LIMITS.maxRangeDays, ctx))
  .transform((v) => ({ ...v, metrics: metricsWith(v.metric, v.metrics) }));
export type TopQueryInput = z.input<typeof topQuerySchema>;
export type TopQuery = z.output<typeof topQuerySchema>;

/** Organisation-to-organisation matrix (or supplier-to-supplier): one cell per pair with traffic. */
export const matrixQuerySchema = z
  .strictObject({
    ...range,
    level: z.enum(['org', 'supplier']).default('org').describe("org: src_org x dst_org; supplier: the organisations' suppliers"),
    metric: metric.default('bytes').describe('Metric ordering the cells (the largest are kept when there are more than limit)'),
    limit: count(QUERY_LIMITS.maxMatrixCells, 1000, 'Cells returned'),
    where,
    metrics: metricList,
    table,
  })
  .superRefine((v, ctx) => checkRange(v, QUERY_LIMITS.maxRangeDays, ctx))
  .transform((v) => ({ ...v, metrics: metricsWith(v.metric, v.metrics) }));
export type MatrixQueryInput = z.input<typeof matrixQuerySchema>;
export type MatrixQuery = z.output<typeof matrixQuerySchema>;

/** Flows search: individual enriched flows from flows_raw, newest first. */
export const flowsQuerySchema = z
  .strictObject({
    ...range,
    where,
    limit: count(QUERY_LIMITS.maxFlows, 100, 'Flows returned (newest first)'),
  })
  .superRefine((v, ctx) => checkRange(v, QUERY_LIMITS.maxFlowsRangeDays, ctx));
export type FlowsQueryInput = z.input<typeof flowsQuerySchema>;
export type FlowsQuery = z.output<typeof flowsQuerySchema>;

/** One line naming each bad field: `to: must be after from; where[1]: ...`. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const path = i.path.map((p, n) => (typeof p === 'number' ? `[${p}]` : `${n ? '.' : ''}${String(p)}`)).join('');
      return path ? `${path}: ${i.message}` : i.message;
    })
    .join('; ');
}

export type Parsed<T> = { ok: true; query: T } | { ok: false; error: string; issues: z.core.$ZodIssue[] };

/** Validates a query's input; an invalid one is a value with a one-line error, not an exception. */
export function parseQuery<S extends z.ZodType>(schema: S, input: unknown): Parsed<z.output<S>> {
  const r = schema.safeParse(input);
  return r.success ? { ok: true, query: r.data } : { ok: false, error: formatIssues(r.error), issues: r.error.issues };
}
