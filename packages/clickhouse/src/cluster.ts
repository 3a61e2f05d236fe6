import type { Migration } from './migrations.js';

/**
 * The schema on a ClickHouse cluster, derived from the single-node migrations (schema.ts) by pure
 * functions, so the two never drift: every table becomes a Replicated*MergeTree `<name>_local` on
 * each node (ON CLUSTER) behind a Distributed table under the name the code queries; materialized
 * views read and write the local tables, so each shard rolls up its own rows; TTLs apply to the local
 * tables, new columns to both. A statement of a shape this file does not know is an error, so a new
 * migration cannot silently skip the cluster. Why: docs/storage.md, "On a cluster".
 */

export interface ClusterTarget {
  /** A name from the servers' remote_servers. */
  cluster: string;
  /** The database holding flowwatch's tables (config clickhouse.database). */
  database: string;
}

/** Keeper path of a sharded table: one replication queue per shard, database and table. */
export const SHARDED_PATH = '/clickhouse/tables/{shard}';
/** Keeper path of a table every node holds in full (the migrations record): one queue for the cluster. */
export const EVERYWHERE_PATH = '/clickhouse/tables/all';

/**
 * How rows of each table are spread over shards when they are inserted through its Distributed table.
 * flows_raw by Kafka partition: a batch (one partition, one insert, one deduplication token) lands whole
 * on one shard, so the token and the replay repair (docs/storage.md) mean the same as on one node.
 * Versions of one alert, token or suppression on one shard, so ReplacingMergeTree and FINAL see them all.
 * Rollups are filled by the views on each shard, never inserted into directly: no key.
 */
export const SHARDING_KEYS: Readonly<Record<string, string | null>> = {
  flows_raw: 'kafka_partition',
  flows_1m: null,
  flows_1h: null,
  alerts: 'cityHash64(id)',
  alert_events: 'cityHash64(alert_id)',
  api_tokens: 'cityHash64(id)',
  audit_log: 'cityHash64(id)',
  suppressions: 'cityHash64(id)',
};

/** The cluster of a connection's configuration, or undefined for single-node tables. */
export function clusterTargetOf(conn: { cluster?: string | undefined; database: string }): ClusterTarget | undefined {
  return conn.cluster ? { cluster: conn.cluster, database: conn.database } : undefined;
}

export const localName = (table: string): string => `${table}_local`;

/** The same migrations (versions, names) with every statement translated for the cluster. */
export function clusterMigrations(migrations: readonly Migration[], target: ClusterTarget): Migration[] {
  checkTarget(target);
  return migrations.map((m) => ({ ...m, statements: m.statements.flatMap((s) => clusterStatements(s, target)) }));
}

const CREATE_TABLE = /^CREATE TABLE IF NOT EXISTS (\w+) \(([\s\S]*)\)\s*ENGINE = (\w*MergeTree)(?:\(([^)]*)\))?\s*([\s\S]*)$/;
const CREATE_MV = /^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS\s+([\s\S]*)$/;
const ALTER_TTL = /^ALTER TABLE (\w+) (MODIFY TTL [\s\S]*)$/;
const ALTER_ADD = /^ALTER TABLE (\w+) (ADD COLUMN [\s\S]*)$/;

/** One single-node statement as the statements that do the same on the cluster, in order. */
export function clusterStatements(statement: string, target: ClusterTarget): string[] {
  const text = statement.trim();
  const on = onCluster(target);
  const q = (table: string) => `${quoteIdent(target.database)}.${quoteIdent(table)}`;
  let m = CREATE_TABLE.exec(text);
  if (m) {
    const [, table = '', columns, engine = '', args, rest = ''] = m;
    const key = shardingKey(table);
    const local = localName(table);
    const path = `${SHARDED_PATH}/${target.database}/${local}`;
    const engineArgs = [`'${path}'`, `'{replica}'`, ...(args?.trim() ? [args.trim()] : [])].join(', ');
    return [
      `CREATE TABLE IF NOT EXISTS ${q(local)} ${on} (${columns}) ENGINE = Replicated${engine}(${engineArgs})\n${replicatedSettings(rest)}`,
      `CREATE TABLE IF NOT EXISTS ${q(table)} ${on} AS ${q(local)} ENGINE = ${distributedEngine(target, local, key)}`,
    ];
  }
  m = CREATE_MV.exec(text);
  if (m) {
    const [, view = '', to = '', select = ''] = m;
    const from = /\bFROM (\w+)\b/.exec(select);
    if (!from || /\b(JOIN|FROM\s*\()/i.test(select) || (select.match(/\bFROM\b/g) ?? []).length !== 1) {
      throw new Error(`materialized view ${view}: only a SELECT from one table can be translated for a cluster`);
    }
    const source = from[1] as string;
    shardingKey(source);
    shardingKey(to);
    const localSelect = select.replace(/\bFROM (\w+)\b/, `FROM ${q(localName(source))}`);
    // On each node, over its own shard's rows: an insert reaches a shard's local table, which feeds the local rollup.
    return [`CREATE MATERIALIZED VIEW IF NOT EXISTS ${q(view)} ${on} TO ${q(localName(to))} AS ${localSelect}`];
  }
  m = ALTER_TTL.exec(text);
  if (m) {
    const [, table = '', change] = m;
    shardingKey(table);
    return [`ALTER TABLE ${q(localName(table))} ${on} ${change}`];
  }
  m = ALTER_ADD.exec(text);
  if (m) {
    const [, table = '', change] = m;
    shardingKey(table);
    // The local table first: a Distributed table may name only columns its shards have.
    return [`ALTER TABLE ${q(localName(table))} ${on} ${change}`, `ALTER TABLE ${q(table)} ${on} ${change}`];
  }
  throw new Error(`cannot translate this statement for a cluster (add its shape to cluster.ts): ${text.slice(0, 120)}`);
}

/** `ALTER TABLE ... MODIFY TTL` of a flow table, on its local tables across the cluster (retention). */
export function clusterTtlStatement(table: string, ttl: string, target: ClusterTarget): string {
  shardingKey(table);
  return `ALTER TABLE ${quoteIdent(target.database)}.${quoteIdent(localName(table))} ${onCluster(target)} MODIFY TTL ${ttl}`;
}

/**
 * The migrations record on a cluster: one replicated table held in full by every node (a Keeper path
 * without {shard}), so a pod connected to any node sees what any other pod recorded. Two pods
 * migrating at once both run the (idempotent) statements and both record the version, which
 * ReplacingMergeTree folds into one row.
 */
export function clusterMigrationsTable(table: string, columns: string, target: ClusterTarget): string {
  checkTarget(target);
  const path = `${EVERYWHERE_PATH}/${target.database}/${table}`;
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(target.database)}.${quoteIdent(table)} ${onCluster(target)} (${columns}) ENGINE = ReplicatedReplacingMergeTree('${path}', '{replica}') ORDER BY version`;
}

/** The engine of a Distributed table over `local` on every shard of the cluster, sharded by `key`. */
export function distributedEngine(target: ClusterTarget, local: string, key: string | null): string {
  const args = [`'${target.cluster}'`, `'${target.database}'`, `'${local}'`, ...(key ? [key] : [])];
  return `Distributed(${args.join(', ')})`;
}

/** A non-replicated table's deduplication window becomes the replicated one (kept in Keeper). */
function replicatedSettings(rest: string): string {
  return rest.replace(/\bnon_replicated_deduplication_window\b/g, 'replicated_deduplication_window').trim();
}

function shardingKey(table: string): string | null {
  const key = SHARDING_KEYS[table];
  if (key === undefined) throw new Error(`table ${table} has no sharding decision: add it to SHARDING_KEYS in cluster.ts`);
  return key;
}

export function onCluster(target: ClusterTarget): string {
  return `ON CLUSTER '${target.cluster}'`;
}

function checkTarget(target: ClusterTarget): void {
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(target.cluster)) throw new Error(`not a cluster name: ${target.cluster}`);
  quoteIdent(target.database);
}

function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not a safe identifier: ${name}`);
  return `\`${name}\``;
}
