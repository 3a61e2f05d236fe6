import type { EnrichedFlow } from '@flowwatch/enrichment';
import { nsToMs } from './raw-block.js';

/** The rows one Kafka message gives flows_raw, with the message (dead-lettered if ClickHouse rejects them). */
export interface MessageRows {
  offset: string;
  flows: EnrichedFlow[];
  value: Buffer;
}

const DAY_MS = 86_400_000;

/** The flows_raw partition (`toYYYYMMDD(time_received)`, UTC) of a flow, as a day number. */
export function dayOf(f: EnrichedFlow): number {
  return Math.floor(nsToMs(f.time_received_ns) / DAY_MS);
}

/**
 * Cuts a partition's messages (in offset order, each with at least one row) into inserts that
 * each write one flows_raw part: a run of messages whose rows all fall on the day of the run's
 * first row; a message with rows on several days is an insert of its own.
 *
 * Why (docs/storage.md, "Two writers of one partition"): an insert's deduplication token is its
 * topic, partition and first offset only, so two writers that start at the same offset and end at
 * different ones (a rebalance while an insert was in flight) clash on one token and ClickHouse
 * keeps whichever lands first. ClickHouse suffixes the token per part it writes (`token_0`,
 * `token_1`, in the order the days first appear in the block), so this is whole-insert only when
 * every insert is one part, or is the same messages in both writers. The cut depends only on the
 * messages themselves, so two writers starting at one offset cut the same way: one's insert is a
 * prefix of the other's.
 */
export function insertRuns(messages: readonly MessageRows[]): MessageRows[][] {
  const runs: MessageRows[][] = [];
  let run: MessageRows[] = [];
  let runDay = 0;
  for (const m of messages) {
    const first = m.flows[0];
    if (first === undefined) continue;
    const day = dayOf(first);
    let oneDay = true;
    for (let i = 1; i < m.flows.length; i++) {
      if (dayOf(m.flows[i] as EnrichedFlow) !== day) {
        oneDay = false;
        break;
      }
    }
    if (!oneDay) {
      if (run.length > 0) runs.push(run);
      runs.push([m]);
      run = [];
      continue;
    }
    if (run.length > 0 && day !== runDay) {
      runs.push(run);
      run = [];
    }
    if (run.length === 0) runDay = day;
    run.push(m);
  }
  if (run.length > 0) runs.push(run);
  return runs;
}
