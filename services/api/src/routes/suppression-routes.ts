import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principal } from '../auth/authenticate.js';
import type { ApiContext } from '../context.js';
import { ApiError, errorResponses } from '../errors.js';
import { suppressionInputSchema, suppressionSchema } from '../suppressions.js';

const idParams = z.strictObject({ id: z.string().min(1).max(64) });

/** Suppressions CRUD: analysts make them (often from an alert), everyone but suppliers reads them. */
export function suppressionRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const one = { 200: z.object({ suppression: suppressionSchema }), ...errorResponses(400, 401, 403, 404, 413, 415, 429, 500, 503) };

  r.get(
    '/api/v1/suppressions',
    {
      config: { access: 'suppressions:read' },
      schema: {
        summary: 'Suppressions, newest first (active ones unless include=expired)',
        tags: ['suppressions'],
        querystring: z.strictObject({ include: z.enum(['active', 'expired']).default('active') }),
        response: { 200: z.object({ suppressions: z.array(suppressionSchema) }), ...errorResponses(400, 401, 403, 429, 500, 503) },
      },
    },
    async (req) => ({ suppressions: await ctx.suppressions.list(req.query.include === 'expired') }),
  );

  r.get(
    '/api/v1/suppressions/:id',
    {
      config: { access: 'suppressions:read' },
      schema: { summary: 'One suppression', tags: ['suppressions'], params: idParams, response: one },
    },
    async (req) => {
      const suppression = await ctx.suppressions.get(req.params.id);
      if (!suppression) throw new ApiError('not_found', `no suppression ${req.params.id}`, 'params.id');
      return { suppression };
    },
  );

  r.post(
    '/api/v1/suppressions',
    {
      config: { access: 'suppressions:write' },
      schema: {
        summary: 'Suppress matching alerts (the detector stops raising them)',
        tags: ['suppressions'],
        body: suppressionInputSchema,
        response: { ...one, 201: z.object({ suppression: suppressionSchema }) },
      },
    },
    async (req, reply) => {
      const p = principal(req);
      if (req.body.expires_at && Date.parse(req.body.expires_at) <= ctx.now()) {
        throw new ApiError('bad_request', 'must be in the future', 'body.expires_at');
      }
      const suppression = await ctx.suppressions.create(req.body, p.name);
      await ctx.audit.record({
        principal: p,
        action: 'suppression.create',
        targetKind: 'suppression',
        targetId: suppression.id,
        detail: { ...req.body },
        clientAddr: req.ip,
      });
      return reply.code(201).send({ suppression });
    },
  );

  r.put(
    '/api/v1/suppressions/:id',
    {
      config: { access: 'suppressions:write' },
      schema: { summary: 'Replace a suppression', tags: ['suppressions'], params: idParams, body: suppressionInputSchema, response: one },
    },
    async (req) => {
      const p = principal(req);
      const suppression = await ctx.suppressions.update(req.params.id, req.body, p.name);
      if (!suppression) throw new ApiError('not_found', `no suppression ${req.params.id}`, 'params.id');
      await ctx.audit.record({
        principal: p,
        action: 'suppression.update',
        targetKind: 'suppression',
        targetId: suppression.id,
        detail: { ...req.body },
        clientAddr: req.ip,
      });
      return { suppression };
    },
  );

  r.delete(
    '/api/v1/suppressions/:id',
    {
      config: { access: 'suppressions:write' },
      schema: { summary: 'Delete a suppression', tags: ['suppressions'], params: idParams, response: one },
    },
    async (req) => {
      const p = principal(req);
      const suppression = await ctx.suppressions.delete(req.params.id, p.name);
      if (!suppression) throw new ApiError('not_found', `no suppression ${req.params.id}`, 'params.id');
      await ctx.audit.record({
        principal: p,
        action: 'suppression.delete',
        targetKind: 'suppression',
        targetId: suppression.id,
        clientAddr: req.ip,
      });
      return { suppression };
    },
  );
}
