import type { ServiceMetrics } from '@flowwatch/observability';
import { CompressionTypes, type Kafka, type Message, type Producer, type TopicMessages } from 'kafkajs';
import type { Logger } from 'pino';

export interface ProducerOptions {
  maxBufferedMessages: number;
  maxBufferedBytes: number;
  lingerMs: number;
  batchMaxMessages: number;
  /** Uncompressed bytes per produce request at most (keep under the broker's message.max.bytes). */
  batchMaxBytes?: number;
  compression: 'none' | 'gzip' | 'lz4' | 'snappy';
  acks: -1 | 0 | 1;
  retryBackoffMs: number;
}

export interface OutgoingMessage {
  key?: string | Buffer | null;
  value: string | Buffer;
  headers?: Record<string, string>;
  timestamp?: string;
  /** An explicit partition (a caller that partitions by its own hash); else the key's. */
  partition?: number;
}

interface Queued {
  topic: string;
  message: Message;
  size: number;
}

/** Why send() refused messages: they are counted under this reason, never silently lost. */
export type Refusal = 'buffer_full' | 'stopped';

/**
 * A producer with a bounded in-memory buffer in front of kafkajs. send() never blocks: it queues
 * or refuses (and counts) the messages, so a UDP receive loop is never stalled by Kafka. Callers
 * that can wait (HTTP push, consumers re-publishing) await `whenWritable()` for backpressure.
 * A background loop sends batches with linger, compression and retry with back-off; while Kafka
 * is unreachable the buffer fills and `ready()` is false.
 */
export class BufferedProducer {
  private readonly queue: Queued[] = [];
  private head = 0;
  private bytes = 0;
  private running = false;
  private connected = false;
  private lastError: string | undefined;
  private wake: (() => void) | undefined;
  private readonly stopWaiters = new Set<() => void>();
  private loop: Promise<void> | undefined;
  private readonly waiters: (() => void)[] = [];
  private readonly drained: (() => void)[] = [];
  private readonly producer: Producer;
  private readonly m;

  constructor(
    kafka: Kafka,
    private readonly options: ProducerOptions,
    metrics: ServiceMetrics,
    private readonly logger: Logger,
  ) {
    this.producer = kafka.producer({
      // Idempotence makes kafkajs's own retries of one request safe against duplicates.
      idempotent: options.acks === -1,
      maxInFlightRequests: options.acks === -1 ? 1 : 5,
      allowAutoTopicCreation: false,
      retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2000 },
    });
    this.m = {
      produced: metrics.counter('kafka_produced_messages', 'Messages acknowledged by Kafka', ['topic']),
      refused: metrics.counter('kafka_refused_messages', 'Messages refused by the producer buffer, by reason', ['topic', 'reason']),
      errors: metrics.counter('kafka_produce_errors', 'Failed produce requests (retried)'),
      bufferMessages: metrics.gauge('kafka_buffer', 'messages', 'Messages waiting in the producer buffer'),
      bufferBytes: metrics.gauge('kafka_buffer', 'bytes', 'Bytes waiting in the producer buffer'),
      bufferFill: metrics.gauge('kafka_buffer_fill', 'ratio', 'Fill of the producer buffer (0..1, the fuller of count and bytes)'),
      latency: metrics.histogram(
        'kafka_produce_duration',
        'seconds',
        'Time of one produce request',
        [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ),
    };
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Queues all messages or none. Returns 'queued' or the reason they were refused (and counted). */
  send(topic: string, messages: readonly OutgoingMessage[]): 'queued' | Refusal {
    if (!this.running) return this.refuse(topic, messages.length, 'stopped');
    let size = 0;
    for (const m of messages) size += byteLength(m.value) + (m.key ? byteLength(m.key) : 0);
    if (this.length + messages.length > this.options.maxBufferedMessages || this.bytes + size > this.options.maxBufferedBytes) {
      return this.refuse(topic, messages.length, 'buffer_full');
    }
    for (const m of messages) {
      const s = byteLength(m.value) + (m.key ? byteLength(m.key) : 0);
      this.queue.push({ topic, message: m as Message, size: s });
    }
    this.bytes += size;
    this.updateGauges();
    this.wake?.();
    return 'queued';
  }

  /** Resolves once the buffer is below half of its bounds (backpressure for callers that can wait). */
  whenWritable(): Promise<void> {
    if (this.belowLowWater()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Resolves when everything queued so far has been acknowledged. */
  flush(): Promise<void> {
    if (this.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  ready(): { ready: true } | { ready: false; reason: string } {
    if (!this.running) return { ready: false, reason: 'stopped' };
    if (!this.connected) return { ready: false, reason: `kafka unreachable${this.lastError ? `: ${this.lastError}` : ''}` };
    if (this.length >= this.options.maxBufferedMessages || this.bytes >= this.options.maxBufferedBytes) {
      return { ready: false, reason: 'producer buffer full' };
    }
    return { ready: true };
  }

  /**
   * Whether `n` more messages would fit now (callers that answer "retry later" instead of losing
   * data). It does not know their size: near the byte bound send() can still refuse (and count)
   * them, so callers check what send() returns.
   */
  hasRoom(n = 1): boolean {
    return this.running && this.length + n <= this.options.maxBufferedMessages && this.bytes < this.options.maxBufferedBytes;
  }

  get length(): number {
    return this.queue.length - this.head;
  }

  get bufferedBytes(): number {
    return this.bytes;
  }

  /** Drains for at most `timeoutMs`, then disconnects; what could not be sent is counted. */
  async stop(timeoutMs = 5000): Promise<void> {
    if (!this.running) return;
    if (this.length > 0) {
      await Promise.race([this.flush(), new Promise<void>((r) => setTimeout(r, timeoutMs).unref())]);
    }
    this.running = false;
    this.wake?.();
    for (const w of this.stopWaiters) w();
    await this.loop;
    if (this.length > 0) {
      const byTopic = new Map<string, number>();
      for (let i = this.head; i < this.queue.length; i++) {
        const t = (this.queue[i] as Queued).topic;
        byTopic.set(t, (byTopic.get(t) ?? 0) + 1);
      }
      for (const [topic, n] of byTopic) this.m.refused.inc({ topic, reason: 'shutdown' }, n);
      this.logger.warn({ messages: this.length }, 'producer stopped with unsent messages');
      this.queue.length = 0;
      this.head = 0;
      this.bytes = 0;
      this.updateGauges();
    }
    await this.producer.disconnect().catch(() => {});
    this.connected = false;
  }

  private refuse(topic: string, n: number, reason: Refusal): Refusal {
    this.m.refused.inc({ topic, reason }, n);
    return reason;
  }

  private belowLowWater(): boolean {
    return this.length <= this.options.maxBufferedMessages / 2 && this.bytes <= this.options.maxBufferedBytes / 2;
  }

  private updateGauges(): void {
    this.m.bufferMessages.set(this.length);
    this.m.bufferBytes.set(this.bytes);
    this.m.bufferFill.set(Math.max(this.length / this.options.maxBufferedMessages, this.bytes / this.options.maxBufferedBytes));
  }

  private async run(): Promise<void> {
    let backoff = this.options.retryBackoffMs;
    while (this.running) {
      if (!this.connected && this.length === 0) {
        // Connect before there is anything to send, so readiness reflects Kafka from the start.
        try {
          await this.producer.connect();
          this.connected = true;
          this.lastError = undefined;
          backoff = this.options.retryBackoffMs;
        } catch (err) {
          this.lastError = err instanceof Error ? err.message : String(err);
          await this.backoff(backoff);
          backoff = Math.min(backoff * 2, 10_000);
          continue;
        }
      }
      if (this.length === 0) {
        await new Promise<void>((r) => {
          this.wake = r;
        });
        this.wake = undefined;
        continue;
      }
      // Linger only while a full batch is not waiting already: sleeping before every request
      // capped the collector at one request per linger (about 1 MiB per 20 ms).
      if (this.options.lingerMs > 0 && !this.fullBatchWaiting()) await sleep(this.options.lingerMs);
      try {
        if (!this.connected) {
          await this.producer.connect();
          this.connected = true;
          this.lastError = undefined;
          this.logger.info('connected to kafka');
        }
        const n = this.batchSize();
        const t0 = process.hrtime.bigint();
        await this.producer.sendBatch({
          topicMessages: this.batch(n),
          acks: this.options.acks,
          compression: CODECS[this.options.compression],
        });
        this.m.latency.observe(Number(process.hrtime.bigint() - t0) / 1e9);
        this.consume(n);
        // After a too-large error the batch grows back gradually.
        this.tooLargeBatch *= 2;
        backoff = this.options.retryBackoffMs;
      } catch (err) {
        this.m.errors.inc();
        if (isTooLarge(err)) {
          // Retrying cannot help: halve the batch, and refuse (and count) a single message that is
          // too large on its own, instead of blocking everything behind it.
          if (this.lastBatchSize > 1) {
            this.tooLargeBatch = Math.max(1, Math.floor(this.lastBatchSize / 2));
          } else {
            const q = this.queue[this.head] as Queued;
            this.m.refused.inc({ topic: q.topic, reason: 'too_large' });
            this.logger.error({ topic: q.topic, bytes: q.size }, 'message larger than the broker accepts; refused');
            this.bytes -= q.size;
            this.head++;
            this.updateGauges();
            if (this.belowLowWater()) for (const w of this.waiters.splice(0)) w();
            if (this.length === 0) for (const d of this.drained.splice(0)) d();
          }
          continue;
        }
        const message = err instanceof Error ? err.message : String(err);
        if (this.lastError !== message) this.logger.warn({ err: message, buffered: this.length }, 'produce failed; retrying');
        this.lastError = message;
        this.connected = false;
        await this.producer.disconnect().catch(() => {});
        await this.backoff(backoff);
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }

  /** Waits out a back-off, cut short by stop(). */
  private backoff(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stopWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.stopWaiters.add(done);
    });
  }

  private fullBatchWaiting(): boolean {
    return this.length >= this.options.batchMaxMessages || this.bytes >= (this.options.batchMaxBytes ?? 1024 * 1024);
  }

  private tooLargeBatch = Number.POSITIVE_INFINITY;
  private lastBatchSize = 0;

  /** Messages in the next request: bounded by count, by bytes and after a too-large error. */
  private batchSize(): number {
    const maxBytes = this.options.batchMaxBytes ?? 1024 * 1024;
    let n = 0;
    let bytes = 0;
    const limit = Math.min(this.length, this.options.batchMaxMessages, this.tooLargeBatch);
    while (n < limit) {
      const size = (this.queue[this.head + n] as Queued).size;
      if (n > 0 && bytes + size > maxBytes) break;
      bytes += size;
      n++;
    }
    this.lastBatchSize = n;
    return n;
  }

  private batch(n: number): TopicMessages[] {
    const byTopic = new Map<string, Message[]>();
    for (let i = this.head; i < this.head + n; i++) {
      const q = this.queue[i] as Queued;
      let list = byTopic.get(q.topic);
      if (!list) byTopic.set(q.topic, (list = []));
      list.push(q.message);
    }
    return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
  }

  private consume(n: number): void {
    const perTopic = new Map<string, number>();
    for (let i = this.head; i < this.head + n; i++) {
      const q = this.queue[i] as Queued;
      this.bytes -= q.size;
      perTopic.set(q.topic, (perTopic.get(q.topic) ?? 0) + 1);
    }
    for (const [topic, count] of perTopic) this.m.produced.inc({ topic }, count);
    this.head += n;
    // Compact the array now and then instead of shifting on every batch.
    if (this.head > 65_536 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.updateGauges();
    if (this.belowLowWater()) for (const w of this.waiters.splice(0)) w();
    if (this.length === 0) for (const d of this.drained.splice(0)) d();
  }
}

// LZ4 and Snappy are registered with kafkajs in client.ts.
const CODECS = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  lz4: CompressionTypes.LZ4,
  snappy: CompressionTypes.Snappy,
} as const;

function isTooLarge(err: unknown): boolean {
  const e = err as { type?: string; name?: string; message?: string };
  return e?.type === 'MESSAGE_TOO_LARGE' || /larger than the max message size/i.test(e?.message ?? '');
}

function byteLength(v: string | Buffer): number {
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
