import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { principal, sessionCookieName } from '../auth/authenticate.js';
import type { ApiContext } from '../context.js';
import { errorResponses } from '../errors.js';
import { securityHeaders } from '../security-headers.js';

/**
 * GET /api/v1/stream: server-sent events (text/event-stream). Events: `hello` (who the stream is
 * for), `alert` ({event, alert}: a new or changed alert, without evidence), `alert_event`
 * ({id, event}: a comment), `traffic` (per-supplier minute counters every
 * api.stream.trafficIntervalMs), `end` ({reason}) before the server closes it; `: ping`
 * comments keep it open. `alert` events carry an id (the alert's `updated_at`, ms): a browser
 * reconnecting with Last-Event-ID first gets the alerts changed since then (up to an hour back).
 * A supplier's stream carries only its own alerts and traffic. The
 * credentials are checked again at every heartbeat: a revoked token or an ended session closes it.
 */
export function streamRoute(app: FastifyInstance, ctx: ApiContext): void {
  app.get(
    '/api/v1/stream',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Live alerts and traffic counters (server-sent events)',
        tags: ['stream'],
        response: {
          200: {
            description: 'An event stream',
            content: { 'text/event-stream': { schema: z.string().describe('event: <name>\\ndata: <JSON>') } },
          },
          ...errorResponses(401, 403, 429, 503),
        },
      },
    },
    async (req, reply) => {
      const p = principal(req);
      const sessionId = p.via === 'session' ? req.cookies[sessionCookieName(ctx.config)] : undefined;
      // An open stream counts as activity: a wall display stays logged in until the session's maxAge.
      const stillValid = async () =>
        (sessionId === undefined || ctx.sessions.get(sessionId) !== undefined) && (await ctx.tokens.check(p.tokenId)).ok;
      const lastEventId = req.headers['last-event-id'];
      ctx.hub.add(
        p,
        reply.raw,
        { ...securityHeaders(req.protocol === 'https') },
        stillValid,
        typeof lastEventId === 'string' ? lastEventId : undefined,
      );
      reply.hijack();
    },
  );
}
