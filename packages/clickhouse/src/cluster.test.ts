import { describe, expect, it } from 'vitest';
import { clusterMigrations, clusterStatements, clusterTtlStatement, SHARDING_KEYS } from './cluster.js';
import { checksumOf, migrationsTableDdl } from './migrations.js';
import { SCHEMA, schemaFor } from './schema.js';

const target = { cluster: 'flowwatch', database: 'fw' };
const all = clusterMigrations(SCHEMA, target).flatMap((m) => m.statements);
const creates = (re: RegExp) => all.filter((s) => re.test(s));

describe('the single-node schema', () => {
  it('is unchanged: the checksums deployments have recorded still match', () => {
    // Recorded by every embedded and single-server deployment since each migration shipped; a change
    // here would make `migrate` refuse to start ("changed after it was applied").
    expect(SCHEMA.map((m) => [m.version, checksumOf(m)])).toEqual([
      [1, '024ef151d7260d8d'],
      [2, 'a6f17095db1c8a36'],
      [3, '798782dc5a6274fe'],
      [4, '235aa2b99c637a16'],
    ]);
    expect(schemaFor(undefined)).toBe(SCHEMA);
    expect(migrationsTableDdl()).toMatch(
      /^CREATE TABLE IF NOT EXISTS flowwatch_schema_migrations \([\s\S]*\) ENGINE = ReplacingMergeTree ORDER BY version$/,
    );
    expect(migrationsTableDdl()).not.toContain('ON CLUSTER');
  });
});

describe('clusterMigrations', () => {
  it('keeps versions and names, and runs every statement ON CLUSTER on database-qualified tables', () => {
    const cluster = clusterMigrations(SCHEMA, target);
    expect(cluster.map((m) => [m.version, m.name])).toEqual(SCHEMA.map((m) => [m.version, m.name]));
    for (const s of all) {
      expect(s).toContain(" ON CLUSTER 'flowwatch' ");
      expect(s).toMatch(/^(CREATE TABLE IF NOT EXISTS|CREATE MATERIALIZED VIEW IF NOT EXISTS|ALTER TABLE) `fw`\./);
    }
  });

  it('makes every single-node table a replicated local table with a table-unique Keeper path, and a Distributed table named as before', () => {
    const singleTables = SCHEMA.flatMap((m) => m.statements)
      .map((s) => /^\s*CREATE TABLE IF NOT EXISTS (\w+)/.exec(s)?.[1])
      .filter((t): t is string => t !== undefined);
    expect(singleTables.sort()).toEqual(Object.keys(SHARDING_KEYS).sort());
    const paths = new Set<string>();
    for (const table of singleTables) {
      const [local] = creates(new RegExp(`^CREATE TABLE IF NOT EXISTS \`fw\`\\.\`${table}_local\``));
      expect(local, table).toBeDefined();
      const engine = /ENGINE = (Replicated\w*MergeTree)\('([^']+)', '\{replica\}'/.exec(local as string);
      expect(engine, `${table}: ${local}`).not.toBeNull();
      const path = engine?.[2] as string;
      expect(path).toBe(`/clickhouse/tables/{shard}/fw/${table}_local`);
      expect(paths.has(path)).toBe(false);
      paths.add(path);

      const [dist] = creates(new RegExp(`^CREATE TABLE IF NOT EXISTS \`fw\`\\.\`${table}\` `));
      const key = SHARDING_KEYS[table];
      expect(dist).toBe(
        `CREATE TABLE IF NOT EXISTS \`fw\`.\`${table}\` ON CLUSTER 'flowwatch' AS \`fw\`.\`${table}_local\` ENGINE = Distributed('flowwatch', 'fw', '${table}_local'${key ? `, ${key}` : ''})`,
      );
      // The local table precedes its Distributed table (AS copies its columns).
      expect(all.indexOf(local as string)).toBeLessThan(all.indexOf(dist as string));
    }
  });

  it('keeps engine parameters, keys and settings, with the replicated deduplication window', () => {
    const [alerts] = creates(/`alerts_local`/);
    expect(alerts).toContain("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fw/alerts_local', '{replica}', version)");
    expect(alerts).toMatch(/ORDER BY id$/);
    const [m1] = creates(/^CREATE TABLE IF NOT EXISTS `fw`\.`flows_1m_local`/);
    expect(m1).toContain('ReplicatedAggregatingMergeTree(');
    expect(m1).toContain('src_addrs AggregateFunction(uniq, IPv6)');
    const [raw] = creates(/^CREATE TABLE IF NOT EXISTS `fw`\.`flows_raw_local`/);
    expect(raw).toContain('PARTITION BY toYYYYMMDD(time_received)');
    expect(raw).toContain('TTL toDateTime(time_received) + INTERVAL 7 DAY');
    for (const s of [raw, m1]) {
      expect(s).toContain('SETTINGS replicated_deduplication_window = 10000, ttl_only_drop_parts = 1');
      expect(s).not.toContain('non_replicated');
    }
  });

  it('shards flows_raw by Kafka partition, so one batch and its deduplication token land on one shard', () => {
    expect(SHARDING_KEYS.flows_raw).toBe('kafka_partition');
    expect(creates(/`flows_raw` ON CLUSTER/)[0]).toMatch(/Distributed\('flowwatch', 'fw', 'flows_raw_local', kafka_partition\)$/);
  });

  it('feeds the rollups from the local tables on each node', () => {
    const views = creates(/^CREATE MATERIALIZED VIEW/);
    expect(views).toHaveLength(2);
    expect(views[0]).toMatch(
      /^CREATE MATERIALIZED VIEW IF NOT EXISTS `fw`\.`flows_1m_mv` ON CLUSTER 'flowwatch' TO `fw`\.`flows_1m_local` AS SELECT/,
    );
    expect(views[0]).toContain('FROM `fw`.`flows_raw_local` GROUP BY');
    expect(views[1]).toContain('TO `fw`.`flows_1h_local`');
    expect(views[1]).toContain('FROM `fw`.`flows_1m_local` GROUP BY');
  });

  it('applies TTLs to the local tables and new columns to both, local first', () => {
    expect(all).toContain("ALTER TABLE `fw`.`flows_1m_local` ON CLUSTER 'flowwatch' MODIFY TTL ts + INTERVAL 90 DAY");
    const adds = creates(/ADD COLUMN IF NOT EXISTS kafka_batch_first/);
    expect(adds.map((s) => /`fw`\.`(\w+)`/.exec(s)?.[1])).toEqual(['flows_raw_local', 'flows_raw']);
    expect(clusterTtlStatement('flows_raw', 'toDateTime(time_received) + INTERVAL 3 DAY', target)).toBe(
      "ALTER TABLE `fw`.`flows_raw_local` ON CLUSTER 'flowwatch' MODIFY TTL toDateTime(time_received) + INTERVAL 3 DAY",
    );
  });

  it('records migrations in one table every node replicates (no {shard} in its path)', () => {
    expect(migrationsTableDdl(target)).toMatch(
      /^CREATE TABLE IF NOT EXISTS `fw`\.`flowwatch_schema_migrations` ON CLUSTER 'flowwatch' \([\s\S]*\) ENGINE = ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/all\/fw\/flowwatch_schema_migrations', '\{replica\}'\) ORDER BY version$/,
    );
  });

  it('refuses what it cannot translate, instead of leaving the cluster behind', () => {
    expect(() => clusterStatements('CREATE TABLE IF NOT EXISTS newtable (a UInt8) ENGINE = MergeTree ORDER BY a', target)).toThrow(
      /newtable has no sharding decision/,
    );
    expect(() => clusterStatements('DROP TABLE flows_raw', target)).toThrow(/cannot translate/);
    expect(() => clusterStatements('CREATE TABLE IF NOT EXISTS t (a UInt8) ENGINE = Memory', target)).toThrow(/cannot translate/);
    expect(() =>
      clusterStatements('CREATE MATERIALIZED VIEW IF NOT EXISTS v TO flows_1m AS SELECT * FROM flows_raw JOIN alerts USING id', target),
    ).toThrow(/only a SELECT from one table/);
    expect(() => clusterMigrations(SCHEMA, { cluster: "x' --", database: 'fw' })).toThrow(/not a cluster name/);
    expect(() => clusterMigrations(SCHEMA, { cluster: 'c', database: 'fw; DROP' })).toThrow(/not a safe identifier/);
  });
});
