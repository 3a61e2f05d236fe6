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
  /**
   * Work that statements cannot express, run after them (a table rebuilt with another sorting key).
   * It must finish what an earlier run cut short, and do nothing when the work is already done.
   */
  step?: MigrationStep;
}

export interface MigrationStep {
  /** Names the step in the migration's checksum; change it when the step's effect changes. */
  id: string;
  run(context: StepContext): Promise<void>;
}

export interface StepContext {
  client: ClickHouseClient;
  logger: Logger;
  cluster?: ClusterTarget | undefined;
  /**
   * The caller knows no aggregator writes flows_raw while it migrates: the embedded engine's one
   * process before it consumes, or `flowwatch migrate` after checking the aggregators' consumer
   * group. A step that would lose rows inserted meanwhile refuses to run without it.
   */
  writersStopped: boolean;
}

export interface MigrateOptions {
  /** See StepContext.writersStopped. Default false. */
  writersStopped?: boolean;
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
  options: MigrateOptions = {},
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
    await m.step?.run({ client, logger, cluster, writersStopped: options.writersStopped ?? false });
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
  // Without a step, the text hashed is what it was before steps existed: recorded checksums hold.
  const text = m.statements.join('\n;\n') + (m.step ? `\n;\nstep ${m.step.id}` : '');
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function checkOrder(migrations: readonly Migration[]): void {
  for (let i = 1; i < migrations.length; i++) {
    if ((migrations[i] as Migration).version <= (migrations[i - 1] as Migration).version) {
      throw new Error(`migrations out of order at version ${(migrations[i] as Migration).version}`);
    }
  }
}
