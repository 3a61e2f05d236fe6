import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ClickHouseHandle, openClickHouse, soleWriter } from '@flowwatch/clickhouse';
import type { Config } from '@flowwatch/config';
import { createKafka, ensureTopics, KafkaHealth } from '@flowwatch/kafka';
import type { Service } from '@flowwatch/lifecycle';
import { LocalKafka } from '@flowwatch/local-kafka';
import { buildOpsServer, createRegistry, type Logger, type ReadinessCheck, type Registry, ServiceMetrics } from '@flowwatch/observability';
import type { FastifyInstance } from 'fastify';
import type { Kafka } from 'kafkajs';
import { applySchema } from './migrate-command.js';

/**
 * What every flowwatch process has, whichever services it runs: the HTTP server (health,
 * readiness, metrics), Kafka (a local broker when none is configured) with its topics, and
 * ClickHouse with the schema migrated. Pipeline services receive it as their dependencies.
 */
export interface Platform {
  config: Config;
  logger: Logger;
  registry: Registry;
  http: FastifyInstance;
  /** Available once the kafka component has started. */
  kafka(): Kafka;
  /** Available once the clickhouse component has started. */
  clickhouse(): ClickHouseHandle;
  /** Readiness checks reported by /readyz; services add their own. */
  readiness: ReadinessCheck[];
  /** The infrastructure components in start order (HTTP first so /healthz answers while starting). */
  components: Service[];
  /** Runs last: clears the 'starting' readiness check and marks the process ready. */
  readyMarker: Service;
  /**
   * Serves another app (the API and dashboard) on this process's HTTP server: every path but
   * /healthz, /readyz and /metrics goes to `handler`. Returns the function that takes it back.
   */
  mount(handler: (req: IncomingMessage, res: ServerResponse) => void): () => void;
  /** A line of progress for the person at the terminal. */
  progress: (line: string) => void;
}

export function createPlatform(config: Config, logger: Logger, progress: (line: string) => void): Platform {
  const registry = createRegistry();
  const readiness: ReadinessCheck[] = [];
  let mounted: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const http = buildOpsServer({ registry, logger, readiness: () => readiness, fallback: () => mounted, timeouts: config.http.timeouts });
  const metrics = new ServiceMetrics(registry, 'platform');
  const info = metrics.gauge('build', 'info', 'flowwatch build and runtime modes', ['version', 'kafka', 'clickhouse', 'services']);

  let kafka: Kafka | undefined;
  let clickhouse: ClickHouseHandle | undefined;
  let localKafka: LocalKafka | undefined;
  let kafkaHealth: KafkaHealth | undefined;
  const starting = { name: 'startup', check: () => ({ ready: false as const, reason: 'starting' }) };
  readiness.push(starting);

  const httpComponent: Service = {
    name: 'http',
    async start() {
      await http.listen({ host: config.http.host, port: config.http.port });
      progress(`HTTP on http://${config.http.host}:${config.http.port} (/healthz, /readyz, /metrics)`);
    },
    async stop() {
      await http.close();
    },
  };

  const kafkaComponent: Service = {
    name: 'kafka',
    async start() {
      let brokers = config.kafka.brokers;
      if (brokers.length === 0) {
        localKafka = new LocalKafka({ ...config.kafka.local, progress });
        await localKafka.start();
        brokers = localKafka.brokers;
      }
      kafka = createKafka({ ...config.kafka, brokers }, logger);
      const t = config.kafka.topics;
      const topics = [t.flows, t.flowsDlq, t.alerts, t.detectorState];
      if (config.detector.repartition.enabled) topics.push(t.flowsByEntity);
      const result = await ensureTopics(kafka, topics, logger.child({ component: 'kafka' }));
      logger.info({ component: 'kafka', brokers, ...result }, 'kafka topics ready');
      kafkaHealth = new KafkaHealth(kafka);
      await kafkaHealth.start();
      const health = kafkaHealth;
      readiness.push({ name: 'kafka', check: () => health.check() });
    },
    async stop() {
      await kafkaHealth?.stop();
      await localKafka?.stop();
    },
  };

  const clickhouseComponent: Service = {
    name: 'clickhouse',
    async start() {
      clickhouse = await openClickHouse(config.clickhouse);
      const result = await applySchema(clickhouse.client, config, logger.child({ component: 'clickhouse' }), {
        writersStopped: soleWriter(clickhouse),
      });
      progress(`ClickHouse ${clickhouse.mode} at ${clickhouse.location}, database ${clickhouse.database}`);
      logger.info({ component: 'clickhouse', mode: clickhouse.mode, ...result }, 'clickhouse ready');
      let state: { ready: true } | { ready: false; reason: string } = { ready: true };
      const handle = clickhouse;
      const timer = setInterval(() => {
        void handle.client.ping().then((r) => {
          state = r.success ? { ready: true } : { ready: false, reason: `clickhouse ping failed: ${r.error.message}` };
        });
      }, 5000);
      timer.unref();
      readiness.push({ name: 'clickhouse', check: () => state });
      clickhouseTimer = timer;
    },
    async stop() {
      if (clickhouseTimer) clearInterval(clickhouseTimer);
      await clickhouse?.client.close();
    },
  };
  let clickhouseTimer: NodeJS.Timeout | undefined;

  const ready: Service = {
    name: 'ready',
    async start() {
      readiness.splice(readiness.indexOf(starting), 1);
      info.set(
        {
          version: process.env.npm_package_version ?? '0.1.0',
          kafka: localKafka ? `local-${localKafka.runtime}` : 'external',
          clickhouse: clickhouse?.mode ?? 'none',
          services: config.services.join(',') || 'none',
        },
        1,
      );
    },
    async stop() {
      readiness.push({ name: 'shutdown', check: () => ({ ready: false, reason: 'stopping' }) });
    },
  };

  return {
    config,
    logger,
    registry,
    http,
    readiness,
    kafka: () => {
      if (!kafka) throw new Error('kafka not started');
      return kafka;
    },
    clickhouse: () => {
      if (!clickhouse) throw new Error('clickhouse not started');
      return clickhouse;
    },
    components: [httpComponent, kafkaComponent, clickhouseComponent],
    readyMarker: ready,
    mount(handler) {
      mounted = handler;
      return () => {
        if (mounted === handler) mounted = undefined;
      };
    },
    progress,
  };
}
