import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClickHouseHandle, openClickHouse } from '@flowwatch/clickhouse';
import { uniqueName } from './kafka.js';

let embeddedPath: string | undefined;

/**
 * A ClickHouse for one test file: a fresh database on the server named by CLICKHOUSE_URL, or on
 * the embedded engine (one data directory per test process, as chDB requires).
 */
export async function openTestClickHouse(): Promise<ClickHouseHandle> {
  embeddedPath ??= mkdtempSync(join(tmpdir(), 'fw-test-ch-'));
  return openClickHouse({
    url: process.env.CLICKHOUSE_URL,
    username: process.env.CLICKHOUSE_USER ?? 'default',
    password: process.env.CLICKHOUSE_PASSWORD ?? '',
    database: uniqueName('fw_test').replace(/-/g, '_'),
    path: embeddedPath,
    requestTimeoutMs: 60_000,
  });
}
