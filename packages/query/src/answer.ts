import type { Retention } from '@flowwatch/clickhouse';
import type { FlowTable } from './fields.js';

/** What every query needs besides its input: the configured retention (config `storage`) and the time. */
export interface QueryContext {
  retention: Retention;
  /** Defaults to the current time. */
  now?: Date;
}

/** Which table answered, why, and anything the reader should know (incomplete data at the start). */
export interface AnswerMeta {
  table: FlowTable;
  reason: string;
  notes: string[];
}

/**
 * A query's outcome. A question no table can answer (retention, a forced table that cannot) is
 * an expected outcome with its reason (HTTP 422), not an exception; ClickHouse failures throw.
 */
export type Answer<T> = { ok: true; result: T } | { ok: false; reason: 'unanswerable'; message: string };

export const iso = (ms: number) => new Date(ms).toISOString();
