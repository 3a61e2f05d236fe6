import type { ClickHouseClient, Retention } from '@flowwatch/clickhouse';
import type { ApiConfig, RegistryConfig } from '@flowwatch/config';
import type { Service } from '@flowwatch/lifecycle';
import type { ReadinessCheck, Registry } from '@flowwatch/observability';
import type { FastifyInstance } from 'fastify';
import type { Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { ALERTS_SCHEMA, type AlertMessage } from './alerts/alert-record.js';
import { AlertStore } from './alerts/alert-store.js';
import { createApiMetrics } from './api-metrics.js';
import { buildApiApp, type RequestHandler } from './app.js';
import { AuditLog } from './audit-log.js';
import { SessionStore } from './auth/sessions.js';
import { TokenStore } from './auth/tokens.js';
import type { ApiContext } from './context.js';
import { LiveHub } from './live-hub.js';
import { RateLimiter } from './rate-limit.js';
import { SuppressionStore } from './suppressions.js';
import { loadWebAssets } from './web-assets.js';

export interface ApiDeps {
  logger: Logger;
  registry: Registry;
  clickhouse: ClickHouseClient;
  /** Kafka for the live stream (topic `alerts`) and for publishing analysts' changes; absent: ClickHouse polling only. */
  kafka?: Kafka | undefined;
  alertsTopic: string;
  retention: Retention;
  /** The organisations' registry as configured (suppliers, names). */
  registryConfig: RegistryConfig;
  /**
   * Where to answer: through the process's HTTP server (`mount` hands it the app's request handler
   * and returns the function that takes it back; `url` is that server's address), or on a listener
   * of its own.
   */
  serve: { mount: (handler: RequestHandler) => () => void; url: string } | { listen: { host: string; port: number } };
  readiness?: ReadinessCheck[];
  now?: () => number;
}

export interface Api extends Service {
  reload(registry: RegistryConfig): void;
  /** The fastify app, once started (tests inject through it). */
  app(): FastifyInstance;
  /** Where it answers, once started: http://host:port. */
  url(): string;
}

/**
 * The operations centre's API and dashboard (issue 7): alerts, suppressions, traffic, the live
 * stream, tokens and sessions, the audit log, and the page, all on one fastify app. Design:
 * docs/api.md.
 */
export function createApi(deps: ApiDeps, config: ApiConfig): Api {
  const logger = deps.logger.child({ component: 'api' });
  const now = deps.now ?? Date.now;
  let registryConfig = deps.registryConfig;
  let app: FastifyInstance | undefined;
  let hub: LiveHub | undefined;
  let producer: Producer | undefined;
  let unmount: (() => void) | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  let url = '';
  let stopped = false;

  return {
    name: 'api',
    async start() {
      const metrics = createApiMetrics(deps.registry);
      const alerts = new AlertStore(deps.clickhouse, now);
      hub = new LiveHub(
        { alerts, clickhouse: deps.clickhouse, kafka: deps.kafka, alertsTopic: deps.alertsTopic, logger, metrics },
        config.stream,
        now,
      );
      const sessions = new SessionStore({ ...config.session, now });
      const ctx: ApiContext = {
        config,
        clickhouse: deps.clickhouse,
        logger,
        metrics,
        tokens: new TokenStore(deps.clickhouse, { cacheMs: config.tokenCacheMs, now }),
        sessions,
        alerts,
        audit: new AuditLog(deps.clickhouse, now),
        suppressions: new SuppressionStore(deps.clickhouse, now),
        hub,
        web: loadWebAssets(config.webRoot),
        limits: {
          requests: new RateLimiter(config.rateLimit.requestsPerSecond, config.rateLimit.burst),
          authFailures: new RateLimiter(config.rateLimit.authFailuresPerMinute / 60, config.rateLimit.authFailuresPerMinute),
        },
        retention: deps.retention,
        registry: () => registryConfig,
        publish: async (message: AlertMessage) => {
          if (!producer) return;
          await producer.send({
            topic: deps.alertsTopic,
            messages: [{ key: message.alert.fingerprint, value: JSON.stringify(message), headers: { schema: ALERTS_SCHEMA } }],
          });
        },
        now,
      };
      if (!ctx.web.built)
        logger.warn({ webRoot: ctx.web.root }, 'the dashboard is not built (pnpm --filter @flowwatch/web build); serving the API only');
      if (deps.kafka) {
        producer = deps.kafka.producer({ allowAutoTopicCreation: false });
        await producer.connect();
      }
      await hub.start();
      const built = await buildApiApp(ctx);
      app = built.app;
      sweeper = setInterval(() => {
        sessions.sweep();
        metrics.sessions.set(sessions.size);
      }, 60_000);
      sweeper.unref();
      if (stopped) return;
      if ('mount' in deps.serve) {
        unmount = deps.serve.mount(built.handler);
        url = deps.serve.url;
      } else {
        const { host, port } = deps.serve.listen;
        await app.listen({ host, port });
        const address = app.server.address();
        url = `http://${host.includes(':') ? `[${host}]` : host}:${typeof address === 'object' && address ? address.port : port}`;
      }
      logger.info({ url, dashboard: ctx.web.built, streamFromKafka: Boolean(deps.kafka) }, 'api and dashboard ready');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (sweeper) clearInterval(sweeper);
      unmount?.();
      await hub?.stop();
      await app?.close();
      await producer?.disconnect().catch(() => undefined);
    },
    reload(registry) {
      registryConfig = registry;
    },
    app() {
      if (!app) throw new Error('api not started');
      return app;
    },
    url: () => url,
  };
}
