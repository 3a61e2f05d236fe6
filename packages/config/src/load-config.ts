import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { type Config, configSchema } from './schema.js';

/**
 * Where configuration comes from, lowest precedence first:
 *   1. defaults in the schema;
 *   2. a YAML or JSON file (`--config FILE` or FLOWWATCH_CONFIG);
 *   3. environment: the well-known aliases below, then `FLOWWATCH__SECTION__FIELD=value`
 *      (double underscore between levels, SNAKE_CASE turned into camelCase).
 * Errors are values: one line naming each bad field, where it came from and why.
 */

/** Conventional variable names, as other tools in a Kafka + ClickHouse stack spell them. */
export const ENV_ALIASES: Readonly<Record<string, string>> = {
  KAFKA_BROKERS: 'kafka.brokers',
  CLICKHOUSE_URL: 'clickhouse.url',
  CLICKHOUSE_USER: 'clickhouse.username',
  CLICKHOUSE_PASSWORD: 'clickhouse.password',
  CLICKHOUSE_DATABASE: 'clickhouse.database',
  FLOWWATCH_LOG_LEVEL: 'log.level',
};
export const ENV_PREFIX = 'FLOWWATCH__';
export const CONFIG_FILE_ENV = 'FLOWWATCH_CONFIG';

export type LoadResult = { ok: true; config: Config; sources: Record<string, string> } | { ok: false; error: string };

export interface LoadOptions {
  /** Path given with --config; takes precedence over FLOWWATCH_CONFIG. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

export function loadConfig(options: LoadOptions = {}): LoadResult {
  const env = options.env ?? process.env;
  const sources: Record<string, string> = {};
  let raw: JsonObject = {};

  const file = options.file ?? env[CONFIG_FILE_ENV];
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      return { ok: false, error: `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}` };
    }
    try {
      const parsed: unknown = parseYaml(text);
      if (parsed !== null && parsed !== undefined) {
        if (typeof parsed !== 'object' || Array.isArray(parsed)) {
          return { ok: false, error: `config file ${file}: the top level must be a mapping` };
        }
        raw = parsed as JsonObject;
      }
    } catch (err) {
      return { ok: false, error: `config file ${file}: not valid YAML/JSON: ${firstLine((err as Error).message)}` };
    }
    markSources(raw, [], `file ${file}`, sources);
  }

  for (const [name, value] of envOverrides(env)) {
    const path = name.startsWith(ENV_PREFIX) ? envNameToPath(name) : (ENV_ALIASES[name] ?? '').split('.');
    const leaf = schemaAt(path);
    if (!leaf) {
      return { ok: false, error: `${name}: no configuration field ${path.join('.')}` };
    }
    const coerced = coerceEnv(value, leaf);
    setPath(raw, path, coerced);
    sources[path.join('.')] = name;
  }

  embeddedDefaults(raw, sources);
  const result = configSchema.safeParse(raw);
  if (!result.success) return { ok: false, error: formatIssues(result.error.issues, sources) };
  return { ok: true, config: result.data, sources };
}

/**
 * Partitions of `flows` with embedded ClickHouse when none are configured: the aggregator's
 * `partitionsConcurrently` (2 by default). Embedded, everything runs in one process (chDB opens a
 * data directory in one process at a time), so one aggregator reads every partition and each
 * partition's batch is an insert of its own (docs/storage.md, "Exactly once"): 8 partitions made
 * inserts of about 4,000 rows at 10,000 flows/s, where chDB spends 17-28 µs a row against 4.7 at
 * 40,000; with 2 the whole pipeline took 75 instead of 109 µs a flow (docs/benchmarks.md). With a
 * server (`clickhouse.url`) the schema's 8 stand, room for instances in a consumer group.
 */
function embeddedDefaults(raw: JsonObject, sources: Record<string, string>): void {
  // Only where the path is absent or sections all the way: a malformed value is the schema's to report.
  const section = (o: Json | undefined): JsonObject | undefined | false =>
    o === undefined ? undefined : o !== null && typeof o === 'object' && !Array.isArray(o) ? o : false;
  const clickhouse = section(raw.clickhouse);
  if (clickhouse === false || (clickhouse?.url !== undefined && clickhouse.url !== '')) return;
  const kafka = section(raw.kafka);
  const topics = kafka ? section(kafka.topics) : kafka;
  const flows = topics ? section(topics.flows) : topics;
  if (flows === false || flows?.partitions !== undefined) return;
  const aggregator = section(raw.aggregator);
  const concurrently = aggregator ? aggregator.partitionsConcurrently : undefined;
  setPath(raw, ['kafka', 'topics', 'flows', 'partitions'], typeof concurrently === 'number' && concurrently > 0 ? concurrently : 2);
  sources['kafka.topics.flows.partitions'] = 'the default with embedded ClickHouse';
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

function* envOverrides(env: NodeJS.ProcessEnv): Generator<[string, string]> {
  // Aliases first so an explicit FLOWWATCH__ variable wins over an alias.
  for (const name of Object.keys(ENV_ALIASES)) {
    const value = env[name];
    if (value !== undefined && value !== '') yield [name, value];
  }
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith(ENV_PREFIX) && value !== undefined) yield [name, value];
  }
}

/** FLOWWATCH__KAFKA__TOPICS__FLOWS_DLQ__PARTITIONS -> ['kafka', 'topics', 'flowsDlq', 'partitions'] */
export function envNameToPath(name: string): string[] {
  return name
    .slice(ENV_PREFIX.length)
    .split('__')
    .map((part) => part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
}

/** The inverse, for documentation and the docker-compose check. */
export function pathToEnvName(path: readonly string[]): string {
  return ENV_PREFIX + path.map((p) => p.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()).join('__');
}

type Leaf = 'string' | 'number' | 'boolean' | 'array' | 'object' | 'union';

/** Unwraps defaults/optionals and walks object shapes; returns the kind of the field at path. */
export function schemaAt(path: readonly string[]): Leaf | undefined {
  if (path.length === 0 || path.some((p) => p === '')) return undefined;
  // biome-ignore lint/suspicious/noExplicitAny: walking zod's internal definition tree
  let node: any = configSchema;
  for (const key of path) {
    node = unwrap(node);
    if (node?._zod?.def?.type !== 'object') return undefined;
    node = node._zod.def.shape[key];
    if (!node) return undefined;
  }
  node = unwrap(node);
  const type: string = node?._zod?.def?.type;
  switch (type) {
    case 'string':
    case 'enum':
      return 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'array':
      return 'array';
    case 'object':
      return 'object';
    case 'union':
    case 'literal':
      return 'union';
    default:
      return 'string';
  }
}

// biome-ignore lint/suspicious/noExplicitAny: zod internals
function unwrap(node: any): any {
  let n = node;
  while (n?._zod?.def && ['default', 'prefault', 'optional', 'nullable', 'pipe'].includes(n._zod.def.type)) {
    n = n._zod.def.type === 'pipe' ? n._zod.def.in : n._zod.def.innerType;
  }
  return n;
}

function coerceEnv(value: string, leaf: Leaf): Json {
  const trimmed = value.trim();
  switch (leaf) {
    case 'number': {
      const n = Number(trimmed);
      return trimmed !== '' && Number.isFinite(n) ? n : value;
    }
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(trimmed)) return true;
      if (/^(false|0|no|off)$/i.test(trimmed)) return false;
      return value;
    case 'array':
      if (trimmed.startsWith('[')) return tryJson(trimmed);
      return trimmed === '' ? [] : trimmed.split(',').map((s) => s.trim());
    case 'object':
      return tryJson(trimmed);
    case 'union': {
      const n = Number(trimmed);
      return trimmed !== '' && Number.isFinite(n) ? n : value;
    }
    default:
      return value;
  }
}

function tryJson(s: string): Json {
  try {
    return JSON.parse(s) as Json;
  } catch {
    return s;
  }
}

function setPath(obj: JsonObject, path: readonly string[], value: Json): void {
  let node = obj;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as JsonObject;
  }
  node[path[path.length - 1] as string] = value;
}

function markSources(value: Json, path: string[], source: string, out: Record<string, string>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) markSources(v, [...path, k], source, out);
  } else if (path.length > 0) {
    out[path.join('.')] = source;
  }
}

export function formatIssues(issues: readonly z.core.$ZodIssue[], sources: Record<string, string> = {}): string {
  const parts = issues.map((issue) => {
    const path = issue.path.map(String);
    const field = path.join('.') || '(top level)';
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => (path.length ? `${field}.${k}` : k));
      return `unknown field${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`;
    }
    if (issue.code === 'invalid_type' && 'input' in issue) message += ` (got ${JSON.stringify(issue.input)})`;
    // Name the source of the nearest ancestor that was set explicitly.
    let origin: string | undefined;
    for (let i = path.length; i > 0 && !origin; i--) origin = sources[path.slice(0, i).join('.')];
    return `${field}: ${message}${origin ? ` (from ${origin})` : ''}`;
  });
  return `invalid configuration: ${parts.join('; ')}`;
}
