import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  ALERT_STATUSES,
  ALERT_TYPES,
  type Alert,
  alertMessage,
  alertSchema,
  alertSummarySchema,
  SEVERITIES,
} from '../alerts/alert-record.js';
import { ALERT_SORTS, type AlertSort, type ChangeResult } from '../alerts/alert-store.js';
import { principal } from '../auth/authenticate.js';
import { scopeOf } from '../auth/roles.js';
import type { ApiContext } from '../context.js';
import { ApiError, errorResponses } from '../errors.js';

const instant = z.iso.datetime({ offset: true, error: 'an ISO-8601 time with Z or an offset, e.g. 2026-11-21T10:00:00Z' });
const code = z.string().min(1).max(64);

const listQuery = z.strictObject({
  status: z.array(z.enum(ALERT_STATUSES)).max(3).optional().describe('Repeat or comma-separate: open,acknowledged'),
  type: z.array(z.enum(ALERT_TYPES)).max(ALERT_TYPES.length).optional(),
  severity: z.array(z.enum(SEVERITIES)).max(4).optional(),
  supplier: z.array(code).max(50).optional().describe('Alerts naming any of these suppliers'),
  org: z.array(code).max(100).optional().describe('Alerts whose source, destination or entity is any of these organisations'),
  from: instant.optional().describe('Alerts active at or after this time (last seen >= from)'),
  to: instant.optional().describe('Alerts active before this time (first seen < to)'),
  q: z.string().max(200).optional().describe('Text in the summary, entity, addresses, service or id (case-insensitive)'),
  sort: z.enum(ALERT_SORTS).default('detected_at'),
  order: z.enum(['asc', 'desc']).default('desc'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(500).optional().describe('next_cursor of the previous page (same filters and sort)'),
});

const idParams = z.strictObject({ id: z.string().min(1).max(64) });

const eventSchema = z
  .object({ at: z.iso.datetime(), event: z.string(), actor: z.string(), detail: z.string() })
  .describe('AlertEvent: opened, updated, escalated, acknowledged, commented, resolved, reopened');

const counts = z.object(
  Object.fromEntries(SEVERITIES.map((s) => [s, z.number().int()])) as Record<(typeof SEVERITIES)[number], z.ZodNumber>,
);

/** Cursors are opaque to clients: base64url of the sort, order and the last row's sort key and id. */
export function encodeCursor(sort: AlertSort, order: 'asc' | 'desc', key: number, id: string): string {
  return Buffer.from(JSON.stringify([sort, order, key, id])).toString('base64url');
}

export function decodeCursor(text: string, sort: AlertSort, order: 'asc' | 'desc'): { key: number; id: string } {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new ApiError('bad_request', 'not a cursor from this API', 'query.cursor');
  }
  if (!Array.isArray(v) || v.length !== 4 || typeof v[2] !== 'number' || !Number.isFinite(v[2]) || typeof v[3] !== 'string') {
    throw new ApiError('bad_request', 'not a cursor from this API', 'query.cursor');
  }
  if (v[0] !== sort || v[1] !== order) throw new ApiError('bad_request', 'the cursor belongs to another sort order', 'query.cursor');
  return { key: v[2], id: v[3] };
}

export function alertRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/api/v1/alerts',
    {
      config: { access: 'read' },
      schema: {
        summary: 'List alerts (filtered, sorted, paged with a cursor)',
        tags: ['alerts'],
        querystring: listQuery,
        response: {
          200: z.object({
            alerts: z.array(alertSummarySchema),
            next_cursor: z.string().nullable().describe('Pass as cursor for the next page; null on the last page'),
            total: z.number().int().describe('Alerts matching the filters'),
          }),
          ...errorResponses(400, 401, 403, 429, 500, 503),
        },
      },
    },
    async (req) => {
      const q = req.query;
      const from = q.from ? new Date(q.from) : undefined;
      const to = q.to ? new Date(q.to) : undefined;
      if (from && to && to <= from) throw new ApiError('bad_request', 'must be after from', 'query.to');
      const page = await ctx.alerts.list(
        { status: q.status, type: q.type, severity: q.severity, supplier: q.supplier, org: q.org, from, to, q: q.q },
        { sort: q.sort, order: q.order, limit: q.limit, after: q.cursor ? decodeCursor(q.cursor, q.sort, q.order) : undefined },
        scopeOf(principal(req)),
      );
      return {
        alerts: page.alerts,
        next_cursor: page.next ? encodeCursor(q.sort, q.order, page.next.key, page.next.id) : null,
        total: page.total,
      };
    },
  );

  r.get(
    '/api/v1/alerts/summary',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Open and acknowledged alerts by severity, and alerts resolved in the last 24 hours',
        tags: ['alerts'],
        response: {
          200: z.object({ open: counts, acknowledged: counts, resolved_24h: z.number().int() }),
          ...errorResponses(401, 403, 429, 500, 503),
        },
      },
    },
    async (req) => ctx.alerts.counts(scopeOf(principal(req))),
  );

  r.get(
    '/api/v1/alerts/:id',
    {
      config: { access: 'read' },
      schema: {
        summary: 'One alert with its evidence and its history',
        tags: ['alerts'],
        params: idParams,
        response: {
          200: z.object({ alert: alertSchema, events: z.array(eventSchema) }),
          ...errorResponses(400, 401, 403, 404, 429, 500, 503),
        },
      },
    },
    async (req) => {
      const alert = await ctx.alerts.get(req.params.id, scopeOf(principal(req)));
      if (!alert) throw new ApiError('not_found', `no alert ${req.params.id}`, 'params.id');
      return { alert, events: await ctx.alerts.events(alert.id) };
    },
  );

  const comment = z.string().trim().min(1).max(2000);
  const changeResponse = { 200: z.object({ alert: alertSchema }), ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 500, 503) };

  const transition = (path: 'ack' | 'resolve', to: 'acknowledged' | 'resolved', action: 'alert.acknowledge' | 'alert.resolve') =>
    r.post(
      `/api/v1/alerts/:id/${path}`,
      {
        config: { access: 'alerts:act' },
        schema: {
          summary: path === 'ack' ? 'Acknowledge an open alert' : 'Resolve an open or acknowledged alert',
          tags: ['alerts'],
          params: idParams,
          body: z.strictObject({ comment: comment.optional().describe('Why, for the timeline') }).default({}),
          response: changeResponse,
        },
      },
      async (req) => {
        const p = principal(req);
        const result = await ctx.alerts.transition(req.params.id, to, p.name, req.body.comment, scopeOf(p));
        const alert = outcome(result, req.params.id);
        await ctx.audit.record({
          principal: p,
          action,
          targetKind: 'alert',
          targetId: alert.id,
          detail: { comment: req.body.comment ?? '', version: alert.version },
          clientAddr: req.ip,
        });
        ctx.hub.publishAlert(to, alert);
        void ctx.publish(alertMessage(to, alert)).catch((err: Error) => {
          ctx.metrics.publishFailures.inc();
          ctx.logger.warn({ err: err.message, alert: alert.id }, 'publishing an alert change on Kafka failed');
        });
        return { alert };
      },
    );
  transition('ack', 'acknowledged', 'alert.acknowledge');
  transition('resolve', 'resolved', 'alert.resolve');

  r.post(
    '/api/v1/alerts/:id/comment',
    {
      config: { access: 'alerts:act' },
      schema: {
        summary: "Add a comment to an alert's timeline",
        tags: ['alerts'],
        params: idParams,
        body: z.strictObject({ text: comment }),
        response: changeResponse,
      },
    },
    async (req) => {
      const p = principal(req);
      const alert = outcome(await ctx.alerts.comment(req.params.id, p.name, req.body.text, scopeOf(p)), req.params.id);
      await ctx.audit.record({
        principal: p,
        action: 'alert.comment',
        targetKind: 'alert',
        targetId: alert.id,
        detail: { text: req.body.text },
        clientAddr: req.ip,
      });
      ctx.hub.publishAlertEvent(alert.id, alert.supplier_ids, 'commented');
      return { alert };
    },
  );
}

function outcome(result: ChangeResult, id: string): Alert {
  if (result.ok) return result.alert;
  if (result.reason === 'not_found') throw new ApiError('not_found', `no alert ${id}`, 'params.id');
  throw new ApiError('conflict', result.message);
}
