import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { type ClickHouseClient, createClient } from '@clickhouse/client';

export type { ClickHouseClient } from '@clickhouse/client';

export interface ClickHouseConnection {
  /** http(s)://host:port of a ClickHouse server; unset for the embedded engine. */
  url?: string | undefined;
  username: string;
  password: string;
  database: string;
  /** Data directory of the embedded engine. */
  path: string;
  requestTimeoutMs: number;
}

export interface ClickHouseHandle {
  client: ClickHouseClient;
  mode: 'server' | 'embedded';
  database: string;
  /** Where the data is: the server URL (without credentials) or the embedded data directory. */
  location: string;
}

/**
 * One ClickHouse client per process. Over HTTP with CLICKHOUSE_URL; otherwise chDB in this process
 * through the same @clickhouse/client API (`chdb/connection`), so every query runs the same SQL
 * on both. chDB keeps one data directory per process, so in embedded mode all services share
 * this client. The database is created if missing and made the session's current database.
 */
export async function openClickHouse(conn: ClickHouseConnection): Promise<ClickHouseHandle> {
  if (conn.url) {
    const admin = createClient({
      url: conn.url,
      username: conn.username,
      password: conn.password,
      request_timeout: conn.requestTimeoutMs,
    });
    try {
      await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${ident(conn.database)}` });
    } finally {
      await admin.close();
    }
    const client = createClient({
      url: conn.url,
      username: conn.username,
      password: conn.password,
      database: conn.database,
      request_timeout: conn.requestTimeoutMs,
      clickhouse_settings: { date_time_output_format: 'iso' },
    });
    const u = new URL(conn.url);
    return { client, mode: 'server', database: conn.database, location: `${u.protocol}//${u.host}` };
  }
  const path = resolve(conn.path);
  mkdirSync(path, { recursive: true });
  // Loaded lazily: the embedded engine is a large native library a server deployment never needs.
  const { createChdbConnection } = await import('chdb/connection');
  const client = createClient({ connection: createChdbConnection({ path }) } as Parameters<typeof createClient>[0]);
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${ident(conn.database)}` });
  // chDB ignores the client's `database` option; USE persists for the engine's session.
  await client.command({ query: `USE ${ident(conn.database)}` });
  return { client, mode: 'embedded', database: conn.database, location: path };
}

/** Quotes an identifier that the config schema has already restricted to [A-Za-z_][A-Za-z0-9_]*. */
export function ident(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not a safe identifier: ${name}`);
  return `\`${name}\``;
}
