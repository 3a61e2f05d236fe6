import type { FlowRecord } from '@flowwatch/flow-schema';

/**
 * Why a datagram, a set or a record was not turned into flows. A small fixed set: each becomes a
 * metric label and the `reason` of a dead-letter message.
 */
export const DECODE_REASONS = [
  'truncated', // shorter than a header, set or record says it is
  'bad_version', // version field not one we decode
  'bad_length', // a length field that is impossible (zero, past the end, below the minimum)
  'bad_count', // a record count that disagrees with the bytes present
  'template_invalid', // a template or options template that cannot be valid (field length 0 where forbidden, too many fields...)
  'template_not_found', // data set whose template never arrived (held, then expired)
  'pending_overflow', // data set held for its template dropped because the holding area was full
  'template_limit', // templates refused because the exporter reached its cap
  'unsupported', // well-formed but not something we decode (e.g. sFlow sample type we skip is NOT this: skipped silently)
  'invalid_record', // a decoded record failing sanity checks (e.g. impossible address family)
] as const;
export type DecodeReason = (typeof DECODE_REASONS)[number];

export interface DecodeError {
  reason: DecodeReason;
  /** One line for logs and the DLQ: what was wrong, with the numbers (never the payload). */
  detail: string;
  /** How many records or sets this error stands for. */
  count: number;
  /** The bytes that could not be decoded (a whole datagram, or one set), for the DLQ. */
  raw?: Uint8Array;
  /** The exporter it came from, for errors raised later than its datagram (expired held sets). */
  exporter?: string;
}

/** Where a datagram came from and when; the collector fills it per datagram. */
export interface DecodeContext {
  /** Exporter address as a string (IPv4 dotted or IPv6 compressed); keys template caches. */
  exporter: string;
  /** Reception time, ns since the epoch. */
  receivedNs: number;
  /** Copied into every record. */
  supplierId: string;
  exporterId: string;
  /** Used when neither the datagram nor an options record gives a sampling rate (0 = unknown). */
  defaultSamplingRate: number;
}

export interface DecodeOutput {
  flows: FlowRecord[];
  errors: DecodeError[];
}

/** Bounds on what one stateful decoder may hold; every one is enforced and counted. */
export interface TemplateLimits {
  /** Templates per (exporter, source id / observation domain). */
  maxTemplatesPerDomain: number;
  /** (exporter, domain) pairs tracked in all; the least recently used is forgotten beyond it. */
  maxDomains: number;
  /**
   * Estimated heap bytes all templates of one decoder may take (templateBytes()); beyond it the
   * least recently used domains are forgotten, as beyond maxDomains. Without it, maxDomains x
   * maxTemplatesPerDomain templates (10 million by default) could be held: gigabytes, from one
   * exporter sending many source ids (pnpm test:chaos).
   */
  maxTemplateBytes: number;
  /** Data sets held while their template has not arrived, per decoder. */
  maxPendingSets: number;
  /** How long a held data set waits for its template (ms, by reception time). */
  pendingTtlMs: number;
}

export const DEFAULT_TEMPLATE_LIMITS: TemplateLimits = {
  maxTemplatesPerDomain: 1024,
  maxDomains: 10_000,
  maxTemplateBytes: 128 * 1024 * 1024,
  maxPendingSets: 1024,
  pendingTtlMs: 30_000,
};
