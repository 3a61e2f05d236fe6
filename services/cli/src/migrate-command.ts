import {
  applyRetention,
  type ClickHouseClient,
  clusterTargetOf,
  type MigrateOptions,
  type MigrationResult,
  migrate,
  openClickHouse,
  schemaFor,
  soleWriter,
} from '@flowwatch/clickhouse';
import type { Config } from '@flowwatch/config';
import { createKafka } from '@flowwatch/kafka';
import { errorSummary } from '@flowwatch/lifecycle';
import { createLogger, type Logger } from '@flowwatch/observability';

/**
 * The schema for the configured ClickHouse (single node, or clickhouse.cluster) and the configured
 * retention. Every process that opens ClickHouse runs it at start; `flowwatch migrate` runs only it,
 * for a deployment's migration Job (deploy/k8s), so pods start against a schema that is already there.
 */
export async function applySchema(
  client: ClickHouseClient,
  config: Config,
  logger: Logger,
  options: MigrateOptions = {},
): Promise<MigrationResult> {
  const cluster = clusterTargetOf(config.clickhouse);
  const result = await migrate(client, schemaFor(cluster), logger, cluster, options);
  const s = config.storage;
  await applyRetention(client, { rawDays: s.rawTtlDays, minuteDays: s.minuteTtlDays, hourDays: s.hourTtlDays }, cluster);
  return result;
}

/**
 * `flowwatch migrate`: prints one JSON line ({applied, alreadyApplied, cluster}); exit 0, or 1 when
 * ClickHouse fails or a migration refuses. A migration that rebuilds flows_raw needs the
 * aggregators stopped: the embedded engine is this process's alone; on a server the aggregators'
 * consumer group must have no members, or the operator says they are stopped
 * (`--aggregators-stopped`, when Kafka cannot be asked).
 */
export async function runMigrate(
  config: Config,
  say: (line: string) => void,
  opts: { aggregatorsStopped?: boolean } = {},
): Promise<number> {
  const logger = createLogger(config.log, { service: 'flowwatch' }).child({ component: 'clickhouse' });
  let handle: Awaited<ReturnType<typeof openClickHouse>> | undefined;
  try {
    handle = await openClickHouse(config.clickhouse);
    let writersStopped = soleWriter(handle) || opts.aggregatorsStopped === true;
    if (!writersStopped) {
      const members = await aggregatorMembers(config.kafka, config.aggregator.groupId, logger);
      writersStopped = members.ok && members.count === 0;
      if (!writersStopped) {
        const why = members.ok ? `${members.count} aggregator(s) in consumer group ${config.aggregator.groupId}` : members.error;
        say(`aggregators not known to be stopped (${why}): a migration that rebuilds flows_raw will refuse`);
      }
    }
    const result = await applySchema(handle.client, config, logger, { writersStopped });
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

/** Members of the aggregators' consumer group, asked of the configured brokers. */
export async function aggregatorMembers(
  kafka: Config['kafka'],
  groupId: string,
  logger: Logger,
): Promise<{ ok: true; count: number } | { ok: false; error: string }> {
  if (kafka.brokers.length === 0) return { ok: false, error: 'no kafka.brokers configured to ask' };
  const admin = createKafka(kafka, logger.child({ component: 'kafka' })).admin();
  try {
    await admin.connect();
    const { groups } = await admin.describeGroups([groupId]);
    return { ok: true, count: groups[0]?.members.length ?? 0 };
  } catch (err) {
    return { ok: false, error: `kafka: ${errorSummary(err)}` };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
