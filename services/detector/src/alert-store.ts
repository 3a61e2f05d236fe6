import type { ClickHouseClient } from '@flowwatch/clickhouse';
import type { AlertMessage } from '@flowwatch/flow-schema';
import type { ServiceMetrics } from '@flowwatch/observability';
import type { Logger } from 'pino';
import { DETECTOR_ACTOR } from './analyst-changes.js';

/** ClickHouse DateTime64(3) text from ISO-8601 (the 'basic' input format). */
export function chTime(iso: string): string {
  return iso.replace('T', ' ').replace('Z', '');
}

export function alertRow(m: AlertMessage) {
  const a = m.alert;
  return {
    id: a.id,
    fingerprint: a.fingerprint,
    type: a.type,
    severity: a.severity,
    status: a.status,
    entity_kind: a.entity.kind,
    entity_id: a.entity.id,
    entity_name: a.entity.name,
    supplier_ids: a.supplier_ids,
    src_org: a.src_org ?? '',
    dst_org: a.dst_org ?? '',
    src_addr: a.src_addr ?? '',
    dst_addr: a.dst_addr ?? '',
    dst_port: a.dst_port ?? 0,
    service: a.service ?? '',
    first_seen: chTime(a.first_seen),
    last_seen: chTime(a.last_seen),
    detected_at: chTime(a.detected_at),
    observed: finite(a.observed),
    expected: finite(a.expected),
    score: finite(a.score),
    summary: a.summary,
    evidence: JSON.stringify(a.evidence),
    updated_at: chTime(a.detected_at),
    version: a.version,
  };
}

function finite(x: number): number {
  return Number.isFinite(x) ? x : 0;
}

/**
 * Writes alert changes to ClickHouse off the detection path: `alerts` (ReplacingMergeTree by
 * version: the latest state per id) and `alert_events` (append-only history). Changes queue in
 * memory (bounded; the oldest are dropped and counted when ClickHouse is away for long) and are
 * written in batches every `flushMs`, retried on failure. Versions make a replayed write harmless.
 */
export class AlertStore {
  readonly #queue: { message: AlertMessage; history: boolean }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  readonly #m;
  ok = true;

  constructor(
    private readonly clickhouse: ClickHouseClient,
    private readonly options: { flushMs: number; maxQueue: number },
    metrics: ServiceMetrics,
    private readonly logger: Logger,
  ) {
    this.#m = {
      written: metrics.counter('alert_rows_written', 'Alert changes written to ClickHouse'),
      errors: metrics.counter('alert_write_errors', 'Failed writes of alert changes (retried)'),
      dropped: metrics.counter('alert_rows_dropped', 'Alert changes dropped because the ClickHouse queue was full'),
    };
  }

  /**
   * Queues a change: its row in `alerts` and, with `history`, its entry in `alert_events` (not
   * for an analyst's change taken up, whose entry the API wrote with the analyst's name).
   */
  add(message: AlertMessage, history = true): void {
    if (this.#queue.length >= this.options.maxQueue) {
      this.#queue.shift();
      this.#m.dropped.inc();
    }
    this.#queue.push({ message, history });
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.options.flushMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush();
  }

  /** Writes what is queued (one write at a time). */
  async flush(): Promise<void> {
    if (this.#writing) return this.#writing;
    if (this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, this.#queue.length);
    this.#writing = this.#write(batch).finally(() => {
      this.#writing = undefined;
    });
    return this.#writing;
  }

  async #write(batch: { message: AlertMessage; history: boolean }[]): Promise<void> {
    try {
      await this.clickhouse.insert({ table: 'alerts', values: batch.map((b) => alertRow(b.message)), format: 'JSONEachRow' });
      const history = batch.filter((b) => b.history).map((b) => b.message);
      if (history.length > 0)
        await this.clickhouse.insert({
          table: 'alert_events',
          values: history.map((m) => ({
            alert_id: m.alert.id,
            at: chTime(m.alert.detected_at),
            event: m.event,
            actor: DETECTOR_ACTOR,
            detail: JSON.stringify({
              version: m.alert.version,
              severity: m.alert.severity,
              status: m.alert.status,
              summary: m.alert.summary,
            }),
          })),
          format: 'JSONEachRow',
        });
      this.#m.written.inc(batch.length);
      this.ok = true;
    } catch (err) {
      this.ok = false;
      this.#m.errors.inc();
      this.logger.warn({ err: err instanceof Error ? err.message : String(err), changes: batch.length }, 'alert write failed; will retry');
      this.#queue.unshift(...batch.slice(-this.options.maxQueue));
    }
  }
}
