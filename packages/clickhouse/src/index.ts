export { batchToken, dedupInsertSettings, resendBatch, type StoredBatch } from './batches.js';
export {
  type ClickHouseClient,
  type ClickHouseConnection,
  type ClickHouseHandle,
  ident,
  insertNative,
  openClickHouse,
  soleWriter,
} from './client.js';
export {
  type ClusterTarget,
  clusterMigrations,
  clusterStatements,
  clusterTargetOf,
  clusterTtlStatement,
  localName,
  SHARDING_KEYS,
} from './cluster.js';
export {
  checksumOf,
  type MigrateOptions,
  type Migration,
  type MigrationResult,
  type MigrationStep,
  migrate,
  migrationsTableDdl,
  type StepContext,
} from './migrations.js';
export { isAddress, NativeColumn, type NativeType } from './native.js';
export {
  applyRetention,
  type Retention,
  SCHEMA,
  type SuppressionRow,
  schemaFor,
} from './schema.js';
