import type { DetectorConfig } from '@flowwatch/config';
import type { AlertType } from '@flowwatch/flow-schema';
import type { Detection } from './detection.js';
import type { Directory } from './directory.js';

/** Which alerts a rule applies to: every non-empty list must match. */
export interface Selector {
  types: readonly string[];
  entities: readonly string[];
  organisations: readonly string[];
  groups: readonly string[];
  suppliers: readonly string[];
}

/** What a selector is tested against: a detection, or an entity before it has one. */
export interface Subject {
  type?: AlertType;
  entityKind: string;
  entityId: string;
  orgs: readonly string[];
  suppliers: readonly string[];
}

export function subjectOf(d: Detection): Subject {
  const orgs: string[] = [];
  if (d.srcOrg) orgs.push(d.srcOrg);
  if (d.dstOrg) orgs.push(d.dstOrg);
  if (d.entity.kind.startsWith('organisation') && !d.entity.id.includes('>') && !orgs.includes(d.entity.id)) orgs.push(d.entity.id);
  return { type: d.type, entityKind: d.entity.kind, entityId: d.entity.id, orgs, suppliers: d.supplierIds };
}

export function matches(selector: Selector, s: Subject, directory: Directory): boolean {
  if (selector.types.length > 0 && (s.type === undefined || !selector.types.includes(s.type))) return false;
  if (selector.entities.length > 0 && !selector.entities.some((e) => entityMatches(e, s))) return false;
  if (selector.organisations.length > 0 && !s.orgs.some((o) => selector.organisations.includes(o))) return false;
  if (selector.groups.length > 0 && !s.orgs.some((o) => selector.groups.some((g) => directory.inGroup(o, g)))) return false;
  if (selector.suppliers.length > 0 && !s.suppliers.some((x) => selector.suppliers.includes(x))) return false;
  return true;
}

function entityMatches(ref: string, s: Subject): boolean {
  const colon = ref.indexOf(':');
  const kind = ref.slice(0, colon);
  const id = ref.slice(colon + 1);
  // `organisation:X` also covers organisation_in/_out of X.
  const kindOk = kind === s.entityKind || (kind === 'organisation' && s.entityKind.startsWith('organisation'));
  return kindOk && (id === '*' || id === s.entityId);
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** Whether event time `ms` falls in a maintenance window. */
export function inWindow(w: DetectorConfig['maintenance'][number], ms: number): boolean {
  if (w.start !== undefined || w.end !== undefined) {
    const start = w.start === undefined ? Number.NEGATIVE_INFINITY : Date.parse(w.start);
    const end = w.end === undefined ? Number.POSITIVE_INFINITY : Date.parse(w.end);
    if (ms < start || ms >= end) return false;
    if (w.weekly === undefined) return true;
  }
  if (w.weekly === undefined) return false;
  const d = new Date(ms);
  const minute = d.getUTCHours() * 60 + d.getUTCMinutes();
  const from = toMinutes(w.weekly.from);
  const to = toMinutes(w.weekly.to);
  const today = DAYS[d.getUTCDay()]!;
  const yesterday = DAYS[(d.getUTCDay() + 6) % 7]!;
  const days = w.weekly.days as string[];
  if (from <= to) return days.includes(today) && minute >= from && minute < to;
  // Past midnight: the evening part today, or the morning part of a window that began yesterday.
  return (days.includes(today) && minute >= from) || (days.includes(yesterday) && minute < to);
}

function toMinutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/**
 * Per-entity threshold overrides: the scale (multiplying thresholds) and whether detection is
 * off, by the last matching rule. Resolved once per entity when it is created.
 */
export class Overrides {
  constructor(
    private readonly rules: DetectorConfig['overrides'],
    private readonly directory: Directory,
  ) {}

  /** 0 means disabled; otherwise the threshold multiplier (1 by default). */
  scaleFor(type: AlertType, entityKind: string, entityId: string, orgs: readonly string[], suppliers: readonly string[]): number {
    let scale = 1;
    if (this.rules.length === 0) return scale;
    const subject: Subject = { type, entityKind, entityId, orgs, suppliers };
    for (const rule of this.rules) {
      if (matches(rule, subject, this.directory)) scale = rule.disabled ? 0 : rule.scale;
    }
    return scale;
  }
}
