export { type ClickHouseClient, type ClickHouseConnection, type ClickHouseHandle, ident, openClickHouse } from './client.js';
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
export { applyRetention, dedupInsertSettings, type Retention, SCHEMA, schemaFor } from './schema.js';
