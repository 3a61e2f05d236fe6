import type { RateLimitedLog } from '@flowwatch/observability';
import type { PushBatch } from '@flowwatch/simulator';
import type { SimulatorMetrics } from './simulator-metrics.js';

export interface PushClientOptions {
  url: string;
  /** Plain-text bearer token per supplier id. */
  tokens: ReadonlyMap<string, string>;
  metrics: SimulatorMetrics;
  warnOnce: RateLimitedLog;
  /** Requests in flight at most. */
  concurrency?: number;
  /** Batches queued at most; beyond it `full()` holds the simulation back. */
  maxQueued?: number;
  /** Attempts for a batch the collector could not take (connection refused, 429, 503). */
  maxAttempts?: number;
  fetch?: typeof fetch;
}

interface Queued {
  batch: PushBatch;
  attempts: number;
  notBefore: number;
}

/**
 * Pushes JSON batches to the collector's push API like a supplier's gateway: bearer token, NDJSON,
 * a few requests at a time, honouring Retry-After on 429 and 503 (the collector asking it to slow
 * down), retrying connection failures with back-off, and giving a batch up (counted) after
 * `maxAttempts`. A full queue holds the simulation back instead of dropping.
 */
export class PushClient {
  private readonly queue: Queued[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private idle: (() => void)[] = [];
  private stopped = false;
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private readonly maxAttempts: number;
  private readonly fetch: typeof fetch;

  constructor(private readonly o: PushClientOptions) {
    this.concurrency = o.concurrency ?? 4;
    this.maxQueued = o.maxQueued ?? 64;
    this.maxAttempts = o.maxAttempts ?? 6;
    this.fetch = o.fetch ?? fetch;
  }

  full(): boolean {
    return this.pending() >= this.maxQueued;
  }

  pending(): number {
    return this.queue.length + this.inFlight;
  }

  push(batch: PushBatch): void {
    this.queue.push({ batch, attempts: 0, notBefore: 0 });
    this.pump();
  }

  /** Resolves when nothing is queued or in flight (or after `timeoutMs`). */
  async drain(timeoutMs: number): Promise<void> {
    if (this.pending() === 0) return;
    await Promise.race([new Promise<void>((r) => this.idle.push(r)), new Promise<void>((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /** Stops retrying; what is still queued is counted as given up. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const abandoned = this.queue.splice(0).length;
    if (abandoned > 0) this.o.metrics.sendErrors.inc({ reason: 'push_abandoned' }, abandoned);
    this.settle();
  }

  private pump(): void {
    if (this.stopped) return;
    const now = Date.now();
    while (this.inFlight < this.concurrency) {
      const i = this.queue.findIndex((q) => q.notBefore <= now);
      if (i < 0) break;
      const [q] = this.queue.splice(i, 1) as [Queued];
      this.inFlight++;
      void this.send(q).finally(() => {
        this.inFlight--;
        this.pump();
        this.settle();
      });
    }
    if (this.queue.length > 0 && this.inFlight < this.concurrency && !this.timer) {
      const wait = Math.max(10, Math.min(...this.queue.map((q) => q.notBefore)) - now);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, wait);
      this.timer.unref();
    }
  }

  private settle(): void {
    if (this.pending() === 0) for (const r of this.idle.splice(0)) r();
  }

  private async send(q: Queued): Promise<void> {
    const { exporter, body, records } = q.batch;
    const supplier = exporter.supplierId;
    const token = this.o.tokens.get(supplier);
    q.attempts++;
    let retryAfterMs: number | undefined;
    try {
      const res = await this.fetch(this.o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${token ?? ''}` },
        body,
      });
      this.o.metrics.pushRequests.inc({ status: `${Math.floor(res.status / 100)}xx`, supplier });
      const text = await res.text();
      if (res.status === 202) {
        const answer = JSON.parse(text) as { accepted?: number; rejected?: number };
        this.o.metrics.records.inc({ protocol: 'JSON', supplier }, answer.accepted ?? records);
        this.o.metrics.sentBytes.inc({ supplier }, body.length);
        if (answer.rejected) {
          this.o.metrics.sendErrors.inc({ reason: 'push_rejected_records' }, answer.rejected);
          this.o.warnOnce.warn(
            `push-rejected:${supplier}`,
            { supplier, answer: text.slice(0, 500) },
            'the collector rejected pushed records',
          );
        }
        return;
      }
      if (res.status === 429 || res.status === 503) {
        retryAfterMs = Math.min(10, Number(res.headers.get('retry-after') ?? 1) || 1) * 1000;
      } else {
        // 4xx other than 429: the simulator or the registry is wrong; retrying will not help.
        this.o.metrics.sendErrors.inc({ reason: `push_${res.status}` }, 1);
        this.o.warnOnce.warn(
          `push-status:${supplier}:${res.status}`,
          { supplier, status: res.status, body: text.slice(0, 300) },
          'push refused',
        );
        return;
      }
    } catch (err) {
      this.o.metrics.pushRequests.inc({ status: 'error', supplier });
      this.o.warnOnce.warn(`push-error:${supplier}`, { supplier, err: (err as Error).message, url: this.o.url }, 'push failed; retrying');
      retryAfterMs = Math.min(8000, 250 * 2 ** q.attempts);
    }
    if (this.stopped || q.attempts >= this.maxAttempts) {
      this.o.metrics.sendErrors.inc({ reason: 'push_abandoned' }, 1);
      return;
    }
    q.notBefore = Date.now() + (retryAfterMs ?? 1000);
    this.queue.unshift(q);
  }
}
