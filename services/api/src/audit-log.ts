import { randomBytes } from 'node:crypto';
import type { ClickHouseClient } from '@flowwatch/clickhouse';
import { z } from 'zod';
import type { Principal } from './auth/roles.js';
import { dt64, iso, msOf } from './ch-time.js';
import { Params, select } from './sql.js';

/**
 * Who changed what, when: ClickHouse `audit_log` (migration 3), append-only, kept without a TTL.
 * Every state change made through the API is recorded after it succeeded (logins, failed logins,
 * logouts, alert acknowledgements, resolutions and comments, suppressions, tokens); so is a token
 * made with `flowwatch token create` (actor `cli`). Reads (queries, pages) are not: they are
 * counted in metrics.
 */
export const AUDIT_ACTIONS = [
  'session.login',
  'session.login_failed',
  'session.logout',
  'alert.acknowledge',
  'alert.resolve',
  'alert.comment',
  'suppression.create',
  'suppression.update',
  'suppression.delete',
  'token.create',
  'token.revoke',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditInput {
  principal?: Principal | undefined;
  /** When there is no principal (a failed login, the CLI): who it was, as far as known. */
  actor?: string;
  action: AuditAction;
  targetKind: 'alert' | 'suppression' | 'token' | 'session';
  targetId: string;
  outcome?: 'ok' | 'failed';
  detail?: Record<string, unknown>;
  clientAddr?: string;
}

export const auditEntrySchema = z
  .object({
    at: z.iso.datetime(),
    id: z.string(),
    actor: z.string().describe('Name of the token (or session) that acted'),
    actor_token_id: z.string(),
    role: z.string(),
    supplier_id: z.string(),
    action: z.enum(AUDIT_ACTIONS),
    target_kind: z.string(),
    target_id: z.string(),
    outcome: z.enum(['ok', 'failed']),
    detail: z.record(z.string(), z.unknown()),
    client_addr: z.string(),
  })
  .meta({ id: 'AuditEntry' });
export type AuditEntry = z.infer<typeof auditEntrySchema>;

export interface AuditQuery {
  from?: Date | undefined;
  to?: Date | undefined;
  action?: AuditAction[] | undefined;
  actor?: string | undefined;
  targetId?: string | undefined;
  limit: number;
  /** Entries strictly older than this position (the previous page's last). */
  before?: { at: number; id: string } | undefined;
}

interface Row {
  at_ms: string | number;
  id: string;
  actor: string;
  actor_token_id: string;
  role: string;
  supplier_id: string;
  action: string;
  target_kind: string;
  target_id: string;
  outcome: string;
  detail: string;
  client_addr: string;
}

export class AuditLog {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly now: () => number = Date.now,
  ) {}

  async record(e: AuditInput): Promise<void> {
    await this.client.insert({
      table: 'audit_log',
      format: 'JSONEachRow',
      values: [
        {
          at: dt64(this.now()),
          id: randomBytes(8).toString('hex'),
          actor: e.principal?.name ?? e.actor ?? '',
          actor_token_id: e.principal?.tokenId ?? '',
          role: e.principal?.role ?? '',
          supplier_id: e.principal?.supplierId ?? '',
          action: e.action,
          target_kind: e.targetKind,
          target_id: e.targetId,
          outcome: e.outcome ?? 'ok',
          detail: JSON.stringify(e.detail ?? {}),
          client_addr: e.clientAddr ?? '',
        },
      ],
    });
  }

  /** Newest first. */
  async list(q: AuditQuery): Promise<{ entries: AuditEntry[]; next: { at: number; id: string } | undefined }> {
    const p = new Params();
    const w: string[] = [];
    if (q.from) w.push(`at >= fromUnixTimestamp64Milli(${p.add('Int64', q.from.getTime())}, 'UTC')`);
    if (q.to) w.push(`at < fromUnixTimestamp64Milli(${p.add('Int64', q.to.getTime())}, 'UTC')`);
    if (q.action?.length) w.push(`action IN ${p.add('Array(String)', q.action)}`);
    if (q.actor) w.push(`actor = ${p.add('String', q.actor)}`);
    if (q.targetId) w.push(`target_id = ${p.add('String', q.targetId)}`);
    if (q.before) {
      w.push(`(at, id) < (fromUnixTimestamp64Milli(${p.add('Int64', q.before.at)}, 'UTC'), ${p.add('String', q.before.id)})`);
    }
    const rows = await select<Row>(
      this.client,
      `SELECT toUnixTimestamp64Milli(at) AS at_ms, id, actor, actor_token_id, role, supplier_id, action, target_kind, target_id,
         outcome, detail, client_addr
       FROM audit_log ${w.length ? `WHERE ${w.join(' AND ')}` : ''}
       ORDER BY at DESC, id DESC LIMIT ${p.add('UInt32', q.limit + 1)}`,
      p,
    );
    const more = rows.length > q.limit;
    const shown = more ? rows.slice(0, q.limit) : rows;
    const last = shown.at(-1);
    return {
      entries: shown.map((r) => ({
        at: iso(msOf(r.at_ms)),
        id: r.id,
        actor: r.actor,
        actor_token_id: r.actor_token_id,
        role: r.role,
        supplier_id: r.supplier_id,
        action: r.action as AuditAction,
        target_kind: r.target_kind,
        target_id: r.target_id,
        outcome: r.outcome === 'failed' ? 'failed' : 'ok',
        detail: parseDetail(r.detail),
        client_addr: r.client_addr,
      })),
      next: more && last ? { at: msOf(last.at_ms), id: last.id } : undefined,
    };
  }
}

function parseDetail(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
