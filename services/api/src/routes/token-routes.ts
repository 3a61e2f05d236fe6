import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principal } from '../auth/authenticate.js';
import { ROLES } from '../auth/roles.js';
import { checkNewToken, type TokenRecord } from '../auth/tokens.js';
import { iso } from '../ch-time.js';
import type { ApiContext } from '../context.js';
import { ApiError, errorResponses } from '../errors.js';

const tokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(ROLES),
    supplier: z.string().nullable(),
    created_at: z.iso.datetime(),
    created_by: z.string(),
    expires_at: z.iso.datetime().nullable(),
    revoked_at: z.iso.datetime().nullable(),
    revoked_by: z.string(),
  })
  .describe('Token (never its secret)');

export function tokenView(t: TokenRecord): z.infer<typeof tokenSchema> {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    supplier: t.supplierId ?? null,
    created_at: iso(t.createdAt),
    created_by: t.createdBy,
    expires_at: t.expiresAt === undefined ? null : iso(t.expiresAt),
    revoked_at: t.revokedAt === undefined ? null : iso(t.revokedAt),
    revoked_by: t.revokedBy,
  };
}

/** Admins list, make and revoke tokens; a new token's text is shown once, in the creation answer. */
export function tokenRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/api/v1/tokens',
    {
      config: { access: 'tokens:manage' },
      schema: {
        summary: 'Every token (without secrets)',
        tags: ['tokens'],
        response: { 200: z.object({ tokens: z.array(tokenSchema) }), ...errorResponses(401, 403, 429, 500, 503) },
      },
    },
    async () => ({ tokens: (await ctx.tokens.list()).map(tokenView) }),
  );

  r.post(
    '/api/v1/tokens',
    {
      config: { access: 'tokens:manage' },
      schema: {
        summary: 'Make a token (its text is in this answer only)',
        tags: ['tokens'],
        body: z.strictObject({
          name: z.string().min(1).max(64),
          role: z.enum(ROLES),
          supplier: z.string().max(64).optional().describe('Required for (and only for) the supplier role'),
          expires_at: z.iso.datetime({ offset: true }).optional(),
        }),
        response: {
          201: z.object({
            token: z.string().describe('fwt_<id>_<secret>: give it to its holder; it cannot be shown again'),
            record: tokenSchema,
          }),
          ...errorResponses(400, 401, 403, 413, 415, 429, 500, 503),
        },
      },
    },
    async (req, reply) => {
      const p = principal(req);
      const b = req.body;
      const expiresAt = b.expires_at ? Date.parse(b.expires_at) : undefined;
      if (expiresAt !== undefined && expiresAt <= ctx.now()) throw new ApiError('bad_request', 'must be in the future', 'body.expires_at');
      const input = { name: b.name, role: b.role, supplierId: b.supplier, expiresAt, createdBy: p.name };
      const problem = checkNewToken(
        input,
        ctx.registry().suppliers.map((s) => s.id),
      );
      if (problem) {
        const [name, ...rest] = problem.split(': ');
        throw new ApiError('bad_request', rest.join(': '), `body.${name}`);
      }
      const { token, record } = await ctx.tokens.create(input);
      await ctx.audit.record({
        principal: p,
        action: 'token.create',
        targetKind: 'token',
        targetId: record.id,
        detail: { name: record.name, role: record.role, supplier: record.supplierId ?? '' },
        clientAddr: req.ip,
      });
      return reply.code(201).send({ token, record: tokenView(record) });
    },
  );

  r.delete(
    '/api/v1/tokens/:id',
    {
      config: { access: 'tokens:manage' },
      schema: {
        summary: 'Revoke a token (its sessions end at their next request)',
        tags: ['tokens'],
        params: z.strictObject({ id: z.string().regex(/^[0-9a-f]{16}$/, '16 hex digits') }),
        response: { 200: z.object({ record: tokenSchema }), ...errorResponses(400, 401, 403, 404, 429, 500, 503) },
      },
    },
    async (req) => {
      const p = principal(req);
      const record = await ctx.tokens.revoke(req.params.id, p.name);
      if (!record) throw new ApiError('not_found', `no token ${req.params.id}`, 'params.id');
      ctx.sessions.deleteForToken(record.id);
      await ctx.audit.record({
        principal: p,
        action: 'token.revoke',
        targetKind: 'token',
        targetId: record.id,
        clientAddr: req.ip,
      });
      return { record: tokenView(record) };
    },
  );
}
