import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip, inflate } from 'node:zlib';
import { Session } from 'chdb';
import { FrontRequestError, frontError, parseFrontRequest, quotedDatabase, setStatement } from './http-request.js';

export interface HttpFrontOptions {
  /** Data directory of the embedded engine (one per process). */
  path: string;
  /** Loopback only: this is test infrastructure with no authentication. */
  host?: '127.0.0.1' | '::1';
  /** 0 picks a free port. */
  port?: number;
}

export interface HttpFront {
  start(): Promise<{ url: string; port: number }>;
  /** Stops accepting, lets requests in flight finish, closes the engine's sessions. Idempotent. */
  stop(): Promise<void>;
  /** Requests answered so far, by outcome (for tests and the log). */
  readonly served: { ok: number; failed: number };
}

/**
 * Settings whose default differs between a ClickHouse server and the embedded engine, set to the
 * server's default unless the request sets them. chDB leaves 64-bit integers unquoted in JSON
 * formats, where a server quotes them (numbers above 2^53 would lose digits in JavaScript).
 */
const SERVER_DEFAULTS: ReadonlyMap<string, string> = new Map([['output_format_json_quote_64bit_integers', '1']]);

/**
 * An INSERT whose body is in a binary format: chDB takes a query as UTF-8 text, which would mangle
 * the bytes, so the body goes through a file (`INSERT ... FROM INFILE`), as a server would read it
 * from the request (the aggregator's Native inserts, docs/storage.md).
 */
const BINARY_INSERT = /^\s*(INSERT\s+INTO\s+[\s\S]+?)\s+FORMAT\s+(Native|RowBinary\w*)\s*$/i;

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);
const gzipAsync = promisify(gzip);

/**
 * Embedded ClickHouse (chDB) behind the subset of ClickHouse's HTTP interface that
 * @clickhouse/client uses, so that flowwatch's server code path (`CLICKHOUSE_URL`) runs against
 * a real engine on a machine with no ClickHouse server. It is not a ClickHouse server: no users,
 * no sessions, no native protocol, no progress headers.
 *
 * Every request runs on a fresh engine session (chDB allows many on the process's one data
 * directory), which gets the request's database, settings and parameters and is closed after it:
 * as on a server, a setting sent with one query never applies to the next. (The embedded client
 * instead sends `SET` on one long session; see packages/clickhouse, PER_QUERY_SETTINGS.)
 */
export function createHttpFront(options: HttpFrontOptions): HttpFront {
  const path = resolve(options.path);
  mkdirSync(path, { recursive: true });
  // The first session loads the data directory (about half a second); it stays open so that the
  // per-request sessions are cheap (a few milliseconds) and the engine stays up between requests.
  let anchor: Session | undefined;
  let server: Server | undefined;
  const served = { ok: 0, failed: 0 };
  let bodyDir: string | undefined;
  let bodySeq = 0;

  const run = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://front');
    if (req.method === 'GET' && (url.pathname === '/ping' || (url.pathname === '/' && !url.searchParams.has('query')))) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8' }).end('Ok.\n');
      return;
    }
    const queryId = url.searchParams.get('query_id') || randomUUID();
    const baseHeaders = {
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Timezone': 'UTC',
      'X-ClickHouse-Server-Display-Name': 'local-clickhouse (chDB behind an HTTP front)',
    };
    let session: Session | undefined;
    let infile: string | undefined;
    try {
      if (url.pathname !== '/') throw new FrontRequestError(48, 'NOT_IMPLEMENTED', `no handler for ${url.pathname}`);
      const body = await readBody(req);
      const binary = body.length > 0 ? BINARY_INSERT.exec(url.searchParams.get('query') ?? '') : null;
      let request: ReturnType<typeof parseFrontRequest>;
      if (binary) {
        bodyDir ??= mkdtempSync(join(tmpdir(), 'flowwatch-front-insert-'));
        infile = join(bodyDir, `${++bodySeq}.bin`);
        await writeFile(infile, body);
        const direct = new URL(url);
        direct.searchParams.set('query', `${binary[1]} FROM INFILE '${infile}' FORMAT ${binary[2]}`);
        request = { ...parseFrontRequest(direct, '', req.headers['content-type']), emptyInsert: false };
      } else {
        request = parseFrontRequest(url, body.toString('utf8'), req.headers['content-type']);
      }
      const summary = { read_rows: '0', read_bytes: '0', written_rows: '0', written_bytes: '0', result_rows: '0', result_bytes: '0' };
      let out: Buffer = Buffer.alloc(0);
      if (!request.emptyInsert) {
        session = new Session(path);
        if (request.database) await session.queryAsync(`USE ${quotedDatabase(request.database)}`);
        const set = setStatement(new Map([...SERVER_DEFAULTS, ...request.settings]), request.params);
        if (set) await session.queryAsync(set);
        const t0 = performance.now();
        const result = await session.queryAsync(request.sql, { format: request.defaultFormat });
        out = Buffer.from(result.bytes());
        const isInsert = /^\s*INSERT\b/i.test(request.sql);
        const rows = String(result.rowsRead ?? 0);
        const bytes = String(result.bytesRead ?? 0);
        Object.assign(summary, isInsert ? { written_rows: rows, written_bytes: bytes } : { read_rows: rows, read_bytes: bytes });
        Object.assign(summary, { elapsed_ns: String(Math.round((performance.now() - t0) * 1e6)) });
      }
      const headers: Record<string, string> = {
        ...baseHeaders,
        'X-ClickHouse-Format': request.defaultFormat,
        'X-ClickHouse-Summary': JSON.stringify(summary),
        'Content-Type': contentType(request.sql, request.defaultFormat),
      };
      if (request.compressResponse && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
        out = await gzipAsync(out);
        headers['Content-Encoding'] = 'gzip';
      }
      served.ok++;
      res.writeHead(200, headers).end(out);
    } catch (err) {
      served.failed++;
      const e = frontError(err);
      res
        .writeHead(e.status, { ...baseHeaders, 'X-ClickHouse-Exception-Code': String(e.code), 'Content-Type': 'text/plain; charset=UTF-8' })
        .end(e.body);
    } finally {
      session?.close();
      if (infile) await unlink(infile).catch(() => undefined);
    }
  };

  return {
    served,
    async start() {
      if (options.host && options.host !== '127.0.0.1' && options.host !== '::1') throw new Error('the front binds to loopback only');
      anchor ??= new Session(path);
      await anchor.queryAsync('SELECT 1');
      server = createServer((req, res) => void run(req, res));
      // Longer than the client's idle socket TTL (2.5 s), as a server's keep-alive is, so the
      // client retires idle sockets before the front closes them.
      server.keepAliveTimeout = 10_000;
      const srv = server;
      await new Promise<void>((ok, fail) => {
        srv.once('error', fail);
        srv.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => ok());
      });
      const port = (srv.address() as AddressInfo).port;
      return { url: `http://${options.host === '::1' ? '[::1]' : '127.0.0.1'}:${port}`, port };
    },
    async stop() {
      const srv = server;
      server = undefined;
      if (srv) {
        const closed = new Promise<void>((ok) => srv.close(() => ok()));
        srv.closeIdleConnections();
        await closed;
      }
      anchor?.close();
      anchor = undefined;
      if (bodyDir) rmSync(bodyDir, { recursive: true, force: true });
      bodyDir = undefined;
    },
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let buf = Buffer.concat(chunks);
  const encoding = String(req.headers['content-encoding'] ?? '').toLowerCase();
  if (encoding === 'gzip') buf = await gunzipAsync(buf);
  else if (encoding === 'deflate') buf = await inflateAsync(buf);
  else if (encoding !== '' && encoding !== 'identity') {
    throw new FrontRequestError(48, 'NOT_IMPLEMENTED', `request Content-Encoding ${encoding} is not served by this front`);
  }
  return buf;
}

function contentType(sql: string, defaultFormat: string): string {
  // The FORMAT clause ends the statement (clickhouse-js appends it); an INSERT's data is no output.
  if (/^\s*INSERT\b/i.test(sql)) return 'text/plain; charset=UTF-8';
  const format = /\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$/i.exec(sql.slice(-200))?.[1] ?? defaultFormat;
  if (/^JSON/i.test(format)) return 'application/json; charset=UTF-8';
  if (/^(TabSeparated|TSV)/i.test(format)) return 'text/tab-separated-values; charset=UTF-8';
  if (/^CSV/i.test(format)) return 'text/csv; charset=UTF-8';
  return 'text/plain; charset=UTF-8';
}
