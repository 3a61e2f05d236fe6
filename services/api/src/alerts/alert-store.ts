import type { ClickHouseClient } from '@flowwatch/clickhouse';
import { dt64, iso, msOf } from '../ch-time.js';
import { Params, select } from '../sql.js';
import {
  ALERT_COLUMNS,
  type Alert,
  type AlertRow,
  type AlertStatus,
  type AlertSummary,
  type AlertType,
  nextVersionRow,
  rowToAlert,
  rowToSummary,
  SEVERITIES,
  type Severity,
} from './alert-record.js';

/**
 * Reads and changes alerts in ClickHouse. `alerts` is a ReplacingMergeTree(version): every read
 * uses FINAL, so it sees the highest version of each alert (filters apply after the merge:
 * ClickHouse does not move conditions on non-key columns to PREWHERE with FINAL, tested in
 * alert-store.int.test.ts). An analyst's change is a new version row plus an `alert_events` row.
 *
 * `scope` is the supplier a supplier-role caller is limited to: every read and change adds
 * `has(supplier_ids, scope)`, so an alert of another supplier is "not found" for it.
 */
export interface AlertFilter {
  status?: AlertStatus[] | undefined;
  type?: AlertType[] | undefined;
  severity?: Severity[] | undefined;
  supplier?: string[] | undefined;
  /** Organisation codes: source, destination or the entity itself. */
  org?: string[] | undefined;
  /** Alerts active in [from, to): last seen at or after `from`, first seen before `to`. */
  from?: Date | undefined;
  to?: Date | undefined;
  /** Text in the summary, entity, addresses, service or id (case-insensitive). */
  q?: string | undefined;
}

export const ALERT_SORTS = ['detected_at', 'last_seen', 'first_seen', 'updated_at', 'severity', 'score'] as const;
export type AlertSort = (typeof ALERT_SORTS)[number];

/** Sort keys as Float64 so one cursor type fits all (epoch ms are exact in a double). */
const SORT_SQL: Record<AlertSort, string> = {
  detected_at: 'toFloat64(toUnixTimestamp64Milli(detected_at))',
  last_seen: 'toFloat64(toUnixTimestamp64Milli(last_seen))',
  first_seen: 'toFloat64(toUnixTimestamp64Milli(first_seen))',
  updated_at: 'toFloat64(toUnixTimestamp64Milli(updated_at))',
  severity: `toFloat64(indexOf([${SEVERITIES.map((s) => `'${s}'`).join(', ')}], severity))`,
  score: 'score',
};

export interface Page {
  sort: AlertSort;
  order: 'asc' | 'desc';
  limit: number;
  /** Position after which the page starts: the last row's sort key and id. */
  after?: { key: number; id: string } | undefined;
}

export interface AlertPage {
  alerts: AlertSummary[];
  /** Where the next page starts, when there is one. */
  next: { key: number; id: string } | undefined;
  /** Alerts matching the filter (all pages). */
  total: number;
}

export interface AlertEvent {
  at: string;
  event: string;
  actor: string;
  detail: string;
}

export interface AlertCounts {
  /** Open and acknowledged alerts by severity, and alerts resolved in the last 24 hours. */
  open: Record<Severity, number>;
  acknowledged: Record<Severity, number>;
  resolved_24h: number;
}

export type Transition = 'acknowledged' | 'resolved';
export type ChangeResult =
  | { ok: true; alert: Alert }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'conflict'; message: string };

export class AlertStore {
  /** One change at a time per alert in this process, so two clicks make two ordered versions. */
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly client: ClickHouseClient,
    private readonly now: () => number = Date.now,
  ) {}

  #where(filter: AlertFilter, scope: string | undefined, p: Params): string[] {
    const w: string[] = [];
    if (scope !== undefined) w.push(`has(supplier_ids, ${p.add('String', scope)})`);
    if (filter.status?.length) w.push(`status IN ${p.add('Array(String)', filter.status)}`);
    if (filter.type?.length) w.push(`type IN ${p.add('Array(String)', filter.type)}`);
    if (filter.severity?.length) w.push(`severity IN ${p.add('Array(String)', filter.severity)}`);
    if (filter.supplier?.length) w.push(`hasAny(supplier_ids, ${p.add('Array(String)', filter.supplier)})`);
    if (filter.org?.length) {
      const orgs = p.add('Array(String)', filter.org);
      w.push(`(src_org IN ${orgs} OR dst_org IN ${orgs} OR (startsWith(entity_kind, 'organisation') AND entity_id IN ${orgs}))`);
    }
    if (filter.from) w.push(`last_seen >= fromUnixTimestamp64Milli(${p.add('Int64', filter.from.getTime())}, 'UTC')`);
    if (filter.to) w.push(`first_seen < fromUnixTimestamp64Milli(${p.add('Int64', filter.to.getTime())}, 'UTC')`);
    if (filter.q) {
      w.push(
        `positionCaseInsensitiveUTF8(concat(summary, ' ', entity_name, ' ', entity_id, ' ', src_addr, ' ', dst_addr, ' ', service, ' ', id, ' ', src_org, ' ', dst_org), ${p.add('String', filter.q)}) > 0`,
      );
    }
    return w;
  }

  async list(filter: AlertFilter, page: Page, scope: string | undefined): Promise<AlertPage> {
    const p = new Params();
    const where = this.#where(filter, scope, p);
    const countSql = `SELECT count() AS n FROM alerts FINAL${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
    const countParams = { ...p.values };
    const key = SORT_SQL[page.sort];
    const dir = page.order === 'asc' ? 'ASC' : 'DESC';
    if (page.after) {
      const cmp = page.order === 'asc' ? '>' : '<';
      where.push(`(${key}, id) ${cmp} (${p.add('Float64', page.after.key)}, ${p.add('String', page.after.id)})`);
    }
    const sql = `SELECT ${ALERT_COLUMNS}, ${key} AS sort_key FROM alerts FINAL
${where.length ? `WHERE ${where.join(' AND ')}` : ''}
ORDER BY sort_key ${dir}, id ${dir}
LIMIT ${p.add('UInt32', page.limit + 1)}`;
    const [rows, counted] = await Promise.all([
      select<AlertRow & { sort_key: number }>(this.client, sql, p),
      select<{ n: string | number }>(this.client, countSql, countParams),
    ]);
    const more = rows.length > page.limit;
    const shown = more ? rows.slice(0, page.limit) : rows;
    const last = shown.at(-1);
    return {
      alerts: shown.map(rowToSummary),
      next: more && last ? { key: Number(last.sort_key), id: last.id } : undefined,
      total: Number(counted[0]?.n ?? 0),
    };
  }

  async #row(id: string, scope: string | undefined): Promise<AlertRow | undefined> {
    const p = new Params();
    const where = [`id = ${p.add('String', id)}`, ...this.#where({}, scope, p)];
    const rows = await select<AlertRow>(this.client, `SELECT ${ALERT_COLUMNS}, evidence FROM alerts FINAL WHERE ${where.join(' AND ')}`, p);
    return rows[0];
  }

  async get(id: string, scope: string | undefined): Promise<Alert | undefined> {
    const row = await this.#row(id, scope);
    return row && rowToAlert(row);
  }

  /** The alert's history, oldest first (at most 1,000 events). */
  async events(id: string): Promise<AlertEvent[]> {
    const rows = await select<{ at_ms: string | number; event: string; actor: string; detail: string }>(
      this.client,
      `SELECT toUnixTimestamp64Milli(at) AS at_ms, event, actor, detail FROM alert_events WHERE alert_id = {id:String} ORDER BY at, event LIMIT 1000`,
      { id },
    );
    return rows.map((r) => ({ at: iso(msOf(r.at_ms)), event: r.event, actor: r.actor, detail: r.detail }));
  }

  async counts(scope: string | undefined): Promise<AlertCounts> {
    const p = new Params();
    const where = [...this.#where({}, scope, p), `(status != 'resolved' OR updated_at >= now64(3) - INTERVAL 1 DAY)`];
    const rows = await select<{ status: string; severity: string; n: string | number }>(
      this.client,
      `SELECT status, severity, count() AS n FROM alerts FINAL WHERE ${where.join(' AND ')} GROUP BY status, severity`,
      p,
    );
    const zero = () => Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
    const out: AlertCounts = { open: zero(), acknowledged: zero(), resolved_24h: 0 };
    for (const r of rows) {
      const n = Number(r.n);
      if (r.status === 'resolved') out.resolved_24h += n;
      else if ((r.status === 'open' || r.status === 'acknowledged') && (SEVERITIES as readonly string[]).includes(r.severity)) {
        out[r.status][r.severity as Severity] += n;
      }
    }
    return out;
  }

  /** Acknowledge (from open) or resolve (from open or acknowledged), with an optional comment. */
  transition(id: string, to: Transition, actor: string, comment: string | undefined, scope: string | undefined): Promise<ChangeResult> {
    return this.#locked(id, async () => {
      const current = await this.#row(id, scope);
      if (!current) return { ok: false, reason: 'not_found' };
      if (to === 'acknowledged' && current.status !== 'open') {
        return { ok: false, reason: 'conflict', message: `the alert is ${current.status}; only an open alert can be acknowledged` };
      }
      if (to === 'resolved' && current.status === 'resolved') {
        return { ok: false, reason: 'conflict', message: 'the alert is already resolved' };
      }
      const at = this.now();
      const row = nextVersionRow(current, { status: to, updatedAtMs: at });
      await this.client.insert({ table: 'alerts', format: 'JSONEachRow', values: [row] });
      await this.#event(id, at, to, actor, comment ?? '');
      return { ok: true, alert: rowToAlert({ ...current, status: to, updated_at_ms: at, version: Number(current.version) + 1 }) };
    });
  }

  async comment(id: string, actor: string, text: string, scope: string | undefined): Promise<ChangeResult> {
    const current = await this.#row(id, scope);
    if (!current) return { ok: false, reason: 'not_found' };
    await this.#event(id, this.now(), 'commented', actor, text);
    return { ok: true, alert: rowToAlert(current) };
  }

  /** Versions written at or after `sinceMs` (for the live stream's poll), oldest first. */
  async changedSince(sinceMs: number, limit = 5000): Promise<AlertSummary[]> {
    const rows = await select<AlertRow>(
      this.client,
      `SELECT ${ALERT_COLUMNS} FROM alerts WHERE updated_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')
       ORDER BY updated_at, version LIMIT {limit:UInt32}`,
      { since: sinceMs, limit },
    );
    return rows.map(rowToSummary);
  }

  async #event(alertId: string, atMs: number, event: string, actor: string, detail: string): Promise<void> {
    await this.client.insert({
      table: 'alert_events',
      format: 'JSONEachRow',
      values: [{ alert_id: alertId, at: dt64(atMs), event, actor, detail }],
    });
  }

  async #locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(id) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    }
  }
}
