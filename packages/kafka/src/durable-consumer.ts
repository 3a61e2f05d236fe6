import type { ServiceMetrics } from '@flowwatch/observability';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';

export interface ConsumedBatch {
  topic: string;
  partition: number;
  messages: KafkaMessage[];
  /** Offset of the first and last message, for idempotent writes keyed by offset range. */
  firstOffset: string;
  lastOffset: string;
  /** The partition's high watermark when the batch was fetched: the offset after its last message then. */
  highWatermark: string;
}

export interface DurableConsumerOptions {
  groupId: string;
  topics: string[];
  /** Where a new group starts: the earliest retained message (true) or new messages only. */
  fromBeginning: boolean;
  /**
   * Makes the batch durable (written to ClickHouse, state checkpointed, ...). Offsets are
   * committed only after it resolves; if it throws, the same batch is retried with back-off
   * and consumption of that partition waits, so nothing is skipped.
   */
  handle: (batch: ConsumedBatch) => Promise<void>;
  retryBackoffMs?: number;
  maxBytesPerPartition?: number;
  /** A fetch waits for this many bytes, or `maxWaitTimeInMs`: larger, fewer batches at low rates. */
  minBytes?: number;
  maxWaitTimeInMs?: number;
  /**
   * Partitions handled at once (kafkajs `partitionsConsumedConcurrently`; each partition's batches
   * stay in order): one partition's batch is worked on while another's write is in flight.
   */
  partitionsConcurrently?: number;
  /**
   * Called with this member's partitions per topic each time it joins the group (after every
   * rebalance), before batches of the new assignment are handled: state owned per partition is
   * restored or dropped here.
   */
  onAssignment?: (assignment: Record<string, number[]>) => void;
}

/**
 * A kafkajs consumer with manual offset commits after work is durable (at-least-once; the
 * handler makes its effects idempotent for exactly-once results).
 */
export class DurableConsumer {
  private readonly consumer: Consumer;
  private stopped = false;
  private readonly m;
  private assigned = 0;

  constructor(
    kafka: Kafka,
    private readonly options: DurableConsumerOptions,
    metrics: ServiceMetrics,
    private readonly logger: Logger,
  ) {
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 4 * 1024 * 1024,
      minBytes: options.minBytes ?? 1,
      maxWaitTimeInMs: options.maxWaitTimeInMs ?? 1000,
      // A dead member (killed, partitioned) is noticed in 10 s and its partitions move; a member
      // busy retrying a batch keeps heart-beating from the retry loop.
      sessionTimeout: 10_000,
      rebalanceTimeout: 20_000,
      heartbeatInterval: 2000,
      retry: { retries: 10 },
    });
    this.m = {
      consumed: metrics.counter('kafka_consumed_messages', 'Messages handled and committed', ['topic']),
      retries: metrics.counter('kafka_handler_retries', 'Batches retried because the handler failed', ['topic']),
      lag: metrics.gauge('kafka_consumer_lag', 'messages', 'Messages behind the partition end after the last batch', [
        'topic',
        'partition',
      ]),
      assigned: metrics.gauge('kafka_assigned', 'partitions', 'Partitions assigned to this consumer'),
    };
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      this.assigned = Object.values(e.payload.memberAssignment).reduce((n, p) => n + p.length, 0);
      this.m.assigned.set(this.assigned);
      this.logger.info({ assignment: e.payload.memberAssignment }, 'joined consumer group');
      this.options.onAssignment?.(e.payload.memberAssignment);
    });
  }

  get assignedPartitions(): number {
    return this.assigned;
  }

  async start(): Promise<void> {
    if (this.stopped) return;
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.options.topics, fromBeginning: this.options.fromBeginning });
    if (this.stopped) return;
    const backoffStart = this.options.retryBackoffMs ?? 500;
    await this.consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: this.options.partitionsConcurrently ?? 1,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
        if (batch.messages.length === 0) return;
        const first = batch.messages[0] as KafkaMessage;
        const last = batch.messages[batch.messages.length - 1] as KafkaMessage;
        const consumed: ConsumedBatch = {
          topic: batch.topic,
          partition: batch.partition,
          messages: batch.messages,
          firstOffset: first.offset,
          lastOffset: last.offset,
          highWatermark: batch.highWatermark,
        };
        let backoff = backoffStart;
        for (;;) {
          if (!isRunning() || isStale() || this.stopped) return;
          // A long batch (a slow insert, a busy shared core) must not cost the group membership:
          // heart-beat while the handler works (kafkajs sends at most one per heartbeatInterval).
          const beating = setInterval(() => void heartbeat().catch(() => {}), 1000);
          try {
            await this.options.handle(consumed);
            break;
          } catch (err) {
            this.m.retries.inc({ topic: batch.topic });
            this.logger.warn(
              { err: err instanceof Error ? err.message : String(err), topic: batch.topic, partition: batch.partition, backoff },
              'batch handler failed; retrying the same batch',
            );
            await sleep(backoff);
            backoff = Math.min(backoff * 2, 10_000);
            await heartbeat().catch(() => {});
          } finally {
            clearInterval(beating);
          }
        }
        resolveOffset(last.offset);
        try {
          await this.consumer.commitOffsets([
            { topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() },
          ]);
        } catch (err) {
          // Thrown out of eachBatch, a commit refused because this member was dropped from the group
          // (a stall longer than the session) crashed the consumer for good: kafkajs does not restart
          // on non-retriable errors. The batch is uncommitted, so it is consumed again after the
          // re-join (at least once); return and let kafkajs re-join.
          if (!isRebalanceError(err)) throw err;
          this.logger.warn(
            { err: (err as Error).message, topic: batch.topic, partition: batch.partition },
            'commit refused by a rebalance; re-joining',
          );
          return;
        }
        this.m.consumed.inc({ topic: batch.topic }, batch.messages.length);
        this.m.lag.set({ topic: batch.topic, partition: String(batch.partition) }, Number(batch.offsetLag()));
        await heartbeat();
      },
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.consumer.disconnect();
  }
}

/** Errors that mean this member's generation is over (it must re-join), not that Kafka is broken. */
export function isRebalanceError(err: unknown): boolean {
  for (let e = err as { type?: string; cause?: unknown } | undefined; e !== undefined && e !== null; e = e.cause as typeof e) {
    if (e.type === 'UNKNOWN_MEMBER_ID' || e.type === 'ILLEGAL_GENERATION' || e.type === 'REBALANCE_IN_PROGRESS') return true;
  }
  return false;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
