import type { Retention } from '@flowwatch/clickhouse';
import { FLOW_TABLES, type FlowTable } from './fields.js';

/** What a query asks of the flow tables, as far as choosing one goes. */
export interface TableQuestion {
  from: Date;
  to: Date;
  /** Bucket width in seconds; 0 when the answer is totals over the whole range. */
  stepSeconds: number;
  /** Fields the query groups or filters by that only flows_raw has (addresses, source port, exporter...). */
  rawOnlyFields: readonly string[];
  /** Answer from this table, if it can (a comparison test, debugging). */
  force?: FlowTable | undefined;
}

export interface TableContext {
  retention: Retention;
  now: Date;
}

export type TableChoice = { ok: true; table: FlowTable; reason: string; notes: string[] } | { ok: false; message: string };

/** Rows per table: one per flow, per minute and key, per hour and key. */
const GRAIN_SECONDS: Record<FlowTable, number> = { flows_raw: 0, flows_1m: 60, flows_1h: 3600 };

/**
 * A range that starts up to this long before a table's retention boundary still counts as held:
 * a "last 7 days" request computed a moment before the query runs should not fail. Whole daily
 * partitions are dropped only once every row in them has expired, so the data is normally there;
 * the answer carries a note anyway.
 */
const RETENTION_GRACE_MS = 5 * 60_000;

function retentionDays(table: FlowTable, r: Retention): number {
  return table === 'flows_raw' ? r.rawDays : table === 'flows_1m' ? r.minuteDays : r.hourDays;
}

/** The oldest instant the table is sure to hold: rows expire `retention` days after their time. */
function heldSince(table: FlowTable, ctx: TableContext): Date {
  return new Date(ctx.now.getTime() - retentionDays(table, ctx.retention) * 86_400_000);
}

const iso = (d: Date) => d.toISOString();

/** Why the table cannot answer the question whatever its retention; undefined when it can. */
function shapeProblem(table: FlowTable, q: TableQuestion): string | undefined {
  const grain = GRAIN_SECONDS[table];
  if (grain === 0) return undefined;
  const unit = grain === 3600 ? 'hour' : 'minute';
  if (q.rawOnlyFields.length > 0) return `${q.rawOnlyFields.join(', ')} ${q.rawOnlyFields.length > 1 ? 'are' : 'is'} not in the rollups`;
  if (q.from.getTime() % (grain * 1000) !== 0 || q.to.getTime() % (grain * 1000) !== 0) {
    return `from and to must be whole ${unit}s (UTC) for ${table}`;
  }
  if (q.stepSeconds % grain !== 0) return `the interval must be whole ${unit}s for ${table}`;
  return undefined;
}

/**
 * Picks the coarsest table that answers the question exactly: flows_1h when the range is
 * hour-aligned, the interval a multiple of an hour and every field a rollup dimension; else
 * flows_1m when minute-aligned; else flows_raw. Address-level questions are always flows_raw.
 * A table that no longer holds the start of the range (retention) is passed over for one that
 * does; when only a table that cannot answer would hold it, the question is refused with the
 * reason, rather than answered with zeros. docs/storage.md, "Queries".
 */
export function chooseTable(q: TableQuestion, ctx: TableContext): TableChoice {
  const notes: string[] = [];
  const expiryNote = (table: FlowTable) => {
    const since = heldSince(table, ctx);
    if (q.from < since) {
      notes.push(
        `${table} keeps ${retentionDays(table, ctx.retention)} days: data before ${iso(since)} may have expired, so the start of the range may be incomplete`,
      );
    }
  };

  if (q.force) {
    const problem = shapeProblem(q.force, q);
    if (problem) return { ok: false, message: `table ${q.force} cannot answer this: ${problem}` };
    expiryNote(q.force);
    return { ok: true, table: q.force, reason: `${q.force}, as asked`, notes };
  }

  const candidates = FLOW_TABLES.filter((t) => shapeProblem(t, q) === undefined);
  const holds = (t: FlowTable) => q.from.getTime() >= heldSince(t, ctx).getTime() - RETENTION_GRACE_MS;
  const chosen = candidates.find(holds);
  if (chosen) {
    expiryNote(chosen);
    return { ok: true, table: chosen, reason: reasonFor(chosen, q), notes };
  }

  // No table that can answer still holds the start of the range.
  const longest = (ts: readonly FlowTable[]) =>
    ts.reduce<FlowTable | undefined>((best, t) => (!best || heldSince(t, ctx) < heldSince(best, ctx) ? t : best), undefined);
  const best = longest(candidates) as FlowTable; // flows_raw can always answer, so there is one
  // The finest table that holds the start names the smallest change that would make the question answerable.
  const holder =
    [...FLOW_TABLES].reverse().find((t) => holds(t) && !candidates.includes(t)) ??
    longest(FLOW_TABLES.filter((t) => !candidates.includes(t)));
  const since = heldSince(best, ctx);
  if (holder && heldSince(holder, ctx) < since) {
    return {
      ok: false,
      message:
        `from ${iso(q.from)} is older than ${best} keeps (${retentionDays(best, ctx.retention)} days, since ${iso(since)}); ` +
        `${holder} ${holds(holder) ? 'keeps it' : `keeps more of it (since ${iso(heldSince(holder, ctx))})`} but cannot answer: ${shapeProblem(holder, q)}`,
    };
  }
  if (q.to <= since) {
    return {
      ok: false,
      message: `the whole range is older than any table keeps (${best}: ${retentionDays(best, ctx.retention)} days, since ${iso(since)})`,
    };
  }
  expiryNote(best);
  return { ok: true, table: best, reason: `${reasonFor(best, q)}; it keeps the oldest data`, notes };
}

function reasonFor(table: FlowTable, q: TableQuestion): string {
  const what = q.stepSeconds ? 'the interval and the range are' : 'the range is';
  switch (table) {
    case 'flows_1h':
      return `flows_1h: ${what} whole hours and every field is a rollup dimension`;
    case 'flows_1m': {
      const h = shapeProblem('flows_1h', q);
      return `flows_1m: ${what} whole minutes and every field is a rollup dimension${h ? ` (not flows_1h: ${h})` : ' (flows_1h no longer holds the range)'}`;
    }
    case 'flows_raw': {
      const m = shapeProblem('flows_1m', q);
      return `flows_raw: ${m ? `the rollups cannot answer: ${m}` : 'the rollups no longer hold the range'}`;
    }
  }
}
