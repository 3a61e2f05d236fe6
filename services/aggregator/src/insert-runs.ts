import type { BlockMark } from './raw-block.js';

/** The rows one Kafka message gives flows_raw, with the message (dead-lettered if ClickHouse rejects them). */
export interface MessageRows {
  offset: string;
  value: Buffer;
  /** Its rows in the batch's RawBlock: from one mark to the next. */
  from: BlockMark;
  to: BlockMark;
  /** The flows_raw partition (`toYYYYMMDD(time_received)`, UTC) of its first row, as a day number (dayOf). */
  day: number;
  /** Whether every row of it is on that day. */
  oneDay: boolean;
}

const DAY_MS = 86_400_000;

/** The flows_raw partition (`toYYYYMMDD(time_received)`, UTC) of a row received at `ms`, as a day number. */
export function dayOf(ms: number): number {
  return Math.floor(ms / DAY_MS);
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
    if (m.to.rows === m.from.rows) continue;
    const day = m.day;
    if (!m.oneDay) {
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
