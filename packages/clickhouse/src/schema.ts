import type { Migration } from './migrations.js';

/**
 * flowwatch's own schema, applied at start by every process that opens ClickHouse. Append a new
 * migration for every change; never edit one that has shipped (its checksum is recorded).
 * Tables for flows, rollups and alerts arrive with the storage and detection work.
 */
export const SCHEMA: readonly Migration[] = [];
