import { describe, expect, it } from 'vitest';
import { dayOf, insertRuns, type MessageRows } from './insert-runs.js';

const DAY = 86_400_000;
const t0 = Date.UTC(2026, 10, 21); // midnight UTC

/** A message at `offset` whose rows were received at these milliseconds after t0. */
function message(offset: number, ...msAfter: number[]): MessageRows {
  const days = msAfter.map((ms) => dayOf(t0 + ms));
  return {
    offset: String(offset),
    value: Buffer.from(String(offset)),
    from: { rows: rows, bytes: [] },
    to: { rows: (rows += msAfter.length), bytes: [] },
    day: days[0] ?? 0,
    oneDay: days.every((d) => d === days[0]),
  };
}
let rows = 0;
const offsets = (runs: MessageRows[][]) => runs.map((run) => run.map((m) => Number(m.offset)));

describe('insertRuns', () => {
  it('keeps a batch within one UTC day as one insert', () => {
    expect(offsets(insertRuns([message(5, 1, 2), message(6, 3), message(9, DAY - 1)]))).toEqual([[5, 6, 9]]);
  });

  it('cuts where the day changes, and puts a message spanning midnight on its own', () => {
    const runs = insertRuns([
      message(1, DAY - 10),
      message(2, DAY - 5, DAY + 5), // spans midnight
      message(3, DAY + 6),
      message(4, DAY + 7),
      message(5, 2 * DAY + 1),
    ]);
    expect(offsets(runs)).toEqual([[1], [2], [3, 4], [5]]);
  });

  it('cuts the same way whatever the batch end, so two writers from one offset write prefixes of each other', () => {
    const all = [message(10, 100), message(11, 200), message(12, DAY + 1, 300), message(13, DAY + 2), message(14, DAY + 3)];
    const longer = offsets(insertRuns(all));
    for (let end = 1; end <= all.length; end++) {
      const shorter = offsets(insertRuns(all.slice(0, end)));
      // Every insert of the shorter batch is the same as, or a prefix of, the longer batch's insert from that offset.
      for (const run of shorter) {
        const match = longer.find((r) => r[0] === run[0]);
        expect(match?.slice(0, run.length)).toEqual(run);
      }
    }
  });

  it('treats unknown times (the epoch) as one day and skips messages without rows', () => {
    expect(offsets(insertRuns([message(1, -t0), message(2), message(3, -t0)]))).toEqual([[1, 3]]);
  });
});
