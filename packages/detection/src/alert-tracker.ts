import { createHash } from 'node:crypto';
import type { DetectorConfig } from '@flowwatch/config';
import type { Alert, AlertEvent, Evidence, Severity } from '@flowwatch/flow-schema';
import type { Detection, DetectionSink } from './detection.js';
import type { Directory } from './directory.js';
import { inWindow, matches, subjectOf } from './rules.js';

/** A published change of an alert: the alert as it now is and what happened to it. */
export interface AlertChange {
  event: AlertEvent;
  alert: Alert;
  /** Collector reception time of the flow behind this change (ns; 0 when none, e.g. a resolve). */
  receivedNs: number;
  /**
   * An analyst's change taken up (see `applyAnalyst`): published like any change, but its entry in
   * the alert's history is the analyst's own, already written by the API.
   */
  analyst?: true;
}

export type AlertTrackerConfig = Pick<DetectorConfig, 'alerts' | 'suppressions' | 'maintenance' | 'severity'>;

interface Tracked {
  alert: Alert;
  /** Event time of the last sighting, ms. */
  lastSeenMs: number;
  /** Event time of the last published change, ms. */
  publishedMs: number;
  /** The strongest detection since the last publication (its evidence is drawn when publishing). */
  pending: Detection | undefined;
  resolvedMs: number;
  /** Wall-clock time of the latest analyst's change applied (ms; 0: none). */
  analystAtMs: number;
}

/**
 * An analyst's change of an alert through the API (docs/api.md): acknowledged or resolved at
 * `atMs` (wall clock), after which the alert's row in ClickHouse was at `version` (the highest
 * stored, whoever wrote it).
 */
export interface AnalystChange {
  id: string;
  status: 'acknowledged' | 'resolved';
  atMs: number;
  version: number;
}

export interface TrackerCounters {
  suppressed: number;
  maintenance: number;
  dropped: number;
}

export interface TrackerSnapshot {
  alerts: { alert: Alert; lastSeenMs: number; publishedMs: number; resolvedMs: number; analystAtMs?: number }[];
}

const SEVERITY_RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };

/**
 * Turns detections into alerts: one alert per fingerprint (type, entity, discriminator) while
 * its condition persists. The first sighting opens it (published at once); later sightings update
 * it in memory and are published at most every `updateIntervalMs` of event time, or at once when
 * the severity rises. With no sighting for `quietPeriodMs` it resolves; a recurrence within
 * `reopenWindowMs` re-opens the same alert (same id), later ones open a new alert.
 * Suppressions and maintenance windows drop detections before they become alerts (counted);
 * severity rules replace the detector's severity (last matching rule wins).
 */
export class AlertTracker implements DetectionSink {
  readonly #alerts = new Map<string, Tracked>();
  readonly #changes: AlertChange[] = [];
  readonly counters: TrackerCounters = { suppressed: 0, maintenance: 0, dropped: 0 };
  /** Suppressions made at run time (analysts, through the API), besides the configured ones. */
  #dynamic: AlertTrackerConfig['suppressions'] = [];

  constructor(
    private readonly config: AlertTrackerConfig,
    private readonly directory: Directory,
    private readonly evidence: (d: Detection) => Evidence,
    /**
     * `detected_at` of a change, ms, given the event time of the alert's latest sighting: the wall
     * clock, or an event time; the sighting's own event time when absent (deterministic tests).
     */
    private readonly now?: (lastSeenMs: number) => number,
  ) {}

  /** Replaces the run-time suppressions (the configured ones stay). */
  setSuppressions(rules: AlertTrackerConfig['suppressions']): void {
    this.#dynamic = rules;
  }

  raise(d: Detection): void {
    const subject = subjectOf(d);
    for (const rules of [this.config.suppressions, this.#dynamic])
      for (const rule of rules) {
        if (matches(rule, subject, this.directory)) {
          this.counters.suppressed++;
          return;
        }
      }
    for (const w of this.config.maintenance) {
      if (inWindow(w, d.atMs) && matches(w, subject, this.directory)) {
        this.counters.maintenance++;
        return;
      }
    }
    for (const rule of this.config.severity) if (matches(rule, subject, this.directory)) d.severity = rule.severity;

    const fingerprint = fingerprintOf(d);
    const tracked = this.#alerts.get(fingerprint);
    if (tracked === undefined) {
      if (this.#alerts.size >= this.config.alerts.maxOpen && !this.#evictResolved()) {
        this.counters.dropped++;
        return;
      }
      const alert = this.#newAlert(fingerprint, d);
      const t: Tracked = { alert, lastSeenMs: d.atMs, publishedMs: d.atMs, pending: undefined, resolvedMs: 0, analystAtMs: 0 };
      this.#alerts.set(fingerprint, t);
      alert.evidence = this.evidence(d);
      this.#emit('opened', t, d.receivedNs);
      return;
    }
    const alert = tracked.alert;
    if (alert.status === 'resolved') {
      if (d.atMs - tracked.resolvedMs > this.config.alerts.reopenWindowMs) {
        // Too long ago to be the same incident: a new alert replaces the old one.
        this.#alerts.delete(fingerprint);
        this.raise(d);
        return;
      }
      alert.status = 'open';
      tracked.lastSeenMs = d.atMs;
      tracked.publishedMs = d.atMs;
      this.#apply(alert, d);
      alert.severity = d.severity;
      alert.evidence = this.evidence(d);
      this.#emit('reopened', tracked, d.receivedNs);
      return;
    }
    tracked.lastSeenMs = Math.max(tracked.lastSeenMs, d.atMs);
    alert.last_seen = iso(tracked.lastSeenMs);
    if (tracked.pending === undefined || d.score >= tracked.pending.score) tracked.pending = d;
    if (SEVERITY_RANK[d.severity] > SEVERITY_RANK[alert.severity]) {
      alert.severity = d.severity;
      this.#publishPending(tracked, 'escalated', d.receivedNs);
    } else if (d.atMs - tracked.publishedMs >= this.config.alerts.updateIntervalMs) {
      this.#publishPending(tracked, 'updated', d.receivedNs);
    }
  }

  /** Resolves alerts quiet for the quiet period at event time `watermarkMs`; forgets old resolved ones. */
  sweep(watermarkMs: number): void {
    for (const [fingerprint, t] of this.#alerts) {
      if (t.alert.status !== 'resolved') {
        if (watermarkMs - t.lastSeenMs >= this.config.alerts.quietPeriodMs) {
          if (t.pending !== undefined) this.#apply(t.alert, t.pending);
          t.pending = undefined;
          t.alert.status = 'resolved';
          t.resolvedMs = watermarkMs;
          this.#emit('resolved', t, 0);
        } else if (t.pending !== undefined && watermarkMs - t.publishedMs >= this.config.alerts.updateIntervalMs) {
          this.#publishPending(t, 'updated', t.pending.receivedNs);
        }
      } else if (watermarkMs - t.resolvedMs > this.config.alerts.reopenWindowMs) {
        this.#alerts.delete(fingerprint);
      }
    }
  }

  /** Ids of the alerts held: open, acknowledged, or resolved and still able to re-open. */
  ids(): string[] {
    const out: string[] = [];
    for (const t of this.#alerts.values()) out.push(t.alert.id);
    return out;
  }

  /**
   * Applies analysts' changes: an acknowledgement holds while the alert is open (later updates keep
   * `acknowledged`; it still escalates, and resolves after the quiet period); a resolution resolves
   * it now (a later sighting re-opens it, as a recurrence). Each change is applied once (newer
   * than the last applied) and published as the alert's next version, above the analyst's, so
   * webhooks and Alertmanager hear of it, and so that an update of the detector's that raced the
   * analyst's write (the same version: ClickHouse may keep either) does not leave the row `open`.
   * An acknowledgement of an alert the detector had resolved meanwhile is published as an update
   * of the resolved alert (the row must not stay acknowledged). Returns how many were applied.
   */
  applyAnalyst(changes: readonly AnalystChange[]): number {
    let applied = 0;
    if (changes.length === 0) return applied;
    const byId = new Map<string, Tracked>();
    for (const t of this.#alerts.values()) byId.set(t.alert.id, t);
    for (const c of changes) {
      const t = byId.get(c.id);
      if (t === undefined || c.atMs <= t.analystAtMs) continue;
      t.analystAtMs = c.atMs;
      applied++;
      const alert = t.alert;
      if (c.status === 'acknowledged') {
        if (alert.status === 'open') alert.status = 'acknowledged';
      } else if (alert.status !== 'resolved') {
        if (t.pending !== undefined) this.#apply(alert, t.pending);
        t.pending = undefined;
        alert.status = 'resolved';
        t.resolvedMs = t.lastSeenMs;
      }
      alert.version = Math.max(alert.version, c.version);
      if (alert.status === c.status) this.#emit(c.status, t, 0, true);
      else this.#emit('updated', t, 0);
    }
    return applied;
  }

  /** Takes the changes to publish, oldest first. */
  drain(): AlertChange[] {
    return this.#changes.splice(0, this.#changes.length);
  }

  /** Alerts open now (not resolved). */
  open(): Alert[] {
    const out: Alert[] = [];
    for (const t of this.#alerts.values()) if (t.alert.status !== 'resolved') out.push(t.alert);
    return out;
  }

  get size(): number {
    return this.#alerts.size;
  }

  snapshot(): TrackerSnapshot {
    return {
      alerts: [...this.#alerts.values()].map((t) => ({
        alert: t.alert,
        lastSeenMs: t.lastSeenMs,
        publishedMs: t.publishedMs,
        resolvedMs: t.resolvedMs,
        analystAtMs: t.analystAtMs,
      })),
    };
  }

  restore(s: TrackerSnapshot): void {
    for (const a of s.alerts) {
      const existing = this.#alerts.get(a.alert.fingerprint);
      if (existing !== undefined && existing.alert.version >= a.alert.version) continue;
      this.#alerts.set(a.alert.fingerprint, { ...a, alert: structuredClone(a.alert), pending: undefined, analystAtMs: a.analystAtMs ?? 0 });
    }
  }

  #publishPending(t: Tracked, event: AlertEvent, receivedNs: number): void {
    const d = t.pending;
    if (d !== undefined) {
      this.#apply(t.alert, d);
      t.alert.evidence = this.evidence(d);
    }
    t.pending = undefined;
    t.publishedMs = t.lastSeenMs;
    this.#emit(event, t, receivedNs);
  }

  /** Takes the figures of the strongest sighting (the peak is what an analyst wants to see). */
  #apply(alert: Alert, d: Detection): void {
    if (d.score >= alert.score || alert.status === 'resolved') {
      alert.observed = d.observed;
      alert.expected = d.expected;
      alert.score = d.score;
      alert.summary = d.summary;
    }
    alert.last_seen = iso(Math.max(Date.parse(alert.last_seen), d.atMs));
  }

  #emit(event: AlertEvent, t: Tracked, receivedNs: number, analyst = false): void {
    const alert = t.alert;
    alert.version++;
    alert.detected_at = iso(this.now?.(t.lastSeenMs) ?? t.lastSeenMs);
    this.#changes.push({ event, alert: structuredClone(alert), receivedNs, ...(analyst ? { analyst: true as const } : {}) });
  }

  #newAlert(fingerprint: string, d: Detection): Alert {
    const alert: Alert = {
      id: createHash('sha256')
        .update(`${fingerprint}@${Math.floor(d.atMs)}`)
        .digest('hex')
        .slice(0, 32),
      fingerprint,
      type: d.type,
      severity: d.severity,
      status: 'open',
      entity: d.entity,
      supplier_ids: d.supplierIds,
      first_seen: iso(d.atMs),
      last_seen: iso(d.atMs),
      detected_at: iso(d.atMs),
      observed: d.observed,
      expected: d.expected,
      score: d.score,
      summary: d.summary,
      evidence: { top_flows: [], top_sources: [], details: {} },
      version: 0,
    };
    if (d.srcOrg) alert.src_org = d.srcOrg;
    if (d.dstOrg) alert.dst_org = d.dstOrg;
    if (d.srcAddr) alert.src_addr = d.srcAddr;
    if (d.dstAddr) alert.dst_addr = d.dstAddr;
    if (d.dstPort !== undefined) alert.dst_port = d.dstPort;
    if (d.service) alert.service = d.service;
    return alert;
  }

  #evictResolved(): boolean {
    for (const [fingerprint, t] of this.#alerts) {
      if (t.alert.status === 'resolved') {
        this.#alerts.delete(fingerprint);
        return true;
      }
    }
    return false;
  }
}

export function fingerprintOf(d: Pick<Detection, 'type' | 'entity' | 'discriminator'>): string {
  const base = `${d.type}|${d.entity.kind}:${d.entity.id}`;
  return d.discriminator === undefined ? base : `${base}|${d.discriminator}`;
}

function iso(ms: number): string {
  return new Date(Math.floor(ms)).toISOString();
}
