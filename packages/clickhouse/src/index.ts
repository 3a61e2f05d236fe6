export { type ClickHouseClient, type ClickHouseConnection, type ClickHouseHandle, ident, openClickHouse } from './client.js';
export { checksumOf, type Migration, type MigrationResult, migrate } from './migrations.js';
export { applyRetention, dedupInsertSettings, type Retention, SCHEMA } from './schema.js';
