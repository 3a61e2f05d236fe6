import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from 'pino';
import { type ClusterTarget, clusterMigrationsTable } from './cluster.js';

export interface Migration {
  /** Strictly increasing, never reused. */
  version: number;
  name: string;
  /** Statements run in order. Each should be idempotent (IF NOT EXISTS) so that two processes
   *  migrating at once on a server, or a crash between a statement and its record, is harmless. */
  statements: string[];
}

export interface MigrationResult {
  applied: number[];
  alreadyApplied: number[];
}

const TABLE = 'flowwatch_schema_migrations';

/**
 * Applies the migrations not yet recorded in `flowwatch_schema_migrations`, in version order.
 * A recorded migration whose statements changed since is an error: migrations are append-only.
 */
export async function migrate(
  client: ClickHouseClient,
  migrations: readonly Migration[],
  logger: Logger,
  /** On a cluster, the record is a replicated table every node holds (cluster.ts); `migrations` are then clusterMigrations(). */
  cluster?: ClusterTarget,
): Promise<MigrationResult> {
  checkOrder(migrations);
  await client.command({ query: migrationsTableDdl(cluster) });
  const rows = await (
    await client.query({ query: `SELECT version, any(checksum) AS checksum FROM ${TABLE} GROUP BY version`, format: 'JSONEachRow' })
  ).json<{ version: number; checksum: string }>();
  const done = new Map(rows.map((r) => [Number(r.version), r.checksum]));

  const result: MigrationResult = { applied: [], alreadyApplied: [] };
  for (const m of migrations) {
    const checksum = checksumOf(m);
    const recorded = done.get(m.version);
    if (recorded !== undefined) {
      if (recorded !== checksum) {
        throw new Error(`migration ${m.version} (${m.name}) changed after it was applied; add a new migration instead`);
      }
      result.alreadyApplied.push(m.version);
      continue;
    }
    const t0 = Date.now();
    for (const statement of m.statements) await client.command({ query: statement });
    await client.insert({ table: TABLE, values: [{ version: m.version, name: m.name, checksum }], format: 'JSONEachRow' });
    logger.info({ version: m.version, name: m.name, ms: Date.now() - t0 }, 'migration applied');
    result.applied.push(m.version);
  }
  return result;
}

const COLUMNS = `
      version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
    `;

/** The CREATE of `flowwatch_schema_migrations`: single-node as it always was, or replicated on every node of a cluster. */
export function migrationsTableDdl(cluster?: ClusterTarget): string {
  if (cluster) return clusterMigrationsTable(TABLE, COLUMNS, cluster);
  return `CREATE TABLE IF NOT EXISTS ${TABLE} (${COLUMNS}) ENGINE = ReplacingMergeTree ORDER BY version`;
}

export function checksumOf(m: Migration): string {
  return createHash('sha256').update(m.statements.join('\n;\n')).digest('hex').slice(0, 16);
}

function checkOrder(migrations: readonly Migration[]): void {
  for (let i = 1; i < migrations.length; i++) {
    if ((migrations[i] as Migration).version <= (migrations[i - 1] as Migration).version) {
      throw new Error(`migrations out of order at version ${(migrations[i] as Migration).version}`);
    }
  }
}
