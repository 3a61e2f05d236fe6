import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import { onCluster } from './cluster.js';

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
  /** A cluster (remote_servers name) the schema lives on; server mode only (cluster.ts). */
  cluster?: string | undefined;
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
  if (conn.cluster && !conn.url) throw new Error('a ClickHouse cluster needs a server (url): the embedded engine has no cluster');
  if (conn.url) {
    const admin = createClient({
      url: conn.url,
      username: conn.username,
      password: conn.password,
      request_timeout: conn.requestTimeoutMs,
    });
    try {
      const on = conn.cluster ? ` ${onCluster({ cluster: conn.cluster, database: conn.database })}` : '';
      await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${ident(conn.database)}${on}` });
    } finally {
      await admin.close();
    }
    const client = createClient({
      url: conn.url,
      username: conn.username,
      password: conn.password,
      database: conn.database,
      request_timeout: conn.requestTimeoutMs,
      clickhouse_settings: {
        date_time_output_format: 'iso',
        // Through a Distributed table an insert returns once the shard has stored it (not queued on this
        // node), so the aggregator commits Kafka offsets only for stored rows. insert_distributed_sync is
        // the name every server version knows (distributed_foreground_insert from 23.x on).
        ...(conn.cluster ? { insert_distributed_sync: 1 } : {}),
      },
    });
    const u = new URL(conn.url);
    return { client, mode: 'server', database: conn.database, location: `${u.protocol}//${u.host}` };
  }
  const path = resolve(conn.path);
  mkdirSync(path, { recursive: true });
  // Loaded lazily: the embedded engine is a large native library a server deployment never needs.
  const { createChdbConnection } = await import('chdb/connection');
  const client = withPerQuerySettings(createClient({ connection: createChdbConnection({ path }) } as Parameters<typeof createClient>[0]));
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

/**
 * Every setting flowwatch passes per query, with ClickHouse's default. Over HTTP a setting applies
 * to one query; chDB's connection turns `clickhouse_settings` into `SET k = v;` before the
 * statement, which lasts for the rest of the session: an insert with no token after one with a
 * deduplication token would reuse that token and be silently dropped as a duplicate (seen on
 * chDB 26.7). So in embedded mode every call sets all of these, to its own value or the default.
 */
export const PER_QUERY_SETTINGS: Readonly<Record<string, string | number>> = {
  insert_deduplication_token: '',
  deduplicate_blocks_in_dependent_materialized_views: 0,
  date_time_input_format: 'basic',
  input_format_parallel_parsing: 1,
  materialize_ttl_after_modify: 1,
};

type Settings = Record<string, unknown> | undefined;

/** Wraps the embedded client so that a call's settings never outlive the call (see PER_QUERY_SETTINGS). */
export function withPerQuerySettings(client: ClickHouseClient): ClickHouseClient {
  const complete = (settings: Settings) => {
    for (const k of Object.keys(settings ?? {})) {
      if (!(k in PER_QUERY_SETTINGS)) throw new Error(`setting ${k} must be listed in PER_QUERY_SETTINGS with its default`);
    }
    return { ...PER_QUERY_SETTINGS, ...settings };
  };
  for (const method of ['query', 'insert', 'command', 'exec'] as const) {
    const original = (client[method] as (p: { clickhouse_settings?: Settings }) => Promise<unknown>).bind(client);
    (client as unknown as Record<string, unknown>)[method] = (params: { clickhouse_settings?: Settings }) =>
      original({ ...params, clickhouse_settings: complete(params.clickhouse_settings) });
  }
  return client;
}
