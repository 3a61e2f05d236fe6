import { createHmac } from 'node:crypto';
import type { DetectorConfig } from '@flowwatch/config';
import type { AlertMessage, Severity } from '@flowwatch/flow-schema';
import type { ServiceMetrics } from '@flowwatch/observability';
import type { Logger } from 'pino';

const RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };

/** X-Flowwatch-Signature of a body: `sha256=<hex HMAC-SHA256 of the exact bytes sent>`. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Whether a webhook takes an alert: its suppliers (a supplier's own hook gets only its alerts), types, severity. */
export function routes(hook: DetectorConfig['webhooks'][number], message: AlertMessage): boolean {
  const a = message.alert;
  if (hook.suppliers.length > 0 && !a.supplier_ids.some((s) => hook.suppliers.includes(s))) return false;
  if (hook.types.length > 0 && !hook.types.includes(a.type)) return false;
  return RANK[a.severity] >= RANK[hook.minSeverity];
}

interface Delivery {
  hook: DetectorConfig['webhooks'][number];
  body: string;
  attempt: number;
  notBefore: number;
}

/**
 * Webhook deliveries on a bounded queue, sent by a background loop: detection only enqueues (never
 * waits on a slow receiver). Each POST carries the alert message as JSON, signed with the hook's
 * secret (HMAC-SHA256 in X-Flowwatch-Signature, with X-Flowwatch-Timestamp); failures are retried
 * with doubling back-off from 1 s (max 60 s) up to `retries` times; a full queue drops its oldest
 * delivery. Everything is counted.
 */
export class WebhookDispatcher {
  readonly #queue: Delivery[] = [];
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  readonly #m;

  constructor(
    private readonly hooks: DetectorConfig['webhooks'],
    private readonly options: { queue: number; retries: number; timeoutMs: number; baseBackoffMs?: number },
    metrics: ServiceMetrics,
    private readonly logger: Logger,
  ) {
    this.#m = {
      sent: metrics.counter('webhook_deliveries', 'Webhook deliveries by outcome', ['webhook', 'outcome']),
      queued: metrics.gauge('webhook_queue', 'messages', 'Webhook deliveries waiting'),
    };
  }

  enqueue(message: AlertMessage): void {
    if (this.hooks.length === 0) return;
    const body = JSON.stringify(message);
    for (const hook of this.hooks) {
      if (!routes(hook, message)) continue;
      if (this.#queue.length >= this.options.queue) {
        const dropped = this.#queue.shift()!;
        this.#m.sent.inc({ webhook: dropped.hook.name, outcome: 'dropped' });
      }
      this.#queue.push({ hook, body, attempt: 0, notBefore: 0 });
    }
    this.#m.queued.set(this.#queue.length);
    this.#wake?.();
  }

  start(): void {
    if (this.#running || this.hooks.length === 0) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops after trying what is due within `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    if (!this.#running) return;
    const end = Date.now() + graceMs;
    while (this.#queue.some((d) => d.notBefore <= Date.now()) && Date.now() < end) await sleep(20);
    this.#running = false;
    this.#wake?.();
    await this.#loop;
  }

  get pending(): number {
    return this.#queue.length;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const now = Date.now();
      const i = this.#queue.findIndex((d) => d.notBefore <= now);
      if (i < 0) {
        const next = this.#queue.reduce((m, d) => Math.min(m, d.notBefore), now + 1000);
        await new Promise<void>((r) => {
          this.#wake = r;
          setTimeout(r, Math.max(10, next - now)).unref();
        });
        this.#wake = undefined;
        continue;
      }
      const d = this.#queue.splice(i, 1)[0]!;
      this.#m.queued.set(this.#queue.length);
      const ok = await this.#post(d);
      if (ok) {
        this.#m.sent.inc({ webhook: d.hook.name, outcome: 'delivered' });
      } else if (d.attempt < this.options.retries) {
        d.attempt++;
        d.notBefore = Date.now() + Math.min(60_000, (this.options.baseBackoffMs ?? 1000) * 2 ** (d.attempt - 1));
        this.#queue.push(d);
        this.#m.sent.inc({ webhook: d.hook.name, outcome: 'retried' });
      } else {
        this.#m.sent.inc({ webhook: d.hook.name, outcome: 'failed' });
        this.logger.warn({ webhook: d.hook.name, attempts: d.attempt + 1 }, 'webhook delivery abandoned');
      }
    }
  }

  async #post(d: Delivery): Promise<boolean> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    try {
      const res = await fetch(d.hook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-flowwatch-signature': signature(d.hook.secret, d.body),
          'x-flowwatch-timestamp': timestamp,
        },
        body: d.body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.ok;
    } catch {
      return false;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
