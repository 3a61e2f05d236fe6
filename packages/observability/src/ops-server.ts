import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createTimedServer, fastifyTimeoutOptions, type HttpTimeouts } from './http-timeouts.js';
import { atLeastWarn } from './logger.js';
import { ServiceMetrics } from './metrics.js';

/** Something whose readiness /readyz reports: a service, the Kafka producer, the store. */
export interface ReadinessCheck {
  name: string;
  /** ready, or a short reason why not (no stack traces, no secrets). */
  check(): { ready: true } | { ready: false; reason: string };
}

export interface OpsServerOptions {
  registry: Registry;
  logger: Logger;
  /** Readiness checks, read at each request so components registered later are included. */
  readiness: () => readonly ReadinessCheck[];
  /** Per-request size limit of the body (bytes). */
  bodyLimit?: number;
  /** Slow-client time-outs (config http.timeouts); Node's defaults when absent. */
  timeouts?: HttpTimeouts;
  /**
   * Another app served on the same port (the API and dashboard): requests for any path but
   * /healthz, /readyz and /metrics go to the handler this returns, when it returns one. Read at
   * each request, because that app starts after this server is already listening.
   */
  fallback?: () => ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
}

const OPS_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * The HTTP server every flowwatch process runs: /healthz (alive), /readyz (can do its work),
 * /metrics (Prometheus). Built apart from listen() so tests use inject(); services that serve
 * HTTP (the API, the push endpoint) register their routes on the same instance.
 */
export function buildOpsServer(options: OpsServerOptions): FastifyInstance {
  const app = Fastify({
    // Per-request logs are off (warn level): request counts and latency are metrics instead.
    loggerInstance: options.logger.child({ component: 'http' }, { level: atLeastWarn(options.logger) }) as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    return503OnClosing: true,
    ...(options.timeouts ? fastifyTimeoutOptions(options.timeouts) : {}),
    ...(options.fallback
      ? {
          serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) =>
            createTimedServer(options.timeouts ?? { headersMs: 60_000, requestMs: 300_000, idleMs: 0 }, (req, res) => {
              const other = options.fallback?.();
              const path = (req.url ?? '/').split('?')[0] as string;
              if (other && !OPS_PATHS.has(path)) other(req, res);
              else handler(req, res);
            }),
        }
      : {}),
  }) as unknown as FastifyInstance;

  const metrics = new ServiceMetrics(options.registry, 'http');
  const requests = metrics.counter('requests', 'HTTP requests by route and status class', ['method', 'route', 'status']);
  const duration = metrics.histogram(
    'request_duration',
    'seconds',
    'HTTP request duration by route',
    [0.001, 0.005, 0.025, 0.1, 0.5, 2.5],
    ['route'],
  );
  app.addHook('onResponse', async (req, reply) => {
    // The route pattern, never the raw URL: labels stay a small fixed set.
    const route = req.routeOptions.url ?? 'unmatched';
    requests.inc({ method: req.method, route, status: `${Math.floor(reply.statusCode / 100)}xx` });
    duration.observe({ route }, reply.elapsedTime / 1000);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const checks = options.readiness().map((c) => ({ name: c.name, ...c.check() }));
    const ready = checks.every((c) => c.ready);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });

  app.get('/metrics', async (_req, reply) => {
    const body = await options.registry.metrics();
    return reply.header('content-type', options.registry.contentType).send(body);
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
    // Clients get the reason for their own mistakes, never internals.
    void reply.code(status).send({ error: err.code ?? 'error', message: status >= 500 ? 'internal error' : err.message });
  });
  return app;
}
