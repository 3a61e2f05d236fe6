import { flowToJson } from './flow-json.js';
import type { FlowRecord } from './flow-record.js';

/**
 * Topic contracts. Messages carry their schema in the `schema` header; an incompatible change gets
 * a new version, never an in-place change.
 *
 * `flows`: value = NDJSON, one FlowRecord per line (many records per message, to amortise Kafka's
 * per-message cost); key = `<supplier_id>/<exporter_id>`, so one exporter's records stay in order
 * in one partition.
 *
 * A `flows` message with the header `telemetry: heartbeat` and an empty value says that the exporter
 * of its key (headers `supplier`, `exporter`) sent telemetry without flow records (an sFlow agent's
 * counter samples, a NetFlow v9/IPFIX template refresh or options data) up to reception time `at`
 * (ms): it is alive. Consumers that read records find none in it.
 *
 * `flows.dlq`: value = one JSON DeadLetter; key = the source.
 */
export const FLOWS_SCHEMA = 'flowwatch.flows.v1';
export const DLQ_SCHEMA = 'flowwatch.dlq.v1';

export function encodeFlows(records: readonly FlowRecord[], from = 0, to = records.length): Buffer {
  let out = '';
  for (let i = from; i < to; i++) out += `${flowToJson(records[i] as FlowRecord)}\n`;
  return Buffer.from(out);
}

/** Parses a `flows` message; lines that are not JSON objects are returned as errors, not thrown. */
export function decodeFlows(value: Buffer | string): { records: FlowRecord[]; badLines: number } {
  const text = typeof value === 'string' ? value : value.toString('utf8');
  const records: FlowRecord[] = [];
  let badLines = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const parsed: unknown = JSON.parse(line);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) records.push(parsed as FlowRecord);
      else badLines++;
    } catch {
      badLines++;
    }
  }
  return { records, badLines };
}

export interface DeadLetter {
  schema: typeof DLQ_SCHEMA;
  /** A reason code from a small fixed set (the decoder's or the validator's). */
  reason: string;
  /** One line: what was wrong. */
  detail: string;
  /** Where it came from: `udp:<address>:<port>` or `push:<supplier_id>`. */
  source: string;
  /** NETFLOW_V5, NETFLOW_V9, IPFIX, SFLOW_5, JSON, or unknown. */
  protocol: string;
  supplier_id: string;
  exporter_id: string;
  /** ISO-8601 reception time. */
  received_at: string;
  /** The bytes as received (a datagram, a set, a JSON record), base64. */
  raw_base64: string;
}

export const TELEMETRY_HEADER = 'telemetry';

export interface TelemetryHeartbeat {
  supplierId: string;
  exporterId: string;
  /** Reception time (ms) of the exporter's latest datagram. */
  atMs: number;
}

/** The headers of a heartbeat message on `flows` (its value is empty). */
export function heartbeatHeaders(h: TelemetryHeartbeat): Record<string, string> {
  return {
    schema: FLOWS_SCHEMA,
    [TELEMETRY_HEADER]: 'heartbeat',
    supplier: h.supplierId,
    exporter: h.exporterId,
    at: String(Math.round(h.atMs)),
  };
}

/** The heartbeat a `flows` message carries, or undefined for a message of records. */
export function heartbeatOf(headers: Record<string, unknown> | undefined): TelemetryHeartbeat | undefined {
  if (headers === undefined || String(headers[TELEMETRY_HEADER] ?? '') !== 'heartbeat') return undefined;
  const supplierId = String(headers.supplier ?? '');
  const exporterId = String(headers.exporter ?? '');
  const atMs = Number(String(headers.at ?? ''));
  if (supplierId === '' || exporterId === '' || !Number.isFinite(atMs) || atMs <= 0) return undefined;
  return { supplierId, exporterId, atMs };
}
