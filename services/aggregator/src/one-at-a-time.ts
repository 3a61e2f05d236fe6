/**
 * Runs `fn` for one key at a time: a call for a key whose previous call is still running waits
 * for it to finish (calls for other keys run alongside). The aggregator keys it by topic and
 * partition: after a rebalance kafkajs may hand a partition's batch to a new handler while the old
 * generation's handler is still inserting (tulios/kafkajs#1097). The skip-what-is-stored check and
 * the dedup token assume one handler per partition at a time; two at once could both read "not
 * stored yet" and insert overlapping offset ranges under different tokens.
 */
export function oneAtATime<T extends { key: string }>(fn: (item: T) => Promise<void>): (item: T) => Promise<void> {
  const tails = new Map<string, Promise<void>>();
  return async (item: T) => {
    const previous = tails.get(item.key);
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    tails.set(item.key, mine);
    try {
      if (previous) await previous;
      await fn(item);
    } finally {
      release();
      if (tails.get(item.key) === mine) tails.delete(item.key);
    }
  };
}
