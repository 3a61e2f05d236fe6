import type { DecodeReason, FlowProtocol, TemplateLimits } from '@flowwatch/decoders';
import type { FlowsEncoding } from '@flowwatch/flow-schema';

/** What the main thread and a decode worker say to each other (decode-workers.ts, decode-worker.ts). */

export const PROTOCOL_CODES: readonly (FlowProtocol | '')[] = ['', 'NETFLOW_V5', 'NETFLOW_V9', 'IPFIX', 'SFLOW_5'];

export interface WorkerInit {
  limits: TemplateLimits;
  flowsPerMessage: number;
  flowsEncoding: FlowsEncoding;
}

/** The exporter a datagram came from, as the main thread's registry knew it at reception. */
export interface WireExporter {
  address: string;
  supplierId: string;
  exporterId: string;
  defaultSamplingRate: number;
}

/** Datagrams of one event-loop turn for one worker: their bytes back to back in `data` (transferred). */
export interface DatagramBatch {
  type: 'batch';
  data: ArrayBuffer;
  lengths: Uint32Array;
  receivedNs: Float64Array;
  /** time_received_ns for the records of each datagram (collector.timeReceivedFrom = export). */
  stampNs: Float64Array | undefined;
  exporters: WireExporter[];
  exporterIndex: Uint16Array;
}

export type ToWorker = DatagramBatch | { type: 'expire'; nowNs: number };

export interface WireError {
  /** The datagram of the batch it belongs to; -1 for held sets expired later. */
  index: number;
  reason: DecodeReason;
  detail: string;
  count: number;
  raw: Uint8Array;
  exporter?: string | undefined;
}

/** The answer to one DatagramBatch, in its order. */
/** Numbers per datagram in DecodedBatch.info. */
export const DATAGRAM_INFO = 4;

export interface DecodedBatch {
  type: 'decoded';
  /** Every `flows` message value of the batch, back to back. */
  payload: ArrayBuffer;
  valueLengths: Uint32Array;
  /** Per datagram, DATAGRAM_INFO numbers: protocol code (PROTOCOL_CODES), records, message values, records in them. */
  info: Int32Array;
  decodeSeconds: Float64Array;
  errors: WireError[];
}

export type FromWorker =
  | { type: 'ready' }
  | DecodedBatch
  | { type: 'expired'; errors: WireError[]; stats: { templates: number; templateBytes: number; pendingSets: number } };
