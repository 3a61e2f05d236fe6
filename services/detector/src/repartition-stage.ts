import type { RegistryConfig } from '@flowwatch/config';
import { FAMILY } from '@flowwatch/detection';
import { Enricher } from '@flowwatch/enrichment';
import { decodeFlows, heartbeatHeaders, heartbeatOf } from '@flowwatch/flow-schema';
import { BufferedProducer, type ConsumedBatch, DurableConsumer, type ProducerOptions } from '@flowwatch/kafka';
import { type Registry, ServiceMetrics } from '@flowwatch/observability';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { ByEntityBatcher, EntityRouter } from './entity-router.js';
import { usable } from './usable.js';

export interface RepartitionStageDeps {
  logger: Logger;
  registry: Registry;
  kafka: Kafka;
  producerOptions: ProducerOptions;
  topics: { flows: string; byEntity: string };
}

export interface RepartitionStageOptions {
  /** Consumer group of the stage on `flows` (all detector instances share it). */
  groupId: string;
  fromBeginning: boolean;
  /** Partitions of `flows.by-entity` (read from the broker at start). */
  partitions: number;
}

/**
 * The repartition stage (runs inside each detector instance when `detector.repartition.enabled`):
 * consumes `flows` in its own group, enriches each record once and re-publishes it to
 * `flows.by-entity` on the partition of each entity that owns detector state for it (EntityRouter),
 * with the families to run on that copy in a header. Offsets on `flows` are committed once the
 * copies are acknowledged (at least once, like the detector itself).
 */
export class RepartitionStage {
  readonly router: EntityRouter;
  readonly #batcher: ByEntityBatcher;
  #enricher: Enricher;
  readonly #producer: BufferedProducer;
  readonly #consumer: DurableConsumer;
  readonly #m;

  constructor(
    private readonly deps: RepartitionStageDeps,
    options: RepartitionStageOptions,
    registryConfig: RegistryConfig,
  ) {
    const logger = deps.logger.child({ component: 'repartition' });
    // flowwatch_detector_repartition_*: the stage's own figures and its Kafka client's.
    const metrics = new ServiceMetrics(deps.registry, 'detector_repartition');
    this.#m = {
      flows: metrics.counter('flows_consumed', 'Flow records read from `flows` and routed'),
      copies: metrics.counter('copies_produced', 'Flow copies published to `flows.by-entity` (one per owning partition)'),
      messages: metrics.counter('messages_produced', 'Messages published to `flows.by-entity`'),
      bad: metrics.counter('invalid_records', 'Lines or records that could not be routed', ['reason']),
      duration: metrics.histogram(
        'batch_duration',
        'seconds',
        'Enrich, route and publish one consumed batch, until its copies are acknowledged',
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ),
    };
    this.router = new EntityRouter(options.partitions);
    this.#batcher = new ByEntityBatcher(this.router);
    this.#enricher = new Enricher(registryConfig);
    this.#producer = new BufferedProducer(deps.kafka, deps.producerOptions, metrics, logger);
    this.#consumer = new DurableConsumer(
      deps.kafka,
      {
        groupId: options.groupId,
        topics: [deps.topics.flows],
        fromBeginning: options.fromBeginning,
        handle: (batch) => this.#handle(batch),
        maxBytesPerPartition: 4 * 1024 * 1024,
        minBytes: 1,
        maxWaitTimeInMs: 250,
      },
      metrics,
      logger,
    );
  }

  async #handle(batch: ConsumedBatch): Promise<void> {
    const t0 = process.hrtime.bigint();
    let n = 0;
    const beats = [];
    for (const message of batch.messages) {
      const beat = heartbeatOf(message.headers);
      if (beat !== undefined) {
        // Telemetry without flows goes to the network lane, which keeps silence and the volume
        // entities the exporter carries (their drops wait for its delivery).
        beats.push({
          partition: this.router.networkPartition,
          value: '',
          headers: { ...heartbeatHeaders(beat), families: String(FAMILY.silence | FAMILY.volume) },
        });
        continue;
      }
      if (!message.value) continue;
      const { records, badLines, problem } = decodeFlows(message.value);
      if (badLines > 0) this.#m.bad.inc({ reason: 'invalid_json' }, badLines);
      if (problem !== undefined) this.#m.bad.inc({ reason: 'invalid_binary' });
      for (const record of records) {
        if (!usable(record)) {
          this.#m.bad.inc({ reason: 'invalid_record' });
          continue;
        }
        this.#batcher.add(this.#enricher.enrich(record));
        n++;
      }
    }
    const { messages: copied, copies } = this.#batcher.take();
    const messages = beats.length > 0 ? [...copied, ...beats] : copied;
    if (messages.length > 0) {
      // Backpressure: wait for room rather than refuse (a refused copy would be a lost flow).
      await this.#producer.whenWritable();
      const result = this.#producer.send(this.deps.topics.byEntity, messages);
      if (result !== 'queued') throw new Error(`flows.by-entity copies refused (${result}); the batch is retried`);
      await this.#producer.flush();
    }
    this.#m.flows.inc(n);
    this.#m.copies.inc(copies);
    this.#m.messages.inc(messages.length);
    this.#m.duration.observe(Number(process.hrtime.bigint() - t0) / 1e9);
  }

  async start(): Promise<void> {
    await this.#producer.start();
    await this.#consumer.start();
  }

  /** Stops consuming, then drains what was produced. */
  async stop(): Promise<void> {
    await this.#consumer.stop();
    await this.#producer.stop();
  }

  setRegistry(registry: RegistryConfig): void {
    this.#enricher = new Enricher(registry);
  }

  ready(): { ready: true } | { ready: false; reason: string } {
    return this.#producer.ready();
  }
}
