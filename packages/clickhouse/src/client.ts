import { mkdirSync, rmSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import { onCluster } from './cluster.js';
import { encodeNativeBlock, type NativeColumn } from './native.js';

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
 * Whether this process is the only one that can write the data: the embedded engine's directory is
 * one process's alone, and that process migrates before its aggregator consumes. So a migration it
 * runs has no other writer (MigrateOptions.writersStopped). On a server, other processes may write.
 */
export function soleWriter(handle: ClickHouseHandle): boolean {
  return handle.mode === 'embedded';
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
  const connection = withBinaryInserts(createChdbConnection({ path }), join(path, INSERT_FILES_DIR));
  const client = withPerQuerySettings(createClient({ connection } as Parameters<typeof createClient>[0]));
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
  // The rebuild of flows_raw (rebuild.ts): its bulk copy without deduplication; the cluster's copy
  // shard by shard.
  insert_deduplicate: 1,
  parallel_distributed_insert_select: 0,
  // The API's per-role query budget (api.queryBudgets); 0 is no limit.
  max_execution_time: 0,
  max_rows_to_read: 0,
  max_memory_usage: 0,
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

/**
 * Inserts one Native block (native.ts) into `table`: `INSERT INTO table (columns) FORMAT Native`
 * with the block as the body. The same call on both engines: over HTTP the body is the request's;
 * in embedded mode the connection passes the bytes through a file (withBinaryInserts).
 */
export async function insertNative(
  client: ClickHouseClient,
  params: { table: string; columns: readonly NativeColumn[]; clickhouse_settings?: Record<string, string | number> },
): Promise<void> {
  const body = encodeNativeBlock(params.columns);
  const names = params.columns.map((c) => ident(c.name)).join(', ');
  const result = await client.exec({
    query: `INSERT INTO ${ident(params.table)} (${names}) FORMAT Native`,
    values: Readable.from([body], { objectMode: false }),
    ...(params.clickhouse_settings ? { clickhouse_settings: params.clickhouse_settings } : {}),
  });
  // The response holds nothing for an insert, but over HTTP it must be read to free the socket.
  for await (const _ of result.stream);
}

/**
 * Where an embedded engine's binary inserts pass through files, inside its data directory: a
 * process killed during an insert leaves its file there, and the next process to open the
 * directory (which holds its lock by then) clears them, where a directory of the system's
 * temporary files would keep one per kill.
 */
export const INSERT_FILES_DIR = 'flowwatch-inserts';

/** `INSERT INTO <target> FORMAT <binary format>`, as insertNative and @clickhouse/client write it. */
const BINARY_INSERT = /^\s*(INSERT\s+INTO\s+[\s\S]+?)\s+FORMAT\s+(Native|RowBinary)\s*$/i;

interface ExecParams {
  query: string;
  values?: unknown;
  [k: string]: unknown;
}

/**
 * chDB's connection (`chdb/connection`, chdb 3.4.0) turns an insert's body into a UTF-8 string
 * and appends it to the SQL text: binary bodies are mangled, and text bodies are parsed at a
 * fraction of ClickHouse's usual speed (docs/storage.md). Here an `exec` with a body in a binary
 * format writes the bytes to a file and runs `INSERT ... FROM INFILE`, which the embedded engine
 * reads as a client would; everything else goes to chDB's connection untouched. Embedded only:
 * a server receives the same statement with the body over HTTP.
 */
export function withBinaryInserts<C extends object>(connection: C, dir: string): C {
  let ready = false;
  let seq = 0;
  const target = connection as unknown as {
    exec(p: ExecParams): Promise<unknown>;
    close(): Promise<void>;
  };
  const exec = async (params: ExecParams) => {
    const m = params.values === undefined ? null : BINARY_INSERT.exec(params.query);
    if (!m) return target.exec(params);
    if (!ready) {
      // The engine holds its data directory's lock by now (openClickHouse's first statements are
      // not inserts), so no other process uses these files: any there were left by a process that
      // died inside an insert.
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      ready = true;
    }
    const file = join(dir, `${process.pid}-${++seq}.${(m[2] as string).toLowerCase()}`);
    await writeFile(file, await collectBytes(params.values));
    try {
      const { values: _, ...rest } = params;
      return await target.exec({ ...rest, query: `${m[1]} FROM INFILE '${file.replace(/[\\']/g, (c) => `\\${c}`)}' FORMAT ${m[2]}` });
    } finally {
      await unlink(file).catch(() => undefined);
    }
  };
  const close = async () => {
    await target.close();
    if (ready) rmSync(dir, { recursive: true, force: true });
  };
  return new Proxy(connection, {
    get(t, prop) {
      if (prop === 'exec') return exec;
      if (prop === 'close') return close;
      const v = Reflect.get(t, prop, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

async function collectBytes(values: unknown): Promise<Uint8Array> {
  if (values instanceof Uint8Array) return values;
  if (typeof values === 'string') return Buffer.from(values);
  const chunks: Buffer[] = [];
  for await (const chunk of values as AsyncIterable<unknown>) {
    if (typeof chunk === 'string') chunks.push(Buffer.from(chunk));
    else if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    else throw new Error(`an insert body chunk must be bytes or a string, not ${typeof chunk}`);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}
