/**
 * The alert as the API serves it and the one mapping between it and ClickHouse `alerts` rows and
 * Kafka `alerts` messages. The shape is the detector's (`flowwatch.alerts.v1`, @flowwatch/flow-schema).
 */
import {
  ALERT_STATUSES,
  ALERT_TYPES,
  ALERTS_SCHEMA,
  type AlertStatus,
  type AlertType,
  SEVERITIES,
  type Severity,
} from '@flowwatch/flow-schema';
import { z } from 'zod';
import { dt64, iso, msOf } from '../ch-time.js';

export { ALERT_STATUSES, ALERT_TYPES, ALERTS_SCHEMA, type AlertStatus, type AlertType, SEVERITIES, type Severity };

/** What happened to an alert: the detector's events, plus `commented` (the API's own). */
export const ALERT_EVENTS = ['opened', 'updated', 'escalated', 'resolved', 'reopened', 'acknowledged', 'commented'] as const;
export type AlertEventName = (typeof ALERT_EVENTS)[number];

const isoTime = z.iso.datetime({ offset: true });

const evidenceFlowSchema = z.looseObject({
  time: z.string().optional(),
  src_addr: z.string().optional(),
  dst_addr: z.string().optional(),
  src_port: z.number().optional(),
  dst_port: z.number().optional(),
  proto: z.number().optional(),
  bytes: z.number().optional(),
  packets: z.number().optional(),
  src_org: z.string().optional(),
  dst_org: z.string().optional(),
  supplier_id: z.string().optional(),
  exporter_id: z.string().optional(),
});
const evidenceSourceSchema = z.looseObject({
  addr: z.string().optional(),
  org: z.string().optional(),
  flows: z.number().optional(),
  bytes: z.number().optional(),
  packets: z.number().optional(),
});
export const evidenceSchema = z
  .object({
    top_flows: z.array(evidenceFlowSchema).describe('Largest flows matching the alert at detection time'),
    top_sources: z.array(evidenceSourceSchema).describe('Sources contributing most at detection time'),
    details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).describe('Detector-specific figures'),
  })
  .meta({ id: 'Evidence' });
export type Evidence = z.infer<typeof evidenceSchema>;

const alertFields = {
  id: z.string().min(1).max(64).describe('Stable id of this alert'),
  fingerprint: z.string().max(512).describe('type|entity kind:entity id[|discriminator]'),
  type: z.enum(ALERT_TYPES),
  severity: z.enum(SEVERITIES),
  status: z.enum(ALERT_STATUSES),
  entity: z.object({ kind: z.string().max(64), id: z.string().max(256), name: z.string().max(512) }).describe('What the alert is about'),
  supplier_ids: z.array(z.string()).describe('Suppliers responsible; a supplier sees the alerts naming it'),
  src_org: z.string().optional(),
  dst_org: z.string().optional(),
  src_addr: z.string().optional(),
  dst_addr: z.string().optional(),
  dst_port: z.number().int().min(0).max(65535).optional(),
  service: z.string().optional(),
  first_seen: isoTime.describe('Event time the condition was first seen'),
  last_seen: isoTime.describe('Event time the condition was last seen'),
  detected_at: isoTime.describe('When the detector raised or last updated the alert'),
  observed: z.number().describe('Observed value'),
  expected: z.number().describe('Expected value or threshold'),
  score: z.number().describe('How far beyond the threshold'),
  summary: z.string().max(1000).describe('One line an analyst understands'),
  version: z.number().int().min(0).describe('Increases with every change; ClickHouse keeps the highest'),
};

/** An alert as listed: everything but the evidence. */
export const alertSummarySchema = z
  .object({ ...alertFields, updated_at: isoTime.describe('When this version was written') })
  .meta({ id: 'AlertSummary', description: 'An alert without its evidence' });
export type AlertSummary = z.infer<typeof alertSummarySchema>;
/** An alert with its evidence. */
export const alertSchema = z.object({ ...alertFields, updated_at: isoTime, evidence: evidenceSchema }).meta({ id: 'Alert' });
export type Alert = z.infer<typeof alertSchema>;

/** What the detector publishes (and what tests publish as the detector would). Unknown fields are ignored. */
export const alertInputSchema = z.object({ ...alertFields, evidence: evidenceSchema.partial().optional() });
export type AlertInput = z.input<typeof alertInputSchema>;
export const alertMessageSchema = z.object({
  schema: z.literal(ALERTS_SCHEMA),
  event: z.enum(ALERT_EVENTS),
  alert: alertInputSchema,
});
export type AlertMessage = z.infer<typeof alertMessageSchema>;

/**
 * The columns every read selects, times as epoch milliseconds (independent of server settings).
 * The aliases differ from the column names: in ClickHouse an alias shadows its column everywhere
 * in the query, WHERE included.
 */
export const ALERT_COLUMNS = `id, fingerprint, type, severity, status, entity_kind, entity_id, entity_name, supplier_ids,
  src_org, dst_org, src_addr, dst_addr, dst_port, service,
  toUnixTimestamp64Milli(first_seen) AS first_seen_ms, toUnixTimestamp64Milli(last_seen) AS last_seen_ms,
  toUnixTimestamp64Milli(detected_at) AS detected_at_ms, observed, expected, score, summary,
  toUnixTimestamp64Milli(updated_at) AS updated_at_ms, version`;

/** A row of `alerts` as read with ALERT_COLUMNS (+ `evidence` when asked for). */
export interface AlertRow {
  id: string;
  fingerprint: string;
  type: string;
  severity: string;
  status: string;
  entity_kind: string;
  entity_id: string;
  entity_name: string;
  supplier_ids: string[];
  src_org: string;
  dst_org: string;
  src_addr: string;
  dst_addr: string;
  dst_port: number;
  service: string;
  first_seen_ms: string | number;
  last_seen_ms: string | number;
  detected_at_ms: string | number;
  observed: number;
  expected: number;
  score: number;
  summary: string;
  evidence?: string;
  updated_at_ms: string | number;
  version: string | number;
}

const optional = (s: string) => (s === '' ? undefined : s);

export function rowToSummary(r: AlertRow): AlertSummary {
  const out: AlertSummary = {
    id: r.id,
    fingerprint: r.fingerprint,
    type: r.type as AlertType,
    severity: r.severity as Severity,
    status: r.status as AlertStatus,
    entity: { kind: r.entity_kind, id: r.entity_id, name: r.entity_name },
    supplier_ids: r.supplier_ids,
    first_seen: iso(msOf(r.first_seen_ms)),
    last_seen: iso(msOf(r.last_seen_ms)),
    detected_at: iso(msOf(r.detected_at_ms)),
    observed: r.observed,
    expected: r.expected,
    score: r.score,
    summary: r.summary,
    updated_at: iso(msOf(r.updated_at_ms)),
    version: Number(r.version),
  };
  for (const k of ['src_org', 'dst_org', 'src_addr', 'dst_addr', 'service'] as const) {
    const v = optional(r[k]);
    if (v !== undefined) out[k] = v;
  }
  if (r.dst_port) out.dst_port = r.dst_port;
  return out;
}

export function rowToAlert(r: AlertRow): Alert {
  return { ...rowToSummary(r), evidence: parseEvidence(r.evidence) };
}

/** Stored evidence is a JSON string; anything unreadable shows as empty evidence, never as an error. */
export function parseEvidence(text: string | undefined): Evidence {
  const empty: Evidence = { top_flows: [], top_sources: [], details: {} };
  if (!text) return empty;
  try {
    const r = evidenceSchema.partial().safeParse(JSON.parse(text));
    return r.success ? { ...empty, ...r.data } : empty;
  } catch {
    return empty;
  }
}

/** The insert row for `alerts` from an alert as published (tests and the bench store alerts as the detector would). */
export function inputToRow(a: z.output<typeof alertInputSchema>, updatedAtMs: number): Record<string, unknown> {
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
    first_seen: dt64(Date.parse(a.first_seen)),
    last_seen: dt64(Date.parse(a.last_seen)),
    detected_at: dt64(Date.parse(a.detected_at)),
    observed: a.observed,
    expected: a.expected,
    score: a.score,
    summary: a.summary,
    evidence: JSON.stringify({ top_flows: [], top_sources: [], details: {}, ...a.evidence }),
    updated_at: dt64(updatedAtMs),
    version: a.version,
  };
}

/** An alert as published, as the API lists it (the live stream forwards Kafka messages this way). */
export function inputToSummary(a: z.output<typeof alertInputSchema>, updatedAtMs: number): AlertSummary {
  const { evidence: _, ...rest } = a;
  const t = (s: string) => iso(Date.parse(s));
  return { ...rest, first_seen: t(a.first_seen), last_seen: t(a.last_seen), detected_at: t(a.detected_at), updated_at: iso(updatedAtMs) };
}

/** The insert row for a new version of a stored alert (an analyst's change): the same alert with `changes`. */
export function nextVersionRow(current: AlertRow, changes: { status: AlertStatus; updatedAtMs: number }): Record<string, unknown> {
  const { first_seen_ms, last_seen_ms, detected_at_ms, updated_at_ms: _, ...rest } = current;
  return {
    ...rest,
    first_seen: dt64(msOf(first_seen_ms)),
    last_seen: dt64(msOf(last_seen_ms)),
    detected_at: dt64(msOf(detected_at_ms)),
    evidence: current.evidence ?? '',
    status: changes.status,
    updated_at: dt64(changes.updatedAtMs),
    version: Number(current.version) + 1,
  };
}

/** A Kafka `alerts` message for an alert as it is now (an analyst's acknowledgement or resolution). */
export function alertMessage(event: AlertEventName, alert: Alert): AlertMessage {
  const { updated_at: _, ...rest } = alert;
  return { schema: ALERTS_SCHEMA, event, alert: rest };
}
