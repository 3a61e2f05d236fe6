export { type ClickHouseClient, type ClickHouseConnection, type ClickHouseHandle, ident, insertNative, openClickHouse } from './client.js';
export { checksumOf, type Migration, type MigrationResult, migrate } from './migrations.js';
export { isAddress, NativeColumn, type NativeType } from './native.js';
export { applyRetention, dedupInsertSettings, type Retention, SCHEMA } from './schema.js';
