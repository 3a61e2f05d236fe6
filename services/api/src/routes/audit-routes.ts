import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AUDIT_ACTIONS, auditEntrySchema } from '../audit-log.js';
import type { ApiContext } from '../context.js';
import { ApiError, errorResponses } from '../errors.js';

const instant = z.iso.datetime({ offset: true, error: 'an ISO-8601 time with Z or an offset' });

function decode(text: string): { at: number; id: string } {
  try {
    const v: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (Array.isArray(v) && typeof v[0] === 'number' && typeof v[1] === 'string') return { at: v[0], id: v[1] };
  } catch {}
  throw new ApiError('bad_request', 'not a cursor from this API', 'query.cursor');
}

/** The audit log, newest first: who changed what, when (docs/api.md). */
export function auditRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/api/v1/audit',
    {
      config: { access: 'audit:read' },
      schema: {
        summary: 'Audit log of state changes, newest first',
        tags: ['audit'],
        querystring: z.strictObject({
          from: instant.optional(),
          to: instant.optional(),
          action: z.array(z.enum(AUDIT_ACTIONS)).max(AUDIT_ACTIONS.length).optional(),
          actor: z.string().max(64).optional(),
          target: z.string().max(64).optional().describe('Target id: an alert, suppression or token id'),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          cursor: z.string().max(200).optional(),
        }),
        response: {
          200: z.object({ entries: z.array(auditEntrySchema), next_cursor: z.string().nullable() }),
          ...errorResponses(400, 401, 403, 429, 500, 503),
        },
      },
    },
    async (req) => {
      const q = req.query;
      const page = await ctx.audit.list({
        from: q.from ? new Date(q.from) : undefined,
        to: q.to ? new Date(q.to) : undefined,
        action: q.action,
        actor: q.actor,
        targetId: q.target,
        limit: q.limit,
        before: q.cursor ? decode(q.cursor) : undefined,
      });
      return {
        entries: page.entries,
        next_cursor: page.next ? Buffer.from(JSON.stringify([page.next.at, page.next.id])).toString('base64url') : null,
      };
    },
  );
}
