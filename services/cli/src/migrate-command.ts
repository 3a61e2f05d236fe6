import {
  applyRetention,
  type ClickHouseClient,
  clusterTargetOf,
  type MigrationResult,
  migrate,
  openClickHouse,
  schemaFor,
} from '@flowwatch/clickhouse';
import type { Config } from '@flowwatch/config';
import { errorSummary } from '@flowwatch/lifecycle';
import { createLogger, type Logger } from '@flowwatch/observability';

/**
 * The schema for the configured ClickHouse (single node, or clickhouse.cluster) and the configured
 * retention. Every process that opens ClickHouse runs it at start; `flowwatch migrate` runs only it,
 * for a deployment's migration Job (deploy/k8s), so pods start against a schema that is already there.
 */
export async function applySchema(client: ClickHouseClient, config: Config, logger: Logger): Promise<MigrationResult> {
  const cluster = clusterTargetOf(config.clickhouse);
  const result = await migrate(client, schemaFor(cluster), logger, cluster);
  const s = config.storage;
  await applyRetention(client, { rawDays: s.rawTtlDays, minuteDays: s.minuteTtlDays, hourDays: s.hourTtlDays }, cluster);
  return result;
}

/** `flowwatch migrate`: prints one JSON line ({applied, alreadyApplied, cluster}); exit 0, or 1 when ClickHouse fails. */
export async function runMigrate(config: Config, say: (line: string) => void): Promise<number> {
  const logger = createLogger(config.log, { service: 'flowwatch' }).child({ component: 'clickhouse' });
  let handle: Awaited<ReturnType<typeof openClickHouse>> | undefined;
  try {
    handle = await openClickHouse(config.clickhouse);
    const result = await applySchema(handle.client, config, logger);
    say(`ClickHouse ${handle.mode} at ${handle.location}, database ${handle.database}: schema up to date`);
    process.stdout.write(`${JSON.stringify({ ...result, cluster: config.clickhouse.cluster ?? null })}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`flowwatch migrate: ${errorSummary(err)}\n`);
    return 1;
  } finally {
    await handle?.client.close();
  }
}
