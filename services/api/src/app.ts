import type { IncomingMessage, ServerResponse } from 'node:http';
import fastifyCookie from '@fastify/cookie';
import fastifySwagger from '@fastify/swagger';
import { createTimedServer } from '@flowwatch/observability';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import { authenticate, sessionCookieName } from './auth/authenticate.js';
import type { ApiContext } from './context.js';
import { ApiError, ERROR_CODES, type ErrorBody, type ErrorCode } from './errors.js';
import { alertRoutes } from './routes/alert-routes.js';
import { auditRoutes } from './routes/audit-routes.js';
import { registryRoutes } from './routes/registry-routes.js';
import { sessionRoutes } from './routes/session-routes.js';
import { streamRoute } from './routes/stream-route.js';
import { suppressionRoutes } from './routes/suppression-routes.js';
import { tokenRoutes } from './routes/token-routes.js';
import { trafficRoutes } from './routes/traffic-routes.js';
import { webRoutes } from './routes/web-routes.js';
import { securityHeaders } from './security-headers.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Longest path parameter the router takes (ids are at most 64 characters; longer is a 400). */
const MAX_PARAM_LENGTH = 200;

/** Query parameters that may repeat (`status=open&status=acknowledged`) and always arrive as arrays. */
const ARRAY_PARAMS = new Set(['where', 'status', 'type', 'severity', 'supplier', 'org', 'action']);
/** Of those, the ones that also take a comma-separated list (`status=open,acknowledged`). */
const LIST_PARAMS = new Set(['status', 'type', 'severity', 'supplier', 'org', 'action']);

export function parseQueryString(text: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [key, value] of new URLSearchParams(text)) {
    if (key === '__proto__') continue;
    const values = LIST_PARAMS.has(key) ? value.split(',').filter((v) => v !== '') : [value];
    const prev = out[key];
    if (ARRAY_PARAMS.has(key)) out[key] = [...((prev as string[] | undefined) ?? []), ...values];
    else out[key] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
  }
  return out;
}

/**
 * The API and dashboard as a fastify app, built apart from any listener: tests use `inject()`,
 * `flowwatch start` either hands `handler` to the process's HTTP server (same host and port) or
 * listens on its own. Routes carry zod schemas (validation, and the OpenAPI document at
 * /api/openapi.json) and an `access` (a permission, `authenticated` or `public`) checked by the
 * onRequest hook before anything else runs.
 */
export async function buildApiApp(ctx: ApiContext): Promise<{ app: FastifyInstance; handler: RequestHandler }> {
  let handler: RequestHandler | undefined;
  const app = Fastify({
    loggerInstance: ctx.logger.child({ component: 'api' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: ctx.config.bodyLimitBytes,
    trustProxy: ctx.config.trustProxy,
    return503OnClosing: true,
    keepAliveTimeout: 10_000,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH, querystringParser: parseQueryString },
    // The router's own refusals (a path segment over maxParamLength, a malformed %-escape) answer
    // with the one documented error body: fastify's default is an undocumented 414 (schemathesis).
    frameworkErrors: (err, _req, reply) =>
      sendError(
        reply,
        'bad_request',
        err.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? `a path parameter is longer than ${MAX_PARAM_LENGTH} characters`
          : 'the path is not valid',
        'params',
      ),
    // Captures fastify's request handler, so the app can be served by another server.
    serverFactory: (h) => {
      handler = h as RequestHandler;
      return createTimedServer(ctx.config.timeouts, h);
    },
  }) as unknown as FastifyInstance;

  app.decorateRequest('principal', null);
  app.decorateRequest('session', null);
  app.setValidatorCompiler(validatorCompiler);
  // Responses are built by the code from typed values; their zod schemas document them (OpenAPI)
  // and type the handlers, and serialising is plain JSON (validating 10,000 flows per answer costs).
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.removeContentTypeParser(['text/plain']);

  await app.register(fastifyCookie, { hook: 'onRequest' });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'flowwatch API',
        version: '1.0.0',
        description:
          'Alerts, traffic, flows and the live stream of flowwatch, the traffic anomaly monitor. Design, roles and errors: docs/api.md.',
      },
      components: {
        securitySchemes: {
          bearerToken: { type: 'http', scheme: 'bearer', description: 'An API token: fwt_<id>_<secret> (flowwatch token create)' },
          session: {
            type: 'apiKey',
            in: 'cookie',
            name: sessionCookieName(ctx.config),
            description: 'Dashboard session from POST /api/v1/session; changes also need the x-csrf-token header',
          },
        },
      },
      security: [{ bearerToken: [] }, { session: [] }],
    },
    transform: jsonSchemaTransform,
    // Schemas with a zod `meta({ id })` (Error, Alert, Flow, ...) become components, referenced by $ref.
    transformObject: jsonSchemaTransformObject,
  });

  app.addHook('onRequest', async (req, reply) => {
    void reply.headers(securityHeaders(req.protocol === 'https'));
    // Alerts, flows and tokens are not for shared caches or the browser's back button.
    if (req.url.startsWith('/api/')) void reply.header('cache-control', 'no-store');
    await authenticate(ctx, req, reply);
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    ctx.metrics.requests.inc({ method: req.method, route, status: `${Math.floor(reply.statusCode / 100)}xx` });
    ctx.metrics.duration.observe({ route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validationContext?: string }, req, reply) => {
    if (err instanceof ApiError) return sendError(reply, err.code, err.message, err.field, err.headers);
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext === 'querystring' ? 'query' : (err.validationContext ?? 'input');
      const issues = err.validation.map((v) => ({ field: fieldName(where, v.instancePath), message: v.message ?? 'invalid' }));
      const first = issues[0] as { field: string; message: string };
      return sendError(reply, 'bad_request', issues.map((i) => `${i.field}: ${i.message}`).join('; '), first.field);
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return sendError(reply, 'payload_too_large', `the body is larger than ${ctx.config.bodyLimitBytes} bytes`);
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return sendError(reply, 'unsupported_media_type', 'bodies must be application/json');
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      // fastify's own 4xx (a body that is not JSON, an empty JSON body, a bad header): the client's mistake.
      return sendError(reply, 'bad_request', err.message.replace(/^Body /, 'body '), 'body');
    }
    req.log.error({ err, route: req.routeOptions.url }, 'request failed');
    return sendError(reply, 'internal', 'internal error');
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`));

  await app.register(async (api) => {
    sessionRoutes(api, ctx);
    alertRoutes(api, ctx);
    suppressionRoutes(api, ctx);
    trafficRoutes(api, ctx);
    auditRoutes(api, ctx);
    tokenRoutes(api, ctx);
    registryRoutes(api, ctx);
    streamRoute(api, ctx);
  });
  app.get('/api/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () => app.swagger());
  webRoutes(app, ctx);

  await app.ready();
  if (!handler) throw new Error('fastify did not call serverFactory');
  return { app, handler };
}

/** `query` + `/where/1` -> `query.where[1]`. */
function fieldName(where: string, instancePath: string): string {
  const parts = instancePath.split('/').filter(Boolean);
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : `${acc}.${p}`), where);
}

export function sendError(
  reply: FastifyReply,
  code: ErrorCode,
  message: string,
  field?: string,
  headers?: Readonly<Record<string, string>>,
): FastifyReply {
  // A message about one input names it first, as validation messages do: "query.to: must be after from".
  const body: ErrorBody = { error: code, message: field && !message.startsWith(field) ? `${field}: ${message}` : message };
  if (field) body.field = field;
  if (headers) void reply.headers(headers);
  return reply.code(ERROR_CODES[code].status).header('cache-control', 'no-store').type('application/json').send(body);
}
