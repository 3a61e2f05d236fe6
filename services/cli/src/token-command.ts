import { resolve } from 'node:path';
import { AuditLog, checkNewToken, ROLES, type Role, type TokenRecord, TokenStore } from '@flowwatch/api';
import { type ClickHouseHandle, clusterTargetOf, migrate, openClickHouse, schemaFor, soleWriter } from '@flowwatch/clickhouse';
import type { Config } from '@flowwatch/config';
import { errorSummary } from '@flowwatch/lifecycle';
import { createLogger } from '@flowwatch/observability';
import { lockHolder } from './query-command.js';

export interface TokenCommandIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export interface TokenOptions {
  role?: string | undefined;
  name?: string | undefined;
  supplier?: string | undefined;
  expires?: string | undefined;
}

/**
 * `flowwatch token create|list|revoke`: API tokens in ClickHouse `api_tokens` (hashed; the text
 * is printed once, by create). Works before the first start (it applies the schema) and against
 * a ClickHouse server at any time; an embedded data directory held by a running `flowwatch start`
 * cannot be opened (one process per chDB directory): stop it, or make tokens with
 * POST /api/v1/tokens as an admin. Every change is written to the audit log with actor `cli`.
 * Exit codes: 0 done, 1 ClickHouse failed or cannot be opened, 2 bad options.
 */
export async function runTokenCommand(
  sub: string | undefined,
  args: readonly string[],
  options: TokenOptions,
  config: Config,
  io: TokenCommandIo = { out: process.stdout, err: process.stderr },
): Promise<number> {
  const fail = (code: number, line: string) => {
    io.err.write(`flowwatch token${sub ? ` ${sub}` : ''}: ${line}\n`);
    return code;
  };
  let input: { name: string; role: Role; supplierId: string | undefined; expiresAt: number | undefined; createdBy: string } | undefined;
  if (sub === 'create') {
    if (args.length > 0) return fail(2, `unexpected ${args.join(' ')}`);
    if (!options.role || !options.name) return fail(2, `--role (${ROLES.join(', ')}) and --name are required`);
    const expiresAt = options.expires === undefined ? undefined : Date.parse(options.expires);
    if (expiresAt !== undefined && (Number.isNaN(expiresAt) || expiresAt <= Date.now())) {
      return fail(2, '--expires: an ISO-8601 time in the future (e.g. 2027-01-01T00:00:00Z)');
    }
    input = { name: options.name, role: options.role as Role, supplierId: options.supplier, expiresAt, createdBy: 'cli' };
    const problem = checkNewToken(
      input,
      config.registry.suppliers.map((s) => s.id),
    );
    if (problem) return fail(2, `--${problem}`);
  } else if (sub === 'revoke') {
    if (args.length !== 1 || !/^[0-9a-f]{16}$/.test(args[0] ?? ''))
      return fail(2, 'give the id of one token (16 hex digits, from token list)');
  } else if (sub === 'list') {
    if (args.length > 0) return fail(2, `unexpected ${args.join(' ')}`);
  } else {
    return fail(2, 'create --role ROLE --name NAME [--supplier ID] [--expires T], list, or revoke ID');
  }

  let handle: ClickHouseHandle;
  try {
    handle = await openClickHouse(config.clickhouse);
  } catch (err) {
    const path = resolve(config.clickhouse.path);
    const holder = config.clickhouse.url ? undefined : lockHolder(path);
    if (holder !== undefined) {
      return fail(
        1,
        `the embedded ClickHouse data directory ${path} is in use by process ${holder} (a running flowwatch start?): ` +
          'stop it first, or make the token with POST /api/v1/tokens as an admin',
      );
    }
    return fail(1, `cannot open ClickHouse: ${errorSummary(err)}`);
  }
  try {
    const cluster = clusterTargetOf(config.clickhouse);
    await migrate(
      handle.client,
      schemaFor(cluster),
      createLogger({ level: 'silent', pretty: 'never' }, { service: 'flowwatch' }),
      cluster,
      {
        writersStopped: soleWriter(handle),
      },
    );
    const tokens = new TokenStore(handle.client, { cacheMs: 0 });
    const audit = new AuditLog(handle.client);
    if (sub === 'create' && input) {
      const { token, record } = await tokens.create(input);
      await audit.record({
        actor: 'cli',
        action: 'token.create',
        targetKind: 'token',
        targetId: record.id,
        detail: { name: record.name, role: record.role, supplier: record.supplierId ?? '' },
      });
      io.out.write(`${JSON.stringify({ token, ...view(record) })}\n`);
      io.err.write('flowwatch token create: keep the token now; only its hash is stored and it cannot be shown again\n');
    } else if (sub === 'list') {
      for (const record of await tokens.list()) io.out.write(`${JSON.stringify(view(record))}\n`);
    } else if (sub === 'revoke') {
      const record = await tokens.revoke(args[0] as string, 'cli');
      if (!record) return fail(2, `no token ${args[0]}`);
      await audit.record({ actor: 'cli', action: 'token.revoke', targetKind: 'token', targetId: record.id });
      io.out.write(`${JSON.stringify(view(record))}\n`);
    }
    return 0;
  } catch (err) {
    return fail(1, `ClickHouse: ${errorSummary(err)}`);
  } finally {
    await handle.client.close();
  }
}

function view(t: TokenRecord) {
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    supplier: t.supplierId ?? null,
    created_at: iso(t.createdAt),
    created_by: t.createdBy,
    expires_at: iso(t.expiresAt),
    revoked_at: iso(t.revokedAt),
  };
}
