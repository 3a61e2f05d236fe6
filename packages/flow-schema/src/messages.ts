import { BinaryFlowsError, decodeFlowColumns, encodeFlowsBinary, type FlowColumns, flowColumnsOf, isBinaryFlows } from './flow-binary.js';
import { flowToJson } from './flow-json.js';
import type { FlowRecord } from './flow-record.js';

/**
 * Topic contracts. Messages carry their schema in the `schema` header; an incompatible change gets
 * a new version, never an in-place change.
 *
 * `flows`: value = many FlowRecords per message (to amortise Kafka's per-message cost), in one of
 * two encodings, told apart by the `schema` header and by their first bytes:
 * - `flowwatch.flows.v1`: NDJSON, one record per line (the default: any tool reads it);
 * - `flowwatch.flows.bin.v1`: the binary column-wise layout of flow-binary.ts (11 times smaller
 *   before compression, a third of the CPU to write and read; `collector.flowsEncoding: binary`).
 * Every consumer reads both. key = `<supplier_id>/<exporter_id>`, so one exporter's records stay
 * in order in one partition.
 *
 * A `flows` message with the header `telemetry: heartbeat` and an empty value says that the exporter
 * of its key (headers `supplier`, `exporter`) sent telemetry without flow records (an sFlow agent's
 * counter samples, a NetFlow v9/IPFIX template refresh or options data) up to reception time `at`
 * (ms): it is alive. Consumers that read records find none in it.
 *
 * `flows.dlq`: value = one JSON DeadLetter; key = the source.
 */
export const FLOWS_SCHEMA = 'flowwatch.flows.v1';
export const FLOWS_BINARY_SCHEMA = 'flowwatch.flows.bin.v1';
export const DLQ_SCHEMA = 'flowwatch.dlq.v1';

export const FLOWS_ENCODINGS = ['ndjson', 'binary'] as const;
export type FlowsEncoding = (typeof FLOWS_ENCODINGS)[number];

/** The `schema` header of a `flows` message in this encoding. */
export function flowsSchema(encoding: FlowsEncoding): string {
  return encoding === 'binary' ? FLOWS_BINARY_SCHEMA : FLOWS_SCHEMA;
}

/** Records `from` to `to` as one `flows` message value. */
export function encodeFlows(records: readonly FlowRecord[], from = 0, to = records.length, encoding: FlowsEncoding = 'ndjson'): Buffer {
  if (encoding === 'binary') return encodeFlowsBinary(records, from, to);
  let out = '';
  for (let i = from; i < to; i++) out += `${flowToJson(records[i] as FlowRecord)}\n`;
  return Buffer.from(out);
}

export interface DecodedFlows {
  records: FlowRecord[];
  /** NDJSON lines that are not JSON objects (returned as a count, never thrown). */
  badLines: number;
  /** Set when a binary message is not well formed: none of its records is returned. */
  problem?: string;
}

/** Parses a `flows` message of either encoding; what cannot be read is reported, not thrown. */
export function decodeFlows(value: Buffer | string): DecodedFlows {
  if (typeof value !== 'string' && isBinaryFlows(value)) {
    const { columns, problem } = readBinary(value);
    return problem === undefined ? { records: columns.records(), badLines: 0 } : { records: [], badLines: 0, problem };
  }
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

export interface DecodedFlowColumns {
  /** The records read, column by column (scratch space: valid until the next decode). */
  columns: FlowColumns;
  badLines: number;
  problem?: string;
}

/**
 * decodeFlows column by column, for a consumer that writes the records out field by field: a
 * binary message is read without an object per record. NDJSON records are parsed as objects, and
 * those `accept` refuses (it reports why) are left out of the columns, since a field of the wrong
 * type reads there as 0 or ''.
 */
export function decodeFlowsColumns(value: Buffer, accept: (record: FlowRecord) => boolean): DecodedFlowColumns {
  if (isBinaryFlows(value)) return { ...readBinary(value), badLines: 0 };
  const { records, badLines } = decodeFlows(value);
  return { columns: flowColumnsOf(records.filter(accept)), badLines };
}

/** A binary message's columns, or none and why it cannot be read (BinaryFlowsError, reported rather than thrown). */
function readBinary(value: Buffer): { columns: FlowColumns; problem?: string } {
  try {
    return { columns: decodeFlowColumns(value) };
  } catch (err) {
    if (!(err instanceof BinaryFlowsError)) throw err;
    return { columns: flowColumnsOf([]), problem: err.message };
  }
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
