import type { ClickHouseClient } from '@clickhouse/client';
import { batchParams, batchToken, dedupInsertSettings, IN_BATCH, type StoredBatch } from './batches.js';
import { ident } from './client.js';
import { type ClusterTarget, distributedEngine, localName, onCluster, SHARDED_PATH, SHARDING_KEYS } from './cluster.js';
import type { MigrationStep, StepContext } from './migrations.js';

/**
 * A sorting key cannot be altered, so changing flows_raw's is a rebuild: a new table with the new
 * key, every row copied into it, `EXCHANGE TABLES`, the old one dropped. The materialized view
 * reading flows_raw follows the name through an exchange (seen on chDB 26.7), so the rollups need
 * nothing. Why, how it resumes and who may run it: docs/storage.md, "Rebuilding flows_raw".
 *
 * `tag` names the new table's replication path on a cluster (a Keeper path cannot be renamed with
 * its table, and the next rebuild must not meet this one's).
 */
export function rebuildRawStep(key: string, tag: string): MigrationStep {
  if (!/^[A-Za-z0-9_]+$/.test(tag)) throw new Error(`not a rebuild tag: ${tag}`);
  return { id: `rebuild flows_raw ORDER BY ${key}`, run: (context) => rebuildRaw(context, key, tag) };
}

const UNKNOWN_BATCH = 2n ** 64n - 1n;
/** ClickHouse's max_insert_block_size: the rows of one block of a parsed insert (the repair's re-send). */
const INSERT_BLOCK_ROWS = 1_048_449;

/** The tables a rebuild touches: on one node, or on a cluster (the local tables and their Distributed ones). */
interface Names {
  /** The table holding rows, its sorting key and its views: flows_raw, or flows_raw_local on a cluster. */
  live: string;
  next: string;
  /** What queries and inserts name: flows_raw itself, or its Distributed table on a cluster. */
  liveAll: string;
  nextAll: string;
}

function namesOf(cluster: ClusterTarget | undefined): Names {
  if (!cluster) return { live: 'flows_raw', next: 'flows_raw_next', liveAll: 'flows_raw', nextAll: 'flows_raw_next' };
  const q = (t: string) => `${ident(cluster.database)}.${ident(t)}`;
  return {
    live: q(localName('flows_raw')),
    next: q(localName('flows_raw_next')),
    liveAll: q('flows_raw'),
    nextAll: q('flows_raw_next'),
  };
}

async function rebuildRaw(ctx: StepContext, key: string, tag: string): Promise<void> {
  const { client, logger, cluster } = ctx;
  const n = namesOf(cluster);
  const on = cluster ? ` ${onCluster(cluster)}` : '';
  const drop = async () => {
    if (cluster) await client.command({ query: `DROP TABLE IF EXISTS ${n.nextAll}${on} SYNC` });
    await client.command({ query: `DROP TABLE IF EXISTS ${n.next}${on} SYNC` });
  };
  const t0 = Date.now();

  const before = await sortingKey(client, cluster);
  if (before === key) {
    // Done, by this process or another; a kill between the exchange and the drop leaves the old table as next.
    await drop();
    return;
  }
  // A leftover of a run cut short before its exchange: its copy may be partial, so start again.
  await drop();

  const rows = await count(client, n.liveAll);
  if (rows > 0 && !ctx.writersStopped) {
    throw new Error(
      `flows_raw holds ${rows} rows ordered by (${before}); this version rebuilds it ordered by (${key}), and rows an ` +
        'aggregator inserted meanwhile would be lost. Stop the aggregators, then run `flowwatch migrate` ' +
        '(deploy/k8s/flowwatch/migrate-job.yaml) and start the services again (docs/storage.md, "Rebuilding flows_raw")',
    );
  }
  logger.info({ rows, from: before, to: key }, 'rebuilding flows_raw with a new sorting key');

  await client.command({ query: await nextTableDdl(client, n, key, tag, cluster) });
  if (cluster) {
    const engine = distributedEngine(cluster, localName('flows_raw_next'), SHARDING_KEYS.flows_raw ?? null);
    await client.command({ query: `CREATE TABLE ${n.nextAll}${on} AS ${n.next} ENGINE = ${engine}` });
  }

  // The last insert of each Kafka partition is the one the aggregator's replay repair re-sends
  // under its token (docs/storage.md, "Exactly once", step 4). The new table has an empty
  // deduplication log, so those rows are copied under their tokens (below) and the rest in bulk.
  const last = await lastBatches(client, n.liveAll);
  const firsts = Object.fromEntries(last.map((b) => [`${b.topic}:${b.partition}`, b.first]));
  const notLast = `NOT (mapContains({firsts:Map(String, UInt64)}, concat(kafka_topic, ':', toString(kafka_partition)))
      AND kafka_offset >= {firsts:Map(String, UInt64)}[concat(kafka_topic, ':', toString(kafka_partition))])`;
  // Without deduplication: identical blocks are not retries here, and the bulk must not push the
  // tokens copied below out of the deduplication window.
  const settings = { insert_deduplicate: 0 } as const;
  if (cluster) {
    // Each shard copies its own rows into its own new local table (same cluster, same sharding).
    await client.command({
      query: `INSERT INTO ${n.nextAll} SELECT * FROM ${n.liveAll} WHERE ${notLast}`,
      query_params: { firsts },
      clickhouse_settings: { ...settings, parallel_distributed_insert_select: '2' },
    });
  } else {
    for (const partition of await partitions(client)) {
      const p0 = Date.now();
      await client.command({
        query: `INSERT INTO ${n.next} SELECT * FROM ${n.live} WHERE _partition_id = {partition:String} AND ${notLast}`,
        query_params: { firsts, partition },
        clickhouse_settings: settings,
      });
      logger.info({ partition, ms: Date.now() - p0 }, 'flows_raw rebuild: partition copied');
    }
  }
  // Copied inside ClickHouse (a batch can be 200,000 rows: too many to hold as objects in the
  // migration Job), as one block in offset order, as the repair's re-send parses it: a token
  // deduplicates per block, and a second insert of the same rows split otherwise is not recognised
  // (seen on chDB 26.7: read by one thread without the sort, 200,000 rows were one part and yet the
  // repair's re-send was stored again; with the sort and blocks of the re-send's size, it was
  // dropped). On a cluster through the Distributed table, to the shard of the batch's Kafka
  // partition (its sharding key), synchronously (the client sets insert_distributed_sync there).
  for (const b of last) {
    await client.command({
      query: `INSERT INTO ${n.nextAll} SELECT * FROM ${n.liveAll} WHERE ${IN_BATCH} ORDER BY kafka_offset
              SETTINGS max_threads = 1, max_block_size = ${INSERT_BLOCK_ROWS}, min_insert_block_size_rows = ${INSERT_BLOCK_ROWS}`,
      query_params: batchParams(b),
      clickhouse_settings: dedupInsertSettings(batchToken(b.topic, b.partition, b.first)),
    });
  }

  // Rows that arrived since the count (an aggregator after all) would be lost by the exchange.
  // Compared with the count before the copy, not with the copy's: rows past their TTL that the old
  // table still holds (TTL merges run every few hours) are dropped by the new table's insert, and
  // a TTL merge may drop some of the old table's meanwhile; neither adds rows.
  const [now, copied] = [await count(client, n.liveAll), await count(client, n.nextAll)];
  if (now > rows) {
    await drop();
    throw new Error(
      `flows_raw received rows during its rebuild (${rows} when the copy began, ${now} now): an aggregator is writing. ` +
        'Stop the aggregators and run `flowwatch migrate` again; nothing was changed',
    );
  }
  if ((await sortingKey(client, cluster)) === key) {
    // Another process rebuilt it meanwhile (two services starting on an empty database).
    await drop();
    return;
  }
  await client.command({ query: `EXCHANGE TABLES ${n.live} AND ${n.next}${on}` });
  await drop();
  logger.info({ rows: now, copied, lastInserts: last.length, ms: Date.now() - t0 }, 'flows_raw rebuilt');
}

/** The table's sorting key as system.tables gives it (`a, b, c`), or an error when it has none. */
async function sortingKey(client: ClickHouseClient, cluster: ClusterTarget | undefined): Promise<string> {
  const [row] = await (
    await client.query({
      query: `SELECT sorting_key FROM system.tables
              WHERE database = ${cluster ? '{database:String}' : 'currentDatabase()'} AND name = {name:String}`,
      query_params: { database: cluster?.database ?? '', name: cluster ? localName('flows_raw') : 'flows_raw' },
      format: 'JSONEachRow',
    })
  ).json<{ sorting_key: string }>();
  if (!row) throw new Error('flows_raw does not exist: migration 1 creates it');
  return row.sorting_key;
}

async function count(client: ClickHouseClient, table: string): Promise<number> {
  const [row] = await (await client.query({ query: `SELECT count() AS n FROM ${table}`, format: 'JSONEachRow' })).json<{
    n: string | number;
  }>();
  return Number(row?.n ?? 0);
}

async function partitions(client: ClickHouseClient): Promise<string[]> {
  const rows = await (
    await client.query({
      query: `SELECT DISTINCT partition_id FROM system.parts
              WHERE database = currentDatabase() AND table = 'flows_raw' AND active ORDER BY partition_id`,
      format: 'JSONEachRow',
    })
  ).json<{ partition_id: string }>();
  return rows.map((r) => r.partition_id);
}

/** Per Kafka partition, the last insert stored (its first and last offsets), as the aggregator's repair finds it. */
async function lastBatches(client: ClickHouseClient, table: string): Promise<StoredBatch[]> {
  const rows = await (
    await client.query({
      query: `SELECT kafka_topic AS topic, kafka_partition AS partition,
                argMax(kafka_batch_first, kafka_offset) AS first, max(kafka_offset) AS last
              FROM ${table} GROUP BY kafka_topic, kafka_partition`,
      format: 'JSONEachRow',
    })
  ).json<{ topic: string; partition: number; first: string | number; last: string | number }>();
  return rows
    .map((r) => ({ topic: r.topic, partition: Number(r.partition), first: BigInt(r.first), last: BigInt(r.last) }))
    .filter((b) => b.first !== UNKNOWN_BATCH && b.first <= b.last);
}

/** The CREATE of the new table: the live one's as ClickHouse shows it, under the new name with the new key. */
async function nextTableDdl(
  client: ClickHouseClient,
  n: Names,
  key: string,
  tag: string,
  cluster: ClusterTarget | undefined,
): Promise<string> {
  const [row] = await (await client.query({ query: `SHOW CREATE TABLE ${n.live}`, format: 'JSONEachRow' })).json<{ statement: string }>();
  const shown = row?.statement ?? '';
  const orderBy = /^ORDER BY .*$/m;
  const head = /^CREATE TABLE \S+/;
  if (!orderBy.test(shown) || !head.test(shown)) throw new Error(`unexpected SHOW CREATE TABLE of flows_raw: ${shown.slice(0, 200)}`);
  let ddl = shown
    .replace(head, `CREATE TABLE ${n.next}${cluster ? ` ${onCluster(cluster)}` : ''}`)
    .replace(orderBy, `ORDER BY ${key.includes(',') ? `(${key})` : key}`);
  if (cluster) {
    // A new replication path: the old table keeps its own until it is dropped.
    const path = /Replicated(\w*)MergeTree\('[^']*'/;
    if (!path.test(ddl)) throw new Error(`flows_raw_local is not a replicated table: ${shown.slice(0, 200)}`);
    ddl = ddl.replace(path, `Replicated$1MergeTree('${SHARDED_PATH}/${cluster.database}/${localName('flows_raw')}_${tag}'`);
  }
  return ddl;
}
