import type { ClickHouseClient } from '@clickhouse/client';

/** Settings every insert into flows_raw uses, so a retried batch is stored once, rollups included. */
export function dedupInsertSettings(token: string): Record<string, string | number> {
  return { insert_deduplication_token: token, deduplicate_blocks_in_dependent_materialized_views: 1 };
}

/**
 * The deduplication token of one insert into flows_raw: topic, partition and the offset of its
 * first message. Not its last: two writers of a partition across a rebalance start where the store
 * ended when they looked and may end at different offsets; with one token ClickHouse keeps one of
 * their inserts. Rows carry the first offset (`kafka_batch_first`), so the token of the last stored
 * insert can be rebuilt from the table alone (docs/storage.md, "Exactly once").
 */
export function batchToken(topic: string, partition: number, first: bigint): string {
  return `${topic}:${partition}:${first}`;
}

/** One stored insert of a Kafka partition: the offsets of its first and last messages with rows. */
export interface StoredBatch {
  topic: string;
  partition: number;
  first: bigint;
  last: bigint;
}

/** The rows of stored batch `b` (with `batchParams(b)`): what the repair re-sends and the rebuild copies under its token. */
export const IN_BATCH =
  'kafka_topic = {topic:String} AND kafka_partition = {partition:UInt16} AND kafka_offset BETWEEN {first:UInt64} AND {last:UInt64}';
export const batchParams = (b: StoredBatch) => ({ topic: b.topic, partition: b.partition, first: String(b.first), last: String(b.last) });

/**
 * Reads a stored batch's rows back from `from` and inserts them into `to` under the batch's own
 * token: a table (or view) that has the token drops them, one that has not stores them and from
 * then on drops any other insert under it. The aggregator's replay repair (into flows_raw, to
 * complete rollups a kill left short); its tests, and the rebuild's, send what it sends. Returns
 * the rows sent.
 */
export async function resendBatch(client: ClickHouseClient, from: string, to: string, b: StoredBatch): Promise<number> {
  const rows = await (
    await client.query({
      query: `SELECT * FROM ${from} WHERE ${IN_BATCH} ORDER BY kafka_offset`,
      query_params: batchParams(b),
      format: 'JSONEachRow',
    })
  ).json<Record<string, unknown>>();
  if (rows.length === 0) return 0;
  await client.insert({
    table: to,
    values: rows,
    format: 'JSONEachRow',
    clickhouse_settings: {
      ...dedupInsertSettings(batchToken(b.topic, b.partition, b.first)),
      date_time_input_format: 'best_effort',
      // Parsed in parallel, a re-send of more than about 10 MB of JSON comes out of the parser in
      // several chunks and ClickHouse no longer recognises it by its token: the whole batch was
      // stored again (seen on chDB 26.7: 30,000 rows re-sent, 30,000 more stored). One parser
      // thread keeps it one block, as the Native insert was.
      input_format_parallel_parsing: 0,
    },
  });
  return rows.length;
}
