import type { ApiConfig } from '@flowwatch/config';
import {
  type Answer,
  DIMENSIONS,
  type Filter,
  flowSearch,
  flowsQuerySchema,
  METRICS,
  matrixQuerySchema,
  orgMatrix,
  type QueryContext,
  type QuerySettings,
  topN,
  topQuerySchema,
  trafficQuerySchema,
  trafficSeries,
} from '@flowwatch/query';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principal } from '../auth/authenticate.js';
import { type Role, scopeOf } from '../auth/roles.js';
import { iso, msOf } from '../ch-time.js';
import type { ApiContext } from '../context.js';
import { ApiError, errorResponses } from '../errors.js';
import { select } from '../sql.js';

/**
 * Traffic from @flowwatch/query, with its input schemas, limits and table choice unchanged
 * (docs/storage.md, "Queries"): the time series, top-N, organisation matrix and flows search.
 * A supplier-role caller's questions always get `supplier_id = <its supplier>` (flows its
 * exporters reported); asking for another supplier is a 403.
 */
export function scopeFilters<T extends { where: Filter[] }>(q: T, scope: string | undefined): T {
  if (scope === undefined) return q;
  const asked = q.where.find((f) => f.field === 'supplier_id');
  if (asked?.values.some((v) => v.kind !== 'eq' || v.value !== scope)) {
    throw new ApiError('forbidden', `a supplier token sees only the flows of supplier ${scope}`, 'query.where');
  }
  return {
    ...q,
    where: [...q.where.filter((f) => f.field !== 'supplier_id'), { field: 'supplier_id', values: [{ kind: 'eq', value: scope }] }],
  };
}

function answered<T>(a: Answer<T>): T {
  if (a.ok) return a.result;
  throw new ApiError('unanswerable', a.message);
}

type Budget = ApiConfig['queryBudgets'][Role];

/** A role's budget as the settings of its queries. */
export function budgetSettings(b: Budget): QuerySettings {
  return { max_execution_time: b.maxSeconds, max_rows_to_read: b.maxRowsRead, max_memory_usage: b.maxMemoryBytes };
}

/**
 * The API's answer to a ClickHouse error that says a query went over its budget (TIMEOUT_EXCEEDED,
 * TOO_MANY_ROWS, TOO_MANY_ROWS_OR_BYTES, MEMORY_LIMIT_EXCEEDED), or undefined for any other error.
 * Over HTTP the error carries its code; the embedded engine's says `Code: N.` in its message.
 */
export function overBudget(err: unknown, role: Role, b: Budget): ApiError | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = Number((err as { code?: unknown }).code ?? /\bCode: (\d+)\b/.exec(err.message)?.[1]);
  const narrow = 'narrow its time range or add filters';
  const limit = `the ${role} role's limit (api.queryBudgets.${role})`;
  if (code === 159) return new ApiError('query_budget', `the question ran longer than ${b.maxSeconds} s, ${limit}: ${narrow}`);
  if (code === 158 || code === 396)
    return new ApiError('query_budget', `the question reads more than ${b.maxRowsRead.toLocaleString('en-GB')} rows, ${limit}: ${narrow}`);
  if (code === 241)
    return new ApiError(
      'query_budget',
      `the question needs more memory than ClickHouse allows it (${limit}: ${b.maxMemoryBytes} bytes): ${narrow}`,
    );
  return undefined;
}

/** The metrics asked for (`metrics`; every one by default): a metric not asked for is absent, never 0. */
const metrics = z.object(
  Object.fromEntries(METRICS.map((m) => [m, z.number().optional()])) as Record<(typeof METRICS)[number], z.ZodOptional<z.ZodNumber>>,
);
const meta = {
  table: z.enum(['flows_raw', 'flows_1m', 'flows_1h']).describe('Table that answered'),
  reason: z.string().describe('Why that table'),
  notes: z.array(z.string()).describe('What the reader should know (e.g. the start of the range has expired)'),
  from: z.iso.datetime(),
  to: z.iso.datetime(),
};
const keyValue = z.union([z.string(), z.number()]);

const seriesResult = z
  .object({
    ...meta,
    interval: z.string(),
    by: z.string().nullable(),
    rank: z.enum(METRICS),
    keys: z.number().int(),
    restKeys: z.number().int(),
    rest: z.enum(['other', 'drop']),
    series: z.array(
      z.object({
        key: keyValue.nullable(),
        kind: z.enum(['total', 'key', 'other']),
        points: z.array(metrics.extend({ ts: z.iso.datetime() })),
      }),
    ),
  })
  .describe('TrafficSeries');
const topResult = z
  .object({
    ...meta,
    of: z.enum(Object.keys(DIMENSIONS) as [string, ...string[]]),
    metric: z.enum(METRICS),
    limit: z.number().int(),
    keys: z.number().int(),
    rows: z.array(metrics.extend({ key: z.record(z.string(), keyValue) })),
    totals: metrics,
  })
  .describe('TopN');
const matrixResult = z
  .object({
    ...meta,
    level: z.enum(['org', 'supplier']),
    metric: z.enum(METRICS),
    pairs: z.number().int(),
    truncated: z.boolean(),
    cells: z.array(metrics.extend({ src: z.string(), dst: z.string() })),
    totals: metrics,
  })
  .describe('Matrix');
/** One enriched flow as flows_raw stores it (goflow2-like names). */
const flowRow = z
  .object({
    time_received: z.iso.datetime(),
    time_flow_start: z.iso.datetime(),
    time_flow_end: z.iso.datetime(),
    type: z.string(),
    supplier_id: z.string(),
    exporter_id: z.string(),
    sampler_address: z.string(),
    sequence_num: z.number(),
    sampling_rate: z.number(),
    src_addr: z.string().describe('IPv4 plain, IPv6, or empty when absent'),
    dst_addr: z.string().describe('IPv4 plain, IPv6, or empty when absent'),
    src_port: z.number(),
    dst_port: z.number(),
    proto: z.number(),
    etype: z.number(),
    tcp_flags: z.number(),
    icmp_type: z.number(),
    icmp_code: z.number(),
    ip_tos: z.number(),
    bytes: z.number(),
    packets: z.number(),
    bytes_est: z.number(),
    packets_est: z.number(),
    in_if: z.number(),
    out_if: z.number(),
    vlan_id: z.number(),
    src_as: z.number(),
    dst_as: z.number(),
    next_hop: z.string(),
    src_org: z.string(),
    dst_org: z.string(),
    src_org_supplier: z.string(),
    dst_org_supplier: z.string(),
    service: z.string(),
    direction: z.string(),
    kafka_topic: z.string(),
    kafka_partition: z.number(),
    kafka_offset: z.string().describe('64-bit, as a string'),
  })
  .meta({ id: 'Flow', description: 'One enriched flow as flows_raw stores it' });
const flowsResult = z
  .object({
    ...meta,
    limit: z.number().int(),
    truncated: z.boolean(),
    flows: z.array(flowRow).describe('flows_raw rows, newest first'),
  })
  .describe('Flows');

const exporterStatus = z
  .object({
    supplier: z.string(),
    exporter: z.string(),
    registered: z.boolean().describe('In the registry (pushes without an exporter id show as "push")'),
    status: z.enum(['ok', 'silent']),
    last_flow: z.iso.datetime().nullable().describe('Newest flow received within the window; null: none'),
    flows: z.number().int().describe('Flows received within the window'),
  })
  .describe('ExporterStatus');

const failures = errorResponses(400, 401, 403, 422, 429, 500, 503);

export function trafficRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  /** Runs a traffic question for the caller: its supplier scope, its role's budget. */
  const ask = async <T>(req: FastifyRequest, run: (scope: string | undefined, q: QueryContext) => Promise<Answer<T>>): Promise<T> => {
    const p = principal(req);
    const budget = ctx.config.queryBudgets[p.role];
    try {
      return answered(await run(scopeOf(p), { retention: ctx.retention, now: new Date(ctx.now()), settings: budgetSettings(budget) }));
    } catch (err) {
      throw overBudget(err, p.role, budget) ?? err;
    }
  };

  r.get(
    '/api/v1/traffic/series',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Traffic time series: the total, or the top K keys of a dimension (the rest as "other")',
        tags: ['traffic'],
        querystring: trafficQuerySchema,
        response: { 200: seriesResult, ...failures },
      },
    },
    (req) => ask(req, (scope, q) => trafficSeries(ctx.clickhouse, scopeFilters(req.query, scope), q)),
  );

  r.get(
    '/api/v1/traffic/top',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Top N keys of a dimension or pair by a metric',
        tags: ['traffic'],
        querystring: topQuerySchema,
        response: { 200: topResult, ...failures },
      },
    },
    (req) => ask(req, (scope, q) => topN(ctx.clickhouse, scopeFilters(req.query, scope), q)),
  );

  r.get(
    '/api/v1/traffic/matrix',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Organisation x organisation (or supplier x supplier) traffic',
        tags: ['traffic'],
        querystring: matrixQuerySchema,
        response: { 200: matrixResult, ...failures },
      },
    },
    (req) => ask(req, (scope, q) => orgMatrix(ctx.clickhouse, scopeFilters(req.query, scope), q)),
  );

  r.get(
    '/api/v1/flows',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Flows search: enriched flows from flows_raw, newest first',
        tags: ['traffic'],
        querystring: flowsQuerySchema,
        response: { 200: flowsResult, ...failures },
      },
    },
    (req) => ask(req, (scope, q) => flowSearch(ctx.clickhouse, scopeFilters(req.query, scope), q)),
  );

  r.get(
    '/api/v1/exporters',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Telemetry status of every exporter: ok, or silent when flows_raw has nothing recent from it',
        tags: ['traffic'],
        response: {
          200: z.object({
            at: z.iso.datetime(),
            silent_after_seconds: z.number(),
            window_seconds: z.number(),
            exporters: z.array(exporterStatus),
          }),
          ...errorResponses(401, 403, 429, 500, 503),
        },
      },
    },
    async (req) => {
      const scope = scopeOf(principal(req));
      const now = ctx.now();
      const silentMs = ctx.config.exporterSilenceMs;
      // A recent window of the raw table only: its sorting key starts with the time bucket.
      const windowMs = Math.max(15 * 60_000, 3 * silentMs);
      const params: Record<string, unknown> = { from: now - windowMs };
      if (scope !== undefined) params.scope = scope;
      const rows = await select<{ supplier: string; exporter: string; last: string | number; flows: string | number }>(
        ctx.clickhouse,
        `SELECT supplier_id AS supplier, exporter_id AS exporter, toUnixTimestamp64Milli(max(time_received)) AS last, count() AS flows
         FROM flows_raw
         WHERE time_received >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')${scope !== undefined ? ' AND supplier_id = {scope:String}' : ''}
         GROUP BY supplier, exporter`,
        params,
      );
      const seen = new Map(rows.map((r) => [`${r.supplier}/${r.exporter}`, r]));
      const out: z.infer<typeof exporterStatus>[] = [];
      const status = (last: number | undefined) => (last !== undefined && now - last <= silentMs ? 'ok' : 'silent');
      for (const s of ctx.registry().suppliers) {
        if (scope !== undefined && s.id !== scope) continue;
        for (const e of s.exporters) {
          const row = seen.get(`${s.id}/${e.id}`);
          seen.delete(`${s.id}/${e.id}`);
          const last = row ? msOf(row.last) : undefined;
          out.push({
            supplier: s.id,
            exporter: e.id,
            registered: true,
            status: status(last),
            last_flow: last === undefined ? null : iso(last),
            flows: Number(row?.flows ?? 0),
          });
        }
      }
      for (const row of seen.values()) {
        const last = msOf(row.last);
        out.push({
          supplier: row.supplier,
          exporter: row.exporter,
          registered: false,
          status: status(last),
          last_flow: iso(last),
          flows: Number(row.flows),
        });
      }
      out.sort((a, b) => a.supplier.localeCompare(b.supplier) || a.exporter.localeCompare(b.exporter));
      return { at: iso(now), silent_after_seconds: silentMs / 1000, window_seconds: windowMs / 1000, exporters: out };
    },
  );
}
