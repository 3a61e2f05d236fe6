import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type ClickHouseClient, type ClickHouseHandle, openClickHouse } from '@flowwatch/clickhouse';
import type { Config } from '@flowwatch/config';
import { errorSummary } from '@flowwatch/lifecycle';
import {
  type Answer,
  type FlowsResult,
  flowSearch,
  flowsQuerySchema,
  matrixQuerySchema,
  orgMatrix,
  parseQuery,
  type QueryContext,
  topN,
  topQuerySchema,
  trafficQuerySchema,
  trafficSeries,
} from '@flowwatch/query';
import { COMMAND_OPTIONS, QUERY_OPTIONS, type QueryCommand, type QueryOptionName } from './query-options.js';

export interface QueryCommandIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

type OptionValues = Partial<Record<QueryOptionName, string | string[] | boolean | undefined>>;

/**
 * `flowwatch traffic|top|matrix|flows`: validates the options with the query package's schemas,
 * runs the query against the configured ClickHouse and prints the answer: one JSON document
 * (traffic, top, matrix) or one flow per line (flows, NDJSON; a summary and any notes on stderr).
 * Exit codes: 0 answered, 1 ClickHouse could not be opened or failed, 2 bad options or a
 * question no table can answer (retention).
 */
export async function runQueryCommand(
  command: QueryCommand,
  values: OptionValues,
  config: Config,
  io: QueryCommandIo = { out: process.stdout, err: process.stderr },
): Promise<number> {
  const fail = (code: number, line: string) => {
    io.err.write(`flowwatch ${command}: ${line}\n`);
    return code;
  };
  const given = (Object.keys(QUERY_OPTIONS) as QueryOptionName[]).filter((k) => values[k] !== undefined);
  const foreign = given.filter((k) => !COMMAND_OPTIONS[command].includes(k));
  if (foreign.length > 0)
    return fail(2, `${foreign.map((k) => `--${k}`).join(', ')} ${foreign.length > 1 ? 'do' : 'does'} not apply to ${command}`);
  if (values.from === undefined || values.to === undefined)
    return fail(2, '--from and --to are required (ISO-8601, e.g. 2026-11-21T10:00:00Z)');

  const prepared = prepare(command, Object.fromEntries(given.map((k) => [k, values[k]])));
  if (!prepared.ok) {
    // Each issue's path starts with the schema field, which is the option's name.
    return fail(2, prepared.issues.map((i) => `${i.path.length ? `--${String(i.path[0])}: ` : ''}${i.message}`).join('; '));
  }

  const opened = await openForQuery(config);
  if (!opened.ok) return fail(1, opened.message);
  const ch = opened.handle;
  try {
    const answer = await prepared.run(ch.client, {
      retention: { rawDays: config.storage.rawTtlDays, minuteDays: config.storage.minuteTtlDays, hourDays: config.storage.hourTtlDays },
    });
    if (!answer.ok) return fail(2, answer.message);
    if (command !== 'flows') {
      await writeAll(io.out, [`${JSON.stringify(answer.result)}\n`]);
      return 0;
    }
    const r = answer.result as FlowsResult;
    await writeAll(
      io.out,
      r.flows.map((f) => `${JSON.stringify(f)}\n`),
    );
    for (const note of r.notes) io.err.write(`flowwatch flows: note: ${note}\n`);
    io.err.write(
      `flowwatch flows: ${r.flows.length} flows from ${r.table}, newest first${r.truncated ? `; more match: narrow the range or raise --limit (now ${r.limit})` : ''}\n`,
    );
    return 0;
  } catch (err) {
    return fail(1, `ClickHouse: ${errorSummary(err)}`);
  } finally {
    await ch.client.close();
  }
}

type Prepared =
  | { ok: true; run: (client: ClickHouseClient, ctx: QueryContext) => Promise<Answer<object>> }
  | { ok: false; issues: { path: PropertyKey[]; message: string }[] };

/** Validates the command's input; the query to run once ClickHouse is open. */
function prepare(command: QueryCommand, input: Record<string, unknown>): Prepared {
  switch (command) {
    case 'traffic': {
      const p = parseQuery(trafficQuerySchema, input);
      return p.ok ? { ok: true, run: (client, ctx) => trafficSeries(client, p.query, ctx) } : p;
    }
    case 'top': {
      const p = parseQuery(topQuerySchema, input);
      return p.ok ? { ok: true, run: (client, ctx) => topN(client, p.query, ctx) } : p;
    }
    case 'matrix': {
      const p = parseQuery(matrixQuerySchema, input);
      return p.ok ? { ok: true, run: (client, ctx) => orgMatrix(client, p.query, ctx) } : p;
    }
    case 'flows': {
      const p = parseQuery(flowsQuerySchema, input);
      return p.ok ? { ok: true, run: (client, ctx) => flowSearch(client, p.query, ctx) } : p;
    }
  }
}

/**
 * Opens the configured ClickHouse for reading, without creating anything: an embedded data
 * directory must exist and hold flowwatch's tables.
 *
 * chDB lets one process open a data directory at a time: it holds a lock (flock) on
 * `<path>/status`, which names the holder's PID. A second process fails to connect (chDB's
 * native code also prints `Cannot lock file .../status. Another server instance in same
 * directory is already running` on stderr) and the holder carries on unaffected. The lock dies
 * with its process, so a killed `flowwatch start` does not block later opens.
 */
async function openForQuery(config: Config): Promise<{ ok: true; handle: ClickHouseHandle } | { ok: false; message: string }> {
  const path = resolve(config.clickhouse.path);
  const embedded = !config.clickhouse.url;
  if (embedded && !existsSync(path)) {
    return { ok: false, message: `no embedded ClickHouse data at ${path} (set clickhouse.path, or CLICKHOUSE_URL for a server)` };
  }
  let handle: ClickHouseHandle;
  try {
    handle = await openClickHouse(config.clickhouse);
  } catch (err) {
    const holder = embedded ? lockHolder(path) : undefined;
    if (holder !== undefined) {
      return {
        ok: false,
        message:
          `the embedded ClickHouse data directory ${path} is in use by process ${holder} (a running flowwatch start?), ` +
          'and chDB lets one process open it at a time: query through a ClickHouse server (CLICKHOUSE_URL) or stop that process first',
      };
    }
    return { ok: false, message: `cannot open ClickHouse at ${embedded ? path : config.clickhouse.url}: ${errorSummary(err)}` };
  }
  try {
    const [tables] = await (
      await handle.client.query({
        query:
          "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name IN ('flows_raw', 'flows_1m', 'flows_1h')",
        format: 'JSONEachRow',
      })
    ).json<{ n: number | string }>();
    if (Number(tables?.n) !== 3) {
      await handle.client.close();
      return {
        ok: false,
        message: `database ${handle.database} at ${handle.location} has no flowwatch flow tables (has flowwatch start run with this configuration?)`,
      };
    }
  } catch (err) {
    await handle.client.close();
    return { ok: false, message: `ClickHouse at ${handle.location}: ${errorSummary(err)}` };
  }
  return { ok: true, handle };
}

/** The live process other than this one that chDB's status file names, if any. */
export function lockHolder(path: string): number | undefined {
  let pid: number;
  try {
    pid = Number(/^PID: (\d+)$/m.exec(readFileSync(join(path, 'status'), 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

async function writeAll(out: NodeJS.WritableStream, chunks: readonly string[]): Promise<void> {
  let buffer = '';
  for (const chunk of chunks) {
    buffer += chunk;
    if (buffer.length >= 1 << 16) {
      if (!out.write(buffer)) await new Promise<void>((r) => out.once('drain', () => r()));
      buffer = '';
    }
  }
  if (buffer && !out.write(buffer)) await new Promise<void>((r) => out.once('drain', () => r()));
}
