import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { countAuthFailure, principal, principalOf, refuseIfBlocked, sessionCookieName } from '../auth/authenticate.js';
import { ROLES } from '../auth/roles.js';
import { TOKEN_PATTERN } from '../auth/tokens.js';
import type { ApiContext } from '../context.js';
import { ApiError, errorResponses } from '../errors.js';

export const userSchema = z
  .object({
    name: z.string().describe("The token's name"),
    role: z.enum(ROLES),
    supplier: z.string().nullable().describe('The supplier a supplier-role user is limited to'),
    token_id: z.string(),
    via: z.enum(['token', 'session']),
  })
  .meta({ id: 'User' });

const sessionSchema = z
  .object({
    user: userSchema,
    csrf: z.string().nullable().describe('Send it back in x-csrf-token with every change made with the session cookie'),
  })
  .describe('Session');

/**
 * Dashboard log-in: POST a token, get an HTTP-only session cookie (and the CSRF token the page
 * sends with changes); GET tells the page who is logged in; DELETE logs out.
 */
export function sessionRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const cookie = sessionCookieName(ctx.config);

  r.post(
    '/api/v1/session',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Log in (dashboard): exchange a token for a session cookie',
        tags: ['session'],
        security: [],
        body: z.strictObject({ token: z.string().min(1).max(200).describe('An API token') }),
        response: { 200: sessionSchema, ...errorResponses(400, 401, 403, 413, 415, 429, 500) },
      },
    },
    async (req, reply) => {
      refuseIfBlocked(ctx, req);
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== `${req.protocol}://${req.host}`) throw new ApiError('csrf', `log-in from ${origin} refused`);
      const check = await ctx.tokens.verify(req.body.token);
      if (!check.ok) {
        countAuthFailure(ctx, req, `login_${check.reason}`);
        await ctx.audit.record({
          actor: TOKEN_PATTERN.exec(req.body.token)?.[1] ?? '',
          action: 'session.login_failed',
          targetKind: 'session',
          targetId: '',
          outcome: 'failed',
          detail: { reason: check.reason },
          clientAddr: req.ip,
        });
        throw new ApiError(
          'unauthorized',
          check.reason === 'expired' || check.reason === 'revoked' ? `token ${check.reason}` : 'unknown token',
        );
      }
      const { id, session } = ctx.sessions.create(check.record.id);
      ctx.metrics.sessions.set(ctx.sessions.size);
      const user = principalOf(check.record, 'session');
      await ctx.audit.record({
        principal: user,
        action: 'session.login',
        targetKind: 'session',
        targetId: '',
        clientAddr: req.ip,
      });
      void reply.setCookie(cookie, id, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: ctx.config.session.secureCookie,
        maxAge: Math.floor(ctx.config.session.maxAgeMs / 1000),
      });
      return {
        user: { name: user.name, role: user.role, supplier: user.supplierId ?? null, token_id: user.tokenId, via: user.via },
        csrf: session.csrf,
      };
    },
  );

  r.get(
    '/api/v1/session',
    {
      config: { access: 'authenticated' },
      schema: {
        summary: 'Who is asking (and the CSRF token of a session)',
        tags: ['session'],
        response: { 200: sessionSchema, ...errorResponses(401, 429, 500) },
      },
    },
    async (req) => {
      const p = principal(req);
      return {
        user: { name: p.name, role: p.role, supplier: p.supplierId ?? null, token_id: p.tokenId, via: p.via },
        csrf: req.session?.csrf ?? null,
      };
    },
  );

  r.delete(
    '/api/v1/session',
    {
      config: { access: 'authenticated' },
      schema: {
        summary: 'Log out (ends the session; a bearer token is unaffected)',
        tags: ['session'],
        response: { 204: z.null().describe('Logged out'), ...errorResponses(401, 403, 429, 500) },
      },
    },
    async (req, reply) => {
      const id = req.cookies[cookie];
      if (req.session && id) {
        ctx.sessions.delete(id);
        ctx.metrics.sessions.set(ctx.sessions.size);
        await ctx.audit.record({
          principal: principal(req),
          action: 'session.logout',
          targetKind: 'session',
          targetId: '',
          clientAddr: req.ip,
        });
      }
      void reply.clearCookie(cookie, { path: '/', httpOnly: true, sameSite: 'strict', secure: ctx.config.session.secureCookie });
      return reply.code(204).send(null);
    },
  );
}
