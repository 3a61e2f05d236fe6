/**
 * The part of ClickHouse's HTTP interface that @clickhouse/client sends, turned into what the
 * embedded engine runs: the statement, the settings and query parameters of this one request, the
 * database, the output format. Pure: no engine, no sockets.
 *
 * What the client sends (read from @clickhouse/client 1.23 `node_base_connection.js`):
 * - query(), command(): POST, the statement as the body; settings, `param_<name>`, `database`,
 *   `query_id` as URL parameters.
 * - insert(), exec() with values: POST, the statement as the `query` URL parameter and the data
 *   as the body. The server reads the statement as the URL's `query` followed by the body.
 * - ping(): GET /ping (or GET ?query=SELECT 'ping' with `select: true`).
 * - with `use_multipart_params`, the statement and `param_*` as multipart/form-data parts.
 */

/** URL parameters that are not settings. */
const NOT_SETTINGS = new Set(['query', 'database', 'query_id', 'default_format', 'user', 'password', 'role', 'session_id']);

/**
 * Settings that belong to the HTTP layer of a server and that the embedded engine does not know
 * (the same list as chdb's own connection drops): they change how the answer travels, not what
 * it is. `enable_http_compression` is read by the front itself.
 */
const HTTP_ONLY_SETTINGS = new Set([
  'wait_end_of_query',
  'send_progress_in_http_headers',
  'http_response_buffer_size',
  'http_headers_progress_interval_ms',
  'http_send_progress_interval_ms',
  'enable_http_compression',
  'http_zlib_compression_level',
  'http_response_compression_method',
  'http_native_compression_disable_checksumming_on_decompress',
  'buffer_size',
]);

export interface FrontRequest {
  /** The statement, with an INSERT's data after it (URL `query`, a newline, the body). */
  sql: string;
  /** Settings of this request only. */
  settings: Map<string, string>;
  /** Query parameters in their text form, exactly as sent (`{name:Type}` placeholders). */
  params: Map<string, string>;
  database: string | undefined;
  queryId: string | undefined;
  /** Output format when the statement has no FORMAT clause; the server's default is TabSeparated. */
  defaultFormat: string;
  /** The client asked for a compressed answer (`enable_http_compression=1`). */
  compressResponse: boolean;
  /** An INSERT whose data part is empty: nothing to write, answered like the server (200). */
  emptyInsert: boolean;
}

export class FrontRequestError extends Error {
  constructor(
    readonly code: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads one request. `body` is already decompressed. Throws FrontRequestError for what the front
 * does not serve (sessions) or cannot parse.
 */
export function parseFrontRequest(url: URL, body: string, contentType: string | undefined): FrontRequest {
  const fields = new Map<string, string>();
  for (const [k, v] of url.searchParams) fields.set(k, v);
  let data = body;
  const multipart = /^multipart\/form-data;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  if (multipart) {
    for (const [k, v] of parseMultipart(body, (multipart[1] ?? multipart[2]) as string)) fields.set(k, v);
    data = '';
  }
  if (fields.has('session_id')) {
    throw new FrontRequestError(
      48,
      'NOT_IMPLEMENTED',
      'sessions (session_id) are not served by this front: every request is its own query',
    );
  }
  const settings = new Map<string, string>();
  const params = new Map<string, string>();
  for (const [k, v] of fields) {
    if (k.startsWith('param_')) params.set(k.slice('param_'.length), v);
    else if (!NOT_SETTINGS.has(k) && !HTTP_ONLY_SETTINGS.has(k)) settings.set(k, v);
  }
  const urlQuery = fields.get('query') ?? '';
  const sql = urlQuery && data ? `${urlQuery}\n${data}` : urlQuery || data;
  if (sql.trim() === '') throw new FrontRequestError(62, 'SYNTAX_ERROR', 'Empty query');
  return {
    sql,
    settings,
    params,
    database: fields.get('database') || undefined,
    queryId: fields.get('query_id') || undefined,
    defaultFormat: fields.get('default_format') || 'TabSeparated',
    compressResponse: fields.get('enable_http_compression') === '1',
    emptyInsert: /^\s*INSERT\b/i.test(urlQuery) && data.trim() === '' && !multipart,
  };
}

/**
 * The statement that gives a fresh engine session this request's settings and parameters:
 * `SET k = 'v', param_p = 'text'`. Every value travels as a string literal whose content is the
 * text sent over HTTP, so the engine parses it by the setting's or placeholder's type, as the
 * server does with URL parameters. Undefined when there is nothing to set.
 */
export function setStatement(settings: ReadonlyMap<string, string>, params: ReadonlyMap<string, string>): string | undefined {
  const parts: string[] = [];
  for (const [k, v] of settings) parts.push(`${identifier(k)} = ${stringLiteral(v)}`);
  for (const [k, v] of params) parts.push(`${identifier(`param_${k}`)} = ${stringLiteral(v)}`);
  return parts.length === 0 ? undefined : `SET ${parts.join(', ')}`;
}

/** A ClickHouse string literal: backslash and quote escaped, so its value is `s` byte for byte. */
export function stringLiteral(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A setting or parameter name; anything else is refused rather than quoted into SQL. */
export function identifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw new FrontRequestError(115, 'UNKNOWN_SETTING', `not a setting name: ${JSON.stringify(name)}`);
  return name;
}

/** A database name as a quoted identifier. */
export function quotedDatabase(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

export interface FrontError {
  status: number;
  code: number;
  body: string;
}

/**
 * The answer to a failed query, as the server gives it: `Code: N. DB::Exception: ... (TYPE)` in
 * the body, the code in X-ClickHouse-Exception-Code, and a status from the code (unknown objects
 * 404, bad input 400, otherwise 500).
 */
export function frontError(err: unknown): FrontError {
  if (err instanceof FrontRequestError) {
    const code = err.code;
    return { status: statusFor(code), code, body: `Code: ${code}. DB::Exception: ${err.message}. (${err.type})\n` };
  }
  const message = err instanceof Error ? err.message : String(err);
  const m = /Code: (\d+)\. /.exec(message);
  if (m) {
    const code = Number(m[1]);
    return { status: statusFor(code), code, body: `${message.slice(m.index).trimEnd()}\n` };
  }
  // Not an engine error (the engine's binding failed): STD_EXCEPTION, as the server reports them.
  return { status: 500, code: 1001, body: `Code: 1001. DB::Exception: ${message}. (STD_EXCEPTION)\n` };
}

const NOT_FOUND = new Set([46, 47, 50, 60, 73, 81, 115, 168]);
const BAD_REQUEST = new Set([6, 26, 27, 38, 41, 53, 62, 69, 70, 72, 117, 131, 457]);

function statusFor(code: number): number {
  if (NOT_FOUND.has(code)) return 404;
  if (BAD_REQUEST.has(code)) return 400;
  return 500;
}

/** The named parts of a multipart/form-data body (what the client sends: text parts only). */
export function parseMultipart(body: string, boundary: string): Map<string, string> {
  const parts = new Map<string, string>();
  for (const chunk of body.split(`--${boundary}`)) {
    if (chunk === '' || chunk.startsWith('--')) continue;
    const headerEnd = chunk.indexOf('\r\n\r\n');
    if (headerEnd < 0) continue;
    const name = /name="([^"]*)"/.exec(chunk.slice(0, headerEnd))?.[1];
    if (name === undefined) continue;
    let value = chunk.slice(headerEnd + 4);
    if (value.endsWith('\r\n')) value = value.slice(0, -2);
    parts.set(name, value);
  }
  return parts;
}
