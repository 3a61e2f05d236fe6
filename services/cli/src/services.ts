import { type Aggregator, createAggregator } from '@flowwatch/aggregator';
import { type Api, createApi, TokenStore } from '@flowwatch/api';
import { type Collector, createCollector } from '@flowwatch/collector';
import type { Config } from '@flowwatch/config';
import { createDetector, type Detector, type DetectorDeps } from '@flowwatch/detector';
import type { Service } from '@flowwatch/lifecycle';
import { planSimulation } from '@flowwatch/simulator';
import { collectorTarget, createSimulator, type Simulator } from '@flowwatch/simulator-service';
import type { Platform } from './platform.js';

/** A pipeline service; `reload` applies a new, already validated configuration without a restart. */
export interface PipelineService extends Service {
  reload(config: Config): void;
}

/**
 * The pipeline services `flowwatch start` can run, by the name used in config `services` and
 * `--services`. Each is a factory over the shared platform; the runner starts them in the order
 * configured, after the platform and before the process is marked ready.
 */
export const SERVICE_FACTORIES: Readonly<Record<string, (platform: Platform) => PipelineService>> = {
  collector: (p) =>
    lazyService<Collector>(
      'collector',
      () => createCollector(pipelineDeps(p), p.config.collector, p.config.registry),
      (collector, config) => collector.reload(config.registry),
    ),
  aggregator: (p) =>
    lazyService<Aggregator>(
      'aggregator',
      () =>
        createAggregator(
          { ...pipelineDeps(p), clickhouse: p.clickhouse().client },
          { ...p.config.aggregator, rawTtlDays: p.config.storage.rawTtlDays },
          p.config.registry,
        ),
      (aggregator, config) => aggregator.reload(config.registry),
    ),
  detector: (p) => detectorService(p),
  // Sends to this process's collector; its registry must hold the simulated network's (start --demo merges it).
  simulator: (p) =>
    lazyService<Simulator>(
      'simulator',
      () =>
        createSimulator(
          { logger: p.logger, registry: p.registry },
          p.config.simulator,
          planSimulation(p.config.simulator, Date.now()),
          collectorTarget(p.config.collector),
        ),
      () => {},
    ),
  api: (p) =>
    lazyService<Api>(
      'api',
      () => {
        const { api, http, storage } = p.config;
        // Unset (the default) or equal to the HTTP server's address, the API shares that server; otherwise it listens itself.
        const host = api.host ?? http.host;
        const port = api.port ?? http.port;
        const shared = host === http.host && port === http.port;
        const service = createApi(
          {
            logger: p.logger,
            registry: p.registry,
            clickhouse: p.clickhouse().client,
            kafka: p.kafka(),
            alertsTopic: p.config.kafka.topics.alerts.name,
            retention: { rawDays: storage.rawTtlDays, minuteDays: storage.minuteTtlDays, hourDays: storage.hourTtlDays },
            registryConfig: p.config.registry,
            serve: shared ? { mount: (handler) => p.mount(handler), url: `http://${http.host}:${http.port}` } : { listen: { host, port } },
            readiness: p.readiness,
          },
          api,
        );
        return {
          name: service.name,
          start: async () => {
            await service.start();
            p.progress(`dashboard and API on ${service.url()}/ (OpenAPI: ${service.url()}/api/openapi.json)`);
            if (api.demoLogin) {
              const { token } = await new TokenStore(p.clickhouse().client, { cacheMs: 0 }).create({
                name: 'demo analyst',
                role: 'analyst',
                createdBy: 'start --demo',
                expiresAt: Date.now() + 86_400_000,
              });
              p.progress(`demo: open ${service.url()}/ and log in with the token ${token} (analyst, valid for a day)`);
            }
          },
          stop: () => service.stop(),
          reload: (registry: Config['registry']) => service.reload(registry),
          app: () => service.app(),
          url: () => service.url(),
        };
      },
      (service, config) => service.reload(config.registry),
    ),
};

/** What every pipeline service takes from the platform (once it has started). */
/** The detector over the platform; `extra` replaces where its warm start comes from (the evaluation's simulated history). */
export function detectorService(p: Platform, extra: Pick<DetectorDeps, 'warmStart'> = {}): PipelineService {
  return lazyService<Detector>(
    'detector',
    () =>
      createDetector(
        {
          ...pipelineDeps(p),
          clickhouse: p.clickhouse().client,
          topics: {
            flows: p.config.kafka.topics.flows.name,
            alerts: p.config.kafka.topics.alerts.name,
            state: p.config.kafka.topics.detectorState.name,
            byEntity: p.config.kafka.topics.flowsByEntity.name,
          },
          ...extra,
        },
        p.config.detector,
        p.config.registry,
      ),
    (detector, config) => detector.reload(config.registry),
  );
}

function pipelineDeps(p: Platform) {
  return {
    logger: p.logger,
    registry: p.registry,
    kafka: p.kafka(),
    producerOptions: p.config.kafka.producer,
    topics: { flows: p.config.kafka.topics.flows.name, dlq: p.config.kafka.topics.flowsDlq.name },
    readiness: p.readiness,
  };
}

/**
 * Services are built when they start, because what they need from the platform (the Kafka client,
 * the ClickHouse client) exists only once the platform's own components have started.
 */
function lazyService<S extends Service>(name: string, build: () => S, reload: (service: S, config: Config) => void): PipelineService {
  let service: S | undefined;
  return {
    name,
    async start() {
      service = build();
      await service.start();
    },
    async stop() {
      await service?.stop();
    },
    reload(config) {
      if (service) reload(service, config);
    },
  };
}
