import { z } from 'zod';

/**
 * The one alert shape: what the detector publishes on Kafka `alerts` (keyed by `fingerprint`,
 * header `schema: flowwatch.alerts.v1`), stores in ClickHouse `alerts`, posts to webhooks and
 * what the API serves. Documented field by field in docs/detection.md.
 */
export const ALERTS_SCHEMA = 'flowwatch.alerts.v1';

export const ALERT_TYPES = [
  'volume_spike',
  'volume_drop',
  'telemetry_silence',
  'port_scan',
  'host_sweep',
  'flood',
  'syn_flood',
  'amplification',
  'lateral_movement',
  'exfiltration',
  'new_pair',
  'blocklist',
  'policy',
] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const ALERT_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

/** What an alert is about; with the type it makes the fingerprint. */
export const ENTITY_KINDS = [
  'supplier',
  'exporter',
  'organisation',
  'organisation_in',
  'organisation_out',
  'organisation_pair',
  'organisation_service',
  'service',
  'host',
  'address',
  'policy',
] as const;
export type EntityKind = (typeof ENTITY_KINDS)[number];

const iso = z.iso.datetime({ offset: false });

export const evidenceFlowSchema = z.strictObject({
  time: iso.describe('Event time of the flow'),
  src_addr: z.string(),
  dst_addr: z.string(),
  src_port: z.number().int().min(0).max(65535),
  dst_port: z.number().int().min(0).max(65535),
  proto: z.number().int().min(0).max(255),
  bytes: z.number().min(0).describe('Estimated bytes (scaled by the sampling rate)'),
  packets: z.number().min(0),
  src_org: z.string(),
  dst_org: z.string(),
  supplier_id: z.string().describe('Supplier whose exporter reported the flow'),
  exporter_id: z.string(),
  records: z
    .number()
    .int()
    .min(2)
    .optional()
    .describe(
      'Flow records of this one conversation summed into the row (an sFlow agent samples, a long transfer exported per active timeout); absent: one',
    ),
});
export type EvidenceFlow = z.infer<typeof evidenceFlowSchema>;

export const evidenceSourceSchema = z.strictObject({
  addr: z.string(),
  org: z.string(),
  flows: z.number().int().min(0),
  bytes: z.number().min(0),
  packets: z.number().min(0),
});
export type EvidenceSource = z.infer<typeof evidenceSourceSchema>;

export const evidenceSchema = z.strictObject({
  top_flows: z.array(evidenceFlowSchema).max(20).describe('Largest recent flows matching the alert at detection time'),
  top_sources: z.array(evidenceSourceSchema).max(20).describe('Sources contributing most at detection time'),
  details: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
    .describe('Detector-specific figures (distinct ports, threshold, list name, rule id, ...)'),
});
export type Evidence = z.infer<typeof evidenceSchema>;

export const alertSchema = z.strictObject({
  id: z.string().min(1).max(64).describe('Stable id of this alert (the same across its updates and re-opening)'),
  fingerprint: z.string().min(1).max(512).describe('type|entity kind:entity id[|discriminator]: one open alert per fingerprint'),
  type: z.enum(ALERT_TYPES),
  severity: z.enum(SEVERITIES),
  status: z.enum(ALERT_STATUSES),
  entity: z.strictObject({
    kind: z.enum(ENTITY_KINDS),
    id: z.string().min(1).max(256),
    name: z.string().max(512).describe('Display name: organisation or supplier name, not just the code'),
  }),
  supplier_ids: z.array(z.string()).describe('Suppliers responsible (routing: a supplier webhook receives alerts naming it)'),
  src_org: z.string().optional(),
  dst_org: z.string().optional(),
  src_addr: z.string().optional(),
  dst_addr: z.string().optional(),
  dst_port: z.number().int().min(0).max(65535).optional(),
  service: z.string().optional(),
  first_seen: iso.describe('Event time the condition was first seen'),
  last_seen: iso.describe('Event time the condition was last seen'),
  detected_at: iso.describe('Wall-clock time the detector raised or last updated the alert'),
  observed: z.number().describe('Observed value (unit in evidence.details.unit)'),
  expected: z.number().describe('Expected value or threshold'),
  score: z.number().describe('How far beyond the threshold: robust z-score, or observed/threshold'),
  summary: z.string().min(1).max(1000).describe('One line an analyst understands'),
  evidence: evidenceSchema,
  version: z.number().int().min(1).describe('Increases with every change; ClickHouse keeps the highest'),
});
export type Alert = z.infer<typeof alertSchema>;

/** Events of an alert's history (ClickHouse `alert_events`, and the `event` of a published change). */
export const ALERT_EVENTS = ['opened', 'updated', 'escalated', 'resolved', 'reopened', 'acknowledged'] as const;
export type AlertEvent = (typeof ALERT_EVENTS)[number];

/** A Kafka `alerts` message value: the alert as it is now and what just happened to it. */
export const alertMessageSchema = z.strictObject({
  schema: z.literal(ALERTS_SCHEMA),
  event: z.enum(ALERT_EVENTS),
  alert: alertSchema,
});
export type AlertMessage = z.infer<typeof alertMessageSchema>;
