import type { FlowRecord } from '@flowwatch/flow-schema';
import type { ExportProtocol, SimExporter } from '../network.js';

/** The collector port a datagram goes to: NetFlow v5/v9 to netflowPort, IPFIX to ipfixPort, sFlow to sflowPort. */
export type CollectorPort = 'netflow' | 'ipfix' | 'sflow';

export const PORT_OF: Readonly<Record<Exclude<ExportProtocol, 'json'>, CollectorPort>> = {
  netflow5: 'netflow',
  netflow9: 'netflow',
  ipfix: 'ipfix',
  sflow5: 'sflow',
};

/** One UDP datagram, ready to send from the exporter's address. */
export interface Datagram {
  exporter: SimExporter;
  port: CollectorPort;
  bytes: Uint8Array;
  /** Flow records (sFlow: samples) it carries. */
  records: number;
}

/** One HTTPS push: NDJSON records for a supplier's token. */
export interface PushBatch {
  exporter: SimExporter;
  body: string;
  records: number;
}

/** How an exporter keeps the collector's template cache fresh (RFC 7011 s8.4, RFC 3954 s9): every N datagrams or T ms of event time. */
export interface TemplateRefresh {
  datagrams: number;
  ms: number;
}

export const DEFAULT_TEMPLATE_REFRESH: TemplateRefresh = { datagrams: 20, ms: 10_000 };

/** Largest UDP payload written: fits a 1500-byte MTU with IP and UDP headers and room for tunnels. */
export const MAX_DATAGRAM_BYTES = 1400;

/**
 * Turns the records one exporter exports at an instant into datagrams of its protocol, keeping the
 * state the protocol requires (sequence numbers, uptime, templates, sample pools).
 */
export interface ExporterEncoder {
  readonly exporter: SimExporter;
  /** Encodes `records` (all of this exporter's, flows that ended before `exportMs`) as sent at `exportMs`. */
  encode(records: readonly FlowRecord[], exportMs: number, out: Datagram[]): void;
  /** Records it could not carry (e.g. IPv6 over NetFlow v5); 0 in a correct simulation. */
  readonly dropped: number;
}
