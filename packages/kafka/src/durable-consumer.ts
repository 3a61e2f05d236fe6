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
   * and consumption of that partition waits, so nothing is skipped. It may instead hand back the
   * batch's write (a `BatchWrite`), which makes it durable: see `writesInFlight`.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a handler that makes its batch durable itself returns nothing
  handle: (batch: ConsumedBatch) => Promise<void | BatchWrite>;
  /**
   * Writes handed back by `handle` that may be in flight at once. 0 (the default): a write runs
   * at once, before the batch's commit. Above 0, `eachBatch` returns once the write has started,
   * so the next fetch is handled while it runs; the partition's next batch waits for it, and the
   * batch's offsets are committed when it resolves. A failed write is retried as it is, with
   * back-off, until it succeeds or the consumer stops: it must be idempotent.
   */
  writesInFlight?: number;
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

/** The part of a batch's work that makes it durable, run after `handle` (DurableConsumerOptions.writesInFlight). */
export type BatchWrite = () => Promise<void>;

/**
 * A kafkajs consumer with manual offset commits after work is durable (at-least-once; the
 * handler makes its effects idempotent for exactly-once results).
 */
export class DurableConsumer {
  private readonly consumer: Consumer;
  private stopped = false;
  private readonly m;
  private assigned = 0;
  /** Per topic/partition: its last batch's write and commit, which its next batch waits for. */
  readonly #writes = new Map<string, Promise<void>>();
  #inFlight = 0;
  readonly #slotWaiters: (() => void)[] = [];

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
        const live = () => isRunning() && !isStale() && !this.stopped;
        const key = `${batch.topic}/${batch.partition}`;
        // A long batch (a slow insert, a busy shared core, the previous write of the partition)
        // must not cost the group membership: heart-beat while it waits (kafkajs sends at most one
        // per heartbeatInterval).
        const beating = setInterval(() => void heartbeat().catch(() => {}), 1000);
        try {
          // The partition's previous batch first: its write and commit (a no-op when none is pending).
          await this.#writes.get(key);
          let write: BatchWrite | undefined;
          const handled = await this.#retrying(consumed, live, heartbeat, async () => {
            write = (await this.options.handle(consumed)) ?? undefined;
          });
          if (!handled) return;
          const inFlight = this.options.writesInFlight ?? 0;
          if (write === undefined || inFlight === 0) {
            if (write !== undefined && !(await this.#retrying(consumed, live, heartbeat, write))) return;
            resolveOffset(last.offset);
            await this.#commit(consumed, batch.offsetLag(), true);
            await heartbeat();
            return;
          }
          await this.#slot(inFlight);
          // Fetching goes on from here; the offsets are committed once the write lands.
          resolveOffset(last.offset);
          const lag = batch.offsetLag();
          const durable = write;
          this.#writes.set(
            key,
            (async () => {
              try {
                if (await this.#retrying(consumed, live, heartbeat, durable)) await this.#commit(consumed, lag, false);
              } finally {
                this.#release();
              }
            })(),
          );
        } finally {
          clearInterval(beating);
        }
      },
    });
  }

  /** Runs `work` until it succeeds (true), retrying with back-off, or the batch is no longer live (false). */
  async #retrying(batch: ConsumedBatch, live: () => boolean, heartbeat: () => Promise<void>, work: () => Promise<void>): Promise<boolean> {
    let backoff = this.options.retryBackoffMs ?? 500;
    for (;;) {
      if (!live()) return false;
      try {
        await work();
        return true;
      } catch (err) {
        this.m.retries.inc({ topic: batch.topic });
        this.logger.warn(
          { err: err instanceof Error ? err.message : String(err), topic: batch.topic, partition: batch.partition, backoff },
          'batch handler failed; retrying the same batch',
        );
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 10_000);
        await heartbeat().catch(() => {});
      }
    }
  }

  /**
   * Commits the offset after the batch. A commit refused because this member was dropped from the
   * group (a stall longer than the session) is left to the re-join: the batch is uncommitted, so
   * it is consumed again (at least once). Other failures are thrown out of eachBatch (`rethrow`),
   * or, for a write that finished after its eachBatch returned, logged and left uncommitted.
   */
  async #commit(batch: ConsumedBatch, lag: number | string, rethrow: boolean): Promise<void> {
    try {
      await this.consumer.commitOffsets([
        { topic: batch.topic, partition: batch.partition, offset: (BigInt(batch.lastOffset) + 1n).toString() },
      ]);
    } catch (err) {
      // Thrown out of eachBatch, a non-rebalance failure crashed the consumer for good: kafkajs
      // does not restart on non-retriable errors.
      if (rethrow && !isRebalanceError(err)) throw err;
      this.logger.warn(
        { err: (err as Error).message, topic: batch.topic, partition: batch.partition },
        isRebalanceError(err) ? 'commit refused by a rebalance; re-joining' : 'commit failed; the batch will be consumed again',
      );
      return;
    }
    this.m.consumed.inc({ topic: batch.topic }, batch.messages.length);
    this.m.lag.set({ topic: batch.topic, partition: String(batch.partition) }, Number(lag));
  }

  async #slot(max: number): Promise<void> {
    while (this.#inFlight >= max) await new Promise<void>((r) => this.#slotWaiters.push(r));
    this.#inFlight++;
  }

  #release(): void {
    this.#inFlight--;
    this.#slotWaiters.shift()?.();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Writes under way finish (a failing one stops retrying): their commits go out before leaving.
    await Promise.allSettled(this.#writes.values());
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
