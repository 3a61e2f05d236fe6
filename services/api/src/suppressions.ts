import { randomBytes } from 'node:crypto';
import type { ClickHouseClient, SuppressionRow } from '@flowwatch/clickhouse';
import { z } from 'zod';
import { ALERT_TYPES } from './alerts/alert-record.js';
import { dt64, iso, msOf } from './ch-time.js';
import { select } from './sql.js';

/**
 * Alert suppressions made by analysts: ClickHouse `suppressions` (migration 3), a
 * ReplacingMergeTree(version) keyed by id. The selector is the detector's (config
 * `detector.suppressions`): an alert is suppressed when it matches every non-empty list
 * (types, entities as kind:id, organisations, groups, suppliers). Deleting writes a version
 * with `deleted = 1`; a suppression is active while not deleted and before `expires_at`.
 * The detector reads the active ones with:
 *
 *   SELECT * FROM suppressions FINAL WHERE deleted = 0 AND (expires_at IS NULL OR expires_at > now64(3))
 */
const code = z.string().min(1).max(64);

export const suppressionInputSchema = z
  .strictObject({
    types: z.array(z.enum(ALERT_TYPES)).max(ALERT_TYPES.length).default([]).describe('Alert types (empty: all)'),
    entities: z
      .array(z.string().regex(/^[a-z_]{1,32}:.{1,256}$/, 'kind:id, e.g. organisation:RR8 or host:10.1.2.3'))
      .max(100)
      .default([])
      .describe('Entities as kind:id (empty: all)'),
    organisations: z.array(code).max(500).default([]).describe('Organisation codes involved (empty: all)'),
    groups: z.array(code).max(100).default([]).describe('Groups whose organisations are involved (empty: all)'),
    suppliers: z.array(code).max(50).default([]).describe('Suppliers named by the alert (empty: all)'),
    reason: z.string().trim().min(1, 'say why').max(500).describe('Why: shown to analysts'),
    alert_id: z.string().max(64).optional().describe('The alert it was made from, if any'),
    expires_at: z.iso.datetime({ offset: true }).nullable().optional().describe('When it stops applying; null or absent: never'),
  })
  .refine((s) => s.types.length + s.entities.length + s.organisations.length + s.groups.length + s.suppliers.length > 0, {
    message: 'a suppression must name at least one type, entity, organisation, group or supplier (an empty one would hide every alert)',
    path: ['entities'],
  });
export type SuppressionInput = z.output<typeof suppressionInputSchema>;

export const suppressionSchema = z
  .object({
    id: z.string(),
    types: z.array(z.string()),
    entities: z.array(z.string()),
    organisations: z.array(z.string()),
    groups: z.array(z.string()),
    suppliers: z.array(z.string()),
    reason: z.string(),
    alert_id: z.string().optional(),
    created_by: z.string(),
    created_at: z.iso.datetime(),
    expires_at: z.iso.datetime().nullable(),
    updated_by: z.string(),
    updated_at: z.iso.datetime(),
    active: z.boolean().describe('Not deleted and not expired'),
    version: z.number().int(),
  })
  .meta({ id: 'Suppression' });
export type Suppression = z.infer<typeof suppressionSchema>;

type Row = SuppressionRow;

const SELECT = `SELECT id, types, entities, organisations, groups, suppliers, reason, alert_id, created_by,
  toUnixTimestamp64Milli(created_at) AS created_at, toUnixTimestamp64Milli(expires_at) AS expires_at, deleted, updated_by,
  toUnixTimestamp64Milli(updated_at) AS updated_at, version
FROM suppressions FINAL`;

export class SuppressionStore {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly now: () => number = Date.now,
  ) {}

  #toApi(r: Row): Suppression {
    const expires = r.expires_at === null ? null : msOf(r.expires_at);
    const out: Suppression = {
      id: r.id,
      types: r.types,
      entities: r.entities,
      organisations: r.organisations,
      groups: r.groups,
      suppliers: r.suppliers,
      reason: r.reason,
      created_by: r.created_by,
      created_at: iso(msOf(r.created_at)),
      expires_at: expires === null ? null : iso(expires),
      updated_by: r.updated_by,
      updated_at: iso(msOf(r.updated_at)),
      active: Number(r.deleted) === 0 && (expires === null || expires > this.now()),
      version: Number(r.version),
    };
    if (r.alert_id) out.alert_id = r.alert_id;
    return out;
  }

  /** Not deleted ones, newest first; expired ones too when asked. */
  async list(includeExpired: boolean): Promise<Suppression[]> {
    const rows = await select<Row>(this.client, `${SELECT} WHERE deleted = 0 ORDER BY created_at DESC, id LIMIT 10000`);
    return rows.map((r) => this.#toApi(r)).filter((s) => includeExpired || s.active);
  }

  async #row(id: string): Promise<Row | undefined> {
    const rows = await select<Row>(this.client, `${SELECT} WHERE id = {id:String}`, { id });
    return rows[0] && Number(rows[0].deleted) === 0 ? rows[0] : undefined;
  }

  async get(id: string): Promise<Suppression | undefined> {
    const r = await this.#row(id);
    return r && this.#toApi(r);
  }

  async create(input: SuppressionInput, actor: string): Promise<Suppression> {
    const now = this.now();
    const row: Row = {
      id: `sup_${randomBytes(8).toString('hex')}`,
      ...this.#selector(input),
      created_by: actor,
      created_at: now,
      deleted: 0,
      updated_by: actor,
      updated_at: now,
      version: 1,
    };
    await this.#write(row);
    return this.#toApi(row);
  }

  async update(id: string, input: SuppressionInput, actor: string): Promise<Suppression | undefined> {
    const current = await this.#row(id);
    if (!current) return undefined;
    const row: Row = {
      ...current,
      ...this.#selector(input),
      updated_by: actor,
      updated_at: this.now(),
      version: Number(current.version) + 1,
    };
    await this.#write(row);
    return this.#toApi(row);
  }

  async delete(id: string, actor: string): Promise<Suppression | undefined> {
    const current = await this.#row(id);
    if (!current) return undefined;
    const row: Row = { ...current, deleted: 1, updated_by: actor, updated_at: this.now(), version: Number(current.version) + 1 };
    await this.#write(row);
    return this.#toApi(row);
  }

  #selector(input: SuppressionInput) {
    return {
      types: input.types,
      entities: input.entities,
      organisations: input.organisations,
      groups: input.groups,
      suppliers: input.suppliers,
      reason: input.reason,
      alert_id: input.alert_id ?? '',
      expires_at: input.expires_at ? Date.parse(input.expires_at) : null,
    };
  }

  async #write(r: Row): Promise<void> {
    await this.client.insert({
      table: 'suppressions',
      format: 'JSONEachRow',
      values: [
        {
          ...r,
          created_at: dt64(msOf(r.created_at)),
          expires_at: r.expires_at === null ? null : dt64(msOf(r.expires_at)),
          updated_at: dt64(msOf(r.updated_at)),
        },
      ],
    });
  }
}
