import type { Retention } from '@flowwatch/clickhouse';
import type { FlowTable } from './fields.js';

/** What every query needs besides its input: the configured retention (config `storage`) and the time. */
export interface QueryContext {
  retention: Retention;
  /** Defaults to the current time. */
  now?: Date;
  /** Limits for ClickHouse (the API's per-role budget): see QuerySettings. */
  settings?: QuerySettings;
}

/**
 * ClickHouse settings that bound one question: seconds, rows read, memory (0: no limit). Each must
 * be in @flowwatch/clickhouse's PER_QUERY_SETTINGS, so that in embedded mode it never outlives
 * the query it was given to.
 */
export interface QuerySettings {
  max_execution_time?: number;
  max_rows_to_read?: number;
  max_memory_usage?: number;
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
