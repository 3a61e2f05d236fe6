/** The API's answers as the page uses them (the OpenAPI document at /api/openapi.json is the reference). */
export type Role = 'viewer' | 'analyst' | 'admin' | 'supplier';
export type Severity = 'low' | 'medium' | 'high' | 'critical';
export type Status = 'open' | 'acknowledged' | 'resolved';
export const SEVERITIES: readonly Severity[] = ['critical', 'high', 'medium', 'low'];
export const STATUSES: readonly Status[] = ['open', 'acknowledged', 'resolved'];

export interface User {
  name: string;
  role: Role;
  supplier: string | null;
  token_id: string;
  via: 'token' | 'session';
}

export interface AlertSummary {
  id: string;
  fingerprint: string;
  type: string;
  severity: Severity;
  status: Status;
  entity: { kind: string; id: string; name: string };
  supplier_ids: string[];
  src_org?: string;
  dst_org?: string;
  src_addr?: string;
  dst_addr?: string;
  dst_port?: number;
  service?: string;
  first_seen: string;
  last_seen: string;
  detected_at: string;
  updated_at: string;
  observed: number;
  expected: number;
  score: number;
  summary: string;
  version: number;
}

export interface EvidenceFlow {
  time?: string;
  src_addr?: string;
  dst_addr?: string;
  src_port?: number;
  dst_port?: number;
  proto?: number;
  bytes?: number;
  packets?: number;
  src_org?: string;
  dst_org?: string;
  supplier_id?: string;
  exporter_id?: string;
}

export interface Alert extends AlertSummary {
  evidence: {
    top_flows: EvidenceFlow[];
    top_sources: { addr?: string; org?: string; flows?: number; bytes?: number; packets?: number }[];
    details: Record<string, string | number | boolean | null>;
  };
}

export interface AlertEvent {
  at: string;
  event: string;
  actor: string;
  detail: string;
}

export interface Counts {
  open: Record<Severity, number>;
  acknowledged: Record<Severity, number>;
  resolved_24h: number;
}

/**
 * The traffic metrics the page asks for: only the estimated bytes (`metrics=bytes_est`), so the API
 * leaves out the rest, above all the costly distinct-address counts.
 */
export interface Metrics {
  bytes_est: number;
}

export interface Series {
  table: string;
  interval: string;
  from: string;
  to: string;
  series: { key: string | number | null; kind: 'total' | 'key' | 'other'; points: (Metrics & { ts: string })[] }[];
}

export interface Top {
  table: string;
  keys: number;
  rows: (Metrics & { key: Record<string, string | number> })[];
  totals: Metrics;
}

export interface Matrix {
  table: string;
  pairs: number;
  truncated: boolean;
  cells: (Metrics & { src: string; dst: string })[];
  totals: Metrics;
}

export interface Flow {
  time_received: string;
  supplier_id: string;
  exporter_id: string;
  src_addr: string;
  dst_addr: string;
  src_port: number;
  dst_port: number;
  proto: number;
  bytes: number;
  packets: number;
  bytes_est: number;
  sampling_rate: number;
  src_org: string;
  dst_org: string;
  service: string;
  direction: string;
  tcp_flags: number;
}

export interface Flows {
  table: string;
  truncated: boolean;
  limit: number;
  flows: Flow[];
  notes: string[];
}

export interface Exporter {
  supplier: string;
  exporter: string;
  registered: boolean;
  status: 'ok' | 'silent';
  last_flow: string | null;
  flows: number;
}

export interface Registry {
  suppliers: { id: string; name: string; exporters: string[] }[];
  organisations: { code: string; name: string; type: string; supplier: string }[];
  services: { id: string; name: string }[];
  groups: { id: string; name: string; organisations: string[] }[];
}

export interface AuditEntry {
  at: string;
  id: string;
  actor: string;
  role: string;
  supplier_id: string;
  action: string;
  target_kind: string;
  target_id: string;
  outcome: 'ok' | 'failed';
  detail: Record<string, unknown>;
  client_addr: string;
}

export interface Suppression {
  id: string;
  types: string[];
  entities: string[];
  organisations: string[];
  groups: string[];
  suppliers: string[];
  reason: string;
  expires_at: string | null;
  created_by: string;
  created_at: string;
  active: boolean;
}

export interface TrafficTick {
  at: string;
  buckets: { ts: string; supplier: string; bytes: number; bytes_est: number; packets_est: number; flows: number }[];
}
