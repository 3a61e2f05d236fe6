import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import type { ClickHouseClient } from '@flowwatch/clickhouse';
import { OldestFirst } from '@flowwatch/insertion-order';
import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { type AlertSummary, alertMessageSchema, inputToSummary } from './alerts/alert-record.js';
import type { AlertStore } from './alerts/alert-store.js';
import type { ApiMetrics } from './api-metrics.js';
import { type Principal, scopeOf } from './auth/roles.js';
import { iso, msOf } from './ch-time.js';
import { ApiError } from './errors.js';
import { select } from './sql.js';

export interface LiveHubConfig {
  heartbeatMs: number;
  trafficIntervalMs: number;
  pollMs: number;
  maxClients: number;
  groupIdPrefix: string;
}

export interface LiveHubDeps {
  alerts: AlertStore;
  clickhouse: ClickHouseClient;
  /** Absent: ClickHouse polling alone (tests, or a process without Kafka). */
  kafka?: Kafka | undefined;
  alertsTopic: string;
  logger: Logger;
  metrics: ApiMetrics;
}

/** Live traffic of the last minutes per exporting supplier, from flows_1m. */
export interface TrafficTick {
  at: string;
  interval: '1m';
  buckets: { ts: string; supplier: string; bytes: number; bytes_est: number; packets_est: number; flows: number }[];
}

interface Client {
  principal: Principal;
  scope: string | undefined;
  res: ServerResponse;
  /** Whether the credentials behind the stream still hold (token not revoked, session alive). */
  stillValid: () => Promise<boolean>;
}

/** Bytes a slow client may have waiting before it is dropped (it reconnects and reloads). */
const MAX_BUFFERED = 1 << 20;
const SEEN_MAX = 100_000;
const POLL_OVERLAP_MS = 60_000;
/** How far back a resumed stream (Last-Event-ID) is sent what it missed; a longer gap reloads. */
const RESUME_MAX_MS = 3_600_000;

/**
 * Server-sent events for the dashboard: `alert` (a new or changed alert, without evidence) and
 * `traffic` (per-supplier minute counters), filtered per client by its supplier scope.
 *
 * Alerts come from two sources, merged by (id, version) so each version is sent once: the Kafka
 * topic `alerts`, read by a consumer group of this process's own (from the latest offset, never
 * committing, so every API process sees every message), and a poll of ClickHouse `alerts` for
 * rows written since the last poll (alerts stored without a message, or while Kafka was away).
 * Analysts' own changes are published at once by the routes.
 */
export class LiveHub {
  readonly #clients = new Set<Client>();
  readonly #seen = new Map<string, number>();
  readonly #oldestSeen = new OldestFirst(this.#seen);
  #consumer: Consumer | undefined;
  #timers: NodeJS.Timeout[] = [];
  #pollSince = 0;
  #polling = false;
  #ticking = false;
  #stopped = false;

  constructor(
    private readonly deps: LiveHubDeps,
    private readonly config: LiveHubConfig,
    private readonly now: () => number = Date.now,
  ) {}

  get clients(): number {
    return this.#clients.size;
  }

  async start(): Promise<void> {
    this.#pollSince = this.now() - 1000;
    if (this.deps.kafka) {
      const groupId = `${this.config.groupIdPrefix}-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
      const consumer = this.deps.kafka.consumer({ groupId, allowAutoTopicCreation: false, sessionTimeout: 30_000 });
      this.#consumer = consumer;
      // A new group starts at the latest offset once it has joined: wait for that (briefly), so
      // an alert published right after start is not missed. The poll covers the gap otherwise.
      const joined = new Promise<boolean>((resolve) => {
        const off = consumer.on(consumer.events.GROUP_JOIN, () => {
          off();
          resolve(true);
        });
        setTimeout(() => resolve(false), 15_000).unref();
      });
      await consumer.connect();
      await consumer.subscribe({ topic: this.deps.alertsTopic, fromBeginning: false });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ message }) => this.#onMessage(message.value),
      });
      if (!(await joined)) this.deps.logger.warn({ topic: this.deps.alertsTopic }, 'the live stream has not joined its Kafka group yet');
    }
    const every = (ms: number, fn: () => Promise<void>) => {
      const t = setInterval(() => void fn(), ms);
      t.unref();
      this.#timers.push(t);
    };
    every(this.config.pollMs, () => this.#poll());
    every(this.config.trafficIntervalMs, () => this.#tick());
    every(this.config.heartbeatMs, () => this.#heartbeat());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    for (const c of this.#clients) this.#close(c, 'shutdown');
    await this.#consumer?.disconnect().catch(() => undefined);
    this.#consumer = undefined;
  }

  /**
   * Takes over a response as an event stream. 503 beyond maxClients. `lastEventId` is the browser's
   * Last-Event-ID on a reconnection: the id of the last `alert` event it had (its `updated_at` in
   * ms); the alerts changed since then (up to an hour back) are sent to it first.
   */
  add(
    principal: Principal,
    res: ServerResponse,
    headers: Record<string, string>,
    stillValid: () => Promise<boolean>,
    lastEventId?: string,
  ): void {
    if (this.#stopped) throw new ApiError('unavailable', 'the server is stopping');
    if (this.#clients.size >= this.config.maxClients) {
      throw new ApiError('unavailable', `too many open event streams (${this.config.maxClients}); retry later`, undefined, {
        'retry-after': '10',
      });
    }
    const client: Client = { principal, scope: scopeOf(principal), res, stillValid };
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.on('close', () => this.#remove(client));
    this.#clients.add(client);
    this.deps.metrics.streamClients.set(this.#clients.size);
    this.#write(client, `retry: 3000\n\n`);
    this.#send(client, 'hello', { at: iso(this.now()), role: principal.role, supplier: client.scope ?? null });
    const since = Number(lastEventId);
    if (lastEventId !== undefined && /^\d{1,15}$/.test(lastEventId) && this.now() - since <= RESUME_MAX_MS)
      void this.#resume(client, since);
  }

  /** Sends one client the alerts changed since `sinceMs` (a minute of overlap: versions are idempotent for the page). */
  async #resume(c: Client, sinceMs: number): Promise<void> {
    try {
      const rows = await this.deps.alerts.changedSince(sinceMs - POLL_OVERLAP_MS);
      let n = 0;
      for (const a of rows) {
        if (c.scope !== undefined && !a.supplier_ids.includes(c.scope)) continue;
        const { evidence: _, ...summary } = a as AlertSummary & { evidence?: unknown };
        this.#sendAlert(c, a.version <= 1 ? 'opened' : a.status === 'open' ? 'updated' : a.status, summary);
        n++;
      }
      this.deps.metrics.streamEvents.inc({ event: 'resumed' }, n);
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'resuming an event stream failed');
    }
  }

  /** A new or changed alert: sent to every client allowed to see it, once per (id, version). */
  publishAlert(event: string, alert: AlertSummary & { evidence?: unknown }): void {
    const { evidence: _, ...summary } = alert;
    const last = this.#seen.get(alert.id);
    if (last !== undefined && last >= alert.version) return;
    this.#seen.delete(alert.id);
    this.#seen.set(alert.id, alert.version);
    if (this.#seen.size > SEEN_MAX) this.#oldestSeen.shift();
    this.deps.metrics.streamEvents.inc({ event: 'alert' });
    for (const c of this.#clients) {
      if (c.scope === undefined || alert.supplier_ids.includes(c.scope)) this.#sendAlert(c, event, summary);
    }
  }

  /** A comment (no new version): sent as `alert_event` so open alert pages refresh their timeline. */
  publishAlertEvent(alertId: string, supplierIds: readonly string[], event: string): void {
    this.deps.metrics.streamEvents.inc({ event: 'alert_event' });
    for (const c of this.#clients) {
      if (c.scope === undefined || supplierIds.includes(c.scope)) this.#send(c, 'alert_event', { id: alertId, event });
    }
  }

  #onMessage(value: Buffer | null): void {
    if (!value) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value.toString('utf8'));
    } catch {
      this.deps.metrics.streamBadMessages.inc();
      return;
    }
    const r = alertMessageSchema.safeParse(parsed);
    if (!r.success) {
      this.deps.metrics.streamBadMessages.inc();
      return;
    }
    this.publishAlert(r.data.event, inputToSummary(r.data.alert, Date.parse(r.data.alert.detected_at)));
  }

  async #poll(): Promise<void> {
    if (this.#polling || this.#stopped) return;
    this.#polling = true;
    try {
      // Overlap by a minute: the detector stamps updated_at when it detects and writes its rows in
      // batches a little later, so a row can arrive older than the last poll; (id, version) dedups.
      const rows = await this.deps.alerts.changedSince(this.#pollSince - POLL_OVERLAP_MS);
      for (const a of rows) {
        this.publishAlert(a.version <= 1 ? 'opened' : a.status === 'open' ? 'updated' : a.status, a);
        this.#pollSince = Math.max(this.#pollSince, Date.parse(a.updated_at));
      }
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'polling alerts failed');
    } finally {
      this.#polling = false;
    }
  }

  async #tick(): Promise<void> {
    if (this.#ticking || this.#stopped || this.#clients.size === 0) return;
    this.#ticking = true;
    try {
      const tick = await this.traffic();
      for (const c of this.#clients) {
        const buckets = c.scope === undefined ? tick.buckets : tick.buckets.filter((b) => b.supplier === c.scope);
        this.#send(c, 'traffic', { ...tick, buckets });
      }
      this.deps.metrics.streamEvents.inc({ event: 'traffic' });
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'live traffic query failed');
    } finally {
      this.#ticking = false;
    }
  }

  /** The current and two previous minutes per supplier (the current one still filling). */
  async traffic(): Promise<TrafficTick> {
    const now = this.now();
    const from = Math.floor(now / 60_000) * 60_000 - 2 * 60_000;
    const rows = await select<{
      ts_ms: string | number;
      supplier: string;
      bytes: string;
      bytes_est: string;
      packets_est: string;
      flows: string;
    }>(
      this.deps.clickhouse,
      `SELECT toUnixTimestamp(ts) * 1000 AS ts_ms, supplier_id AS supplier, sum(bytes) AS bytes, sum(bytes_est) AS bytes_est,
         sum(packets_est) AS packets_est, sum(flows) AS flows
       FROM flows_1m WHERE ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')
       GROUP BY ts_ms, supplier ORDER BY ts_ms, supplier`,
      { from },
    );
    return {
      at: iso(now),
      interval: '1m',
      buckets: rows.map((r) => ({
        ts: iso(msOf(r.ts_ms)),
        supplier: r.supplier,
        bytes: Number(r.bytes),
        bytes_est: Number(r.bytes_est),
        packets_est: Number(r.packets_est),
        flows: Number(r.flows),
      })),
    };
  }

  async #heartbeat(): Promise<void> {
    for (const c of [...this.#clients]) {
      let valid = false;
      try {
        valid = await c.stillValid();
      } catch {
        valid = true; // ClickHouse hiccup: keep the stream, check again at the next beat
      }
      if (!valid) this.#close(c, 'unauthorized');
      else this.#write(c, `: ping\n\n`);
    }
  }

  #send(c: Client, event: string, data: unknown): void {
    this.#write(c, `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** An `alert` event, with its `updated_at` (ms) as the event id, which a reconnecting browser sends back as Last-Event-ID. */
  #sendAlert(c: Client, event: string, alert: Omit<AlertSummary, 'evidence'>): void {
    const id = Date.parse(alert.updated_at);
    const line = Number.isFinite(id) ? `id: ${id}\n` : '';
    this.#write(c, `${line}event: alert\ndata: ${JSON.stringify({ event, alert })}\n\n`);
  }

  #write(c: Client, text: string): void {
    if (c.res.destroyed || c.res.writableEnded) {
      this.#remove(c);
      return;
    }
    if (c.res.writableLength > MAX_BUFFERED) {
      this.deps.metrics.streamDropped.inc({ reason: 'slow' });
      c.res.destroy();
      this.#remove(c);
      return;
    }
    c.res.write(text);
  }

  #close(c: Client, reason: string): void {
    this.#send(c, 'end', { reason });
    c.res.end();
    this.#remove(c);
  }

  #remove(c: Client): void {
    if (this.#clients.delete(c)) this.deps.metrics.streamClients.set(this.#clients.size);
  }
}
