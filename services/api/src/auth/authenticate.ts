import type { ApiConfig } from '@flowwatch/config';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext } from '../context.js';
import { ApiError } from '../errors.js';
import { can, type Principal } from './roles.js';
import { csrfMatches } from './sessions.js';
import type { TokenRecord } from './tokens.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** `__Host-` binds the cookie to this exact origin (Secure, Path=/, no Domain); it needs the Secure flag. */
export function sessionCookieName(config: Pick<ApiConfig, 'session'>): string {
  return config.session.secureCookie ? '__Host-fw_session' : 'fw_session';
}

export function principalOf(record: TokenRecord, via: Principal['via']): Principal {
  return { tokenId: record.id, name: record.name, role: record.role, supplierId: record.supplierId, via };
}

/** Counts a failed credential from this address; 429 once the address has used up its allowance. */
export function countAuthFailure(ctx: ApiContext, req: FastifyRequest, reason: string): void {
  ctx.metrics.authFailures.inc({ reason });
  ctx.limits.authFailures.take(req.ip);
}

export function refuseIfBlocked(ctx: ApiContext, req: FastifyRequest): void {
  const blocked = ctx.limits.authFailures.peek(req.ip);
  if (!blocked.ok) {
    ctx.metrics.rateLimited.inc({ kind: 'address' });
    throw new ApiError('rate_limited', 'too many failed logins or bad tokens from this address; wait and retry', undefined, {
      'retry-after': String(blocked.retryAfterSeconds),
    });
  }
}

/**
 * The onRequest check of every route: who is asking (a bearer token, or a session cookie whose
 * token is still valid), whether a cookie-authenticated change carries the session's CSRF token
 * and comes from this origin, the per-token rate limit, and the route's permission. Runs before
 * the body is parsed or validated, so a caller without the right gets 401/403, never a 400 that
 * reveals the schema. Public routes (login, OpenAPI, the page) skip it.
 */
export async function authenticate(ctx: ApiContext, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const access = req.routeOptions.config?.access ?? 'public';
  if (access === 'public') return;

  let principal: Principal;
  const header = req.headers.authorization;
  if (header !== undefined) {
    refuseIfBlocked(ctx, req);
    const m = /^Bearer +(\S+)$/i.exec(header);
    if (!m) {
      countAuthFailure(ctx, req, 'malformed');
      void reply.header('www-authenticate', 'Bearer');
      throw new ApiError('unauthorized', 'the Authorization header must be: Bearer <token>');
    }
    const check = await ctx.tokens.verify(m[1] as string);
    if (!check.ok) {
      countAuthFailure(ctx, req, check.reason);
      void reply.header('www-authenticate', 'Bearer error="invalid_token"');
      throw new ApiError(
        'unauthorized',
        check.reason === 'expired' || check.reason === 'revoked' ? `token ${check.reason}` : 'unknown token',
      );
    }
    principal = principalOf(check.record, 'token');
  } else {
    const id = req.cookies[sessionCookieName(ctx.config)];
    const session = id ? ctx.sessions.get(id) : undefined;
    if (!id || !session) {
      void reply.header('www-authenticate', 'Bearer');
      throw new ApiError('unauthorized', id ? 'the session has ended; log in again' : 'log in or send a bearer token');
    }
    const check = await ctx.tokens.check(session.tokenId);
    if (!check.ok) {
      ctx.sessions.delete(id);
      ctx.metrics.authFailures.inc({ reason: `session_${check.reason}` });
      throw new ApiError('unauthorized', `the session's token is ${check.reason === 'unknown' ? 'gone' : check.reason}; log in again`);
    }
    if (!SAFE_METHODS.has(req.method)) {
      // Cookies ride along with cross-site requests; a change needs proof it came from our page.
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== `${req.protocol}://${req.host}`) {
        ctx.metrics.authFailures.inc({ reason: 'csrf_origin' });
        throw new ApiError('csrf', `requests from ${origin} may not change anything here`);
      }
      const presented = req.headers['x-csrf-token'];
      if (!csrfMatches(session, typeof presented === 'string' ? presented : undefined)) {
        ctx.metrics.authFailures.inc({ reason: 'csrf_token' });
        throw new ApiError('csrf', "missing or wrong x-csrf-token header (the session's token from GET /api/v1/session)");
      }
    }
    principal = principalOf(check.record, 'session');
    req.session = session;
  }

  const limited = ctx.limits.requests.take(principal.tokenId);
  if (!limited.ok) {
    ctx.metrics.rateLimited.inc({ kind: 'token' });
    throw new ApiError('rate_limited', `over ${ctx.config.rateLimit.requestsPerSecond} requests/s for this token`, undefined, {
      'retry-after': String(limited.retryAfterSeconds),
    });
  }
  if (access !== 'authenticated' && !can(principal, access)) {
    ctx.metrics.forbidden.inc({ permission: access });
    throw new ApiError('forbidden', `the ${principal.role} role may not do this (needs ${access})`);
  }
  req.principal = principal;
}

/** The principal of a route that requires one (set by `authenticate`). */
export function principal(req: FastifyRequest): Principal {
  if (!req.principal) throw new Error(`route ${req.routeOptions.url} has no principal: is its access public?`);
  return req.principal;
}
