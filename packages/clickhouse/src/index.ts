export { type ClickHouseClient, type ClickHouseConnection, type ClickHouseHandle, ident, insertNative, openClickHouse } from './client.js';
export {
  type ClusterTarget,
  clusterMigrations,
  clusterStatements,
  clusterTargetOf,
  clusterTtlStatement,
  localName,
  SHARDING_KEYS,
} from './cluster.js';
export { checksumOf, type Migration, type MigrationResult, migrate, migrationsTableDdl } from './migrations.js';
export { isAddress, NativeColumn, type NativeType } from './native.js';
export { applyRetention, dedupInsertSettings, type Retention, SCHEMA, type SuppressionRow, schemaFor } from './schema.js';
