import type { Alert, AlertType } from '@flowwatch/flow-schema';
import { ALERT_TYPES } from '@flowwatch/flow-schema';
import type { Entity, Label } from '@flowwatch/simulator';

/** What scoring needs of an alert: the fields that name its entities and its times (event time). */
export type ScoredAlert = Pick<
  Alert,
  'id' | 'type' | 'entity' | 'first_seen' | 'detected_at' | 'supplier_ids' | 'src_org' | 'dst_org' | 'src_addr' | 'dst_addr' | 'service'
> & {
  /** Wall-clock pipeline latency of its first publication, seconds (real pipeline runs only). */
  wall_latency_s?: number;
};

export interface ScoreOptions {
  /** Alerts first seen before this (the learning period) are not scored. */
  fromMs: number;
  /** End of the evaluated period. */
  toMs: number;
  /** An alert may start this long before its incident (flows at the edge of a slot). */
  slackMs: number;
  /** ... and this long after it ended (a baselined type decides after its interval). */
  graceMs: number;
}

export const DEFAULT_SCORE_OPTIONS = { slackMs: 60_000, graceMs: 300_000 } as const;

export interface TypeScore {
  type: AlertType;
  /** Incidents whose label asks for this type. */
  incidents: number;
  detected: number;
  recall: number;
  /** Alerts of this type in the evaluated period. */
  alerts: number;
  /** Alerts explained by an incident (its own type, or one the incident also causes). */
  truePositives: number;
  falseAlerts: number;
  precision: number;
  /** Alerts of this type per detected incident of this type (1: no duplicates). */
  alertsPerIncident: number;
  /** Event time from incident start to its first alert of this type, seconds. */
  medianDelayS: number;
  worstDelayS: number;
  /** Wall-clock pipeline latency of those first alerts, seconds (when measured). */
  medianWallLatencyS: number;
  worstWallLatencyS: number;
  missed: string[];
}

export interface Score {
  days: number;
  types: TypeScore[];
  incidents: number;
  detected: number;
  alerts: number;
  falseAlerts: number;
  falseAlertsPerDay: number;
  /** Alerts during benign labels (surges) that no incident explains. */
  benignAlerts: number;
  /** Alerts that no incident explains, for reading. */
  false: ScoredAlert[];
  /** Per incident: id, type, first alert's delay (s), or undefined when missed. */
  perIncident: { id: string; type: string; scenario: string; delayS: number | undefined }[];
}

/**
 * Matches alerts to labelled incidents and scores each alert type.
 *
 * - An alert matches an incident when its type is the incident's type or one the incident also
 *   causes (`also`), it names one of the incident's entities (the entity or a related one: the
 *   alert's entity, its organisations, addresses or service; a supplier by the alert's suppliers),
 *   and it was first seen within [start - slack, end + grace].
 * - Recall of a type: incidents of that type with at least one matching alert of that type.
 * - Precision of a type: its alerts that match some incident, over all its alerts. Several alerts
 *   for one incident are all true (they point at it); their number is reported as alerts per
 *   incident, so duplication is visible without being called false.
 * - A benign incident (a surge) explains nothing: alerts during it are false like any other.
 * - Delay: the first matching alert's detected_at (event time of the detector's decision) minus
 *   the incident's start.
 */
export function scoreAlerts(labels: readonly Label[], alerts: readonly ScoredAlert[], options: ScoreOptions): Score {
  const incidents = labels.filter((l) => !l.benign);
  const benign = labels.filter((l) => l.benign);
  const scored = alerts.filter((a) => {
    const t = Date.parse(a.first_seen);
    return t >= options.fromMs && t < options.toMs + options.graceMs;
  });
  const names = new Map<ScoredAlert, Set<string>>();
  for (const a of scored) names.set(a, namesOf(a));

  const firstAlert = new Map<Label, ScoredAlert>();
  const explained = new Set<ScoredAlert>();
  for (const a of scored) {
    const t = Date.parse(a.first_seen);
    for (const l of incidents) {
      if (l.type !== a.type && !(l.also ?? []).includes(a.type)) continue;
      if (t < Date.parse(l.start) - options.slackMs || t > Date.parse(l.end) + options.graceMs) continue;
      if (!entitiesOf(l).some((e) => named(e, a, names.get(a) as Set<string>))) continue;
      explained.add(a);
      if (l.type === a.type) {
        const prev = firstAlert.get(l);
        if (prev === undefined || Date.parse(a.detected_at) < Date.parse(prev.detected_at)) firstAlert.set(l, a);
      }
    }
  }

  // After the evaluated period the simulated network stops sending: a drop or a silence then is
  // right, and about traffic that was never simulated. Only incidents' late alerts count there.
  const falseAlerts = scored.filter((a) => !explained.has(a) && Date.parse(a.first_seen) < options.toMs);
  const counted = scored.filter((a) => explained.has(a) || Date.parse(a.first_seen) < options.toMs);
  const delayS = (l: Label, a: ScoredAlert) => Math.max(0, (Date.parse(a.detected_at) - Date.parse(l.start)) / 1000);
  const types: TypeScore[] = [];
  for (const type of ALERT_TYPES) {
    const mine = incidents.filter((l) => l.type === type);
    const found = mine.filter((l) => firstAlert.has(l));
    const ofType = counted.filter((a) => a.type === type);
    const tp = ofType.filter((a) => explained.has(a)).length;
    const delays = found.map((l) => delayS(l, firstAlert.get(l) as ScoredAlert)).sort((x, y) => x - y);
    const wall = found
      .map((l) => firstAlert.get(l)?.wall_latency_s)
      .filter((x): x is number => x !== undefined)
      .sort((x, y) => x - y);
    const ownAlerts = ofType.filter((a) => mine.some((l) => matchesPrimary(l, a, options, names.get(a) as Set<string>))).length;
    types.push({
      type,
      incidents: mine.length,
      detected: found.length,
      recall: mine.length === 0 ? Number.NaN : found.length / mine.length,
      alerts: ofType.length,
      truePositives: tp,
      falseAlerts: ofType.length - tp,
      precision: ofType.length === 0 ? Number.NaN : tp / ofType.length,
      alertsPerIncident: found.length === 0 ? Number.NaN : ownAlerts / found.length,
      medianDelayS: median(delays),
      worstDelayS: delays.length === 0 ? Number.NaN : (delays[delays.length - 1] as number),
      medianWallLatencyS: median(wall),
      worstWallLatencyS: wall.length === 0 ? Number.NaN : (wall[wall.length - 1] as number),
      missed: mine.filter((l) => !firstAlert.has(l)).map((l) => l.id),
    });
  }
  const days = (options.toMs - options.fromMs) / 86_400_000;
  const during = (a: ScoredAlert) =>
    benign.some((l) => {
      const t = Date.parse(a.first_seen);
      return t >= Date.parse(l.start) - options.slackMs && t <= Date.parse(l.end) + options.graceMs;
    });
  return {
    days,
    types,
    incidents: incidents.length,
    detected: firstAlert.size,
    alerts: counted.length,
    falseAlerts: falseAlerts.length,
    falseAlertsPerDay: days > 0 ? falseAlerts.length / days : Number.NaN,
    benignAlerts: falseAlerts.filter(during).length,
    false: falseAlerts,
    perIncident: incidents.map((l) => {
      const a = firstAlert.get(l);
      return { id: l.id, type: l.type, scenario: l.scenario, delayS: a === undefined ? undefined : delayS(l, a) };
    }),
  };
}

function matchesPrimary(l: Label, a: ScoredAlert, o: ScoreOptions, names: Set<string>): boolean {
  const t = Date.parse(a.first_seen);
  return (
    l.type === a.type &&
    t >= Date.parse(l.start) - o.slackMs &&
    t <= Date.parse(l.end) + o.graceMs &&
    entitiesOf(l).some((e) => named(e, a, names))
  );
}

function entitiesOf(l: Label): Entity[] {
  return [l.entity, ...l.related];
}

/** Every identifier an alert names: entity (and the parts of a pair), organisations, addresses, service. */
export function namesOf(a: ScoredAlert): Set<string> {
  const out = new Set<string>([a.entity.id]);
  if (a.entity.kind === 'organisation_pair' || a.entity.kind === 'organisation_service') {
    for (const part of a.entity.id.split('>')) out.add(part);
  }
  for (const v of [a.src_org, a.dst_org, a.src_addr, a.dst_addr, a.service]) if (v) out.add(v);
  return out;
}

function named(e: Entity, a: ScoredAlert, names: Set<string>): boolean {
  if (e.kind === 'network') return true;
  if (e.kind === 'supplier') return a.supplier_ids.includes(e.id) || names.has(e.id);
  return names.has(e.id);
}

function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
