import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ClickHouseClient } from '@flowwatch/clickhouse';
import { OldestFirst } from '@flowwatch/insertion-order';
import { dt64, msOf } from '../ch-time.js';
import { ROLES, type Role } from './roles.js';

/**
 * API tokens: `fwt_<id>_<secret>`, the id (16 hex digits) public, the secret 32 random bytes
 * (base64url). ClickHouse `api_tokens` keeps the id, name, role, supplier and the SHA-256 of the
 * secret, never the secret: whoever reads the table cannot use a token. A fast hash is enough
 * because the secret is 256 random bits, not a password (no dictionary to try, nothing to slow
 * down); it lets every request be checked without a key-derivation function's cost.
 * Changes are new versions of the row (ReplacingMergeTree(version)); revocation sets revoked_at.
 */
export const TOKEN_PATTERN = /^fwt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$/;

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  supplierId: string | undefined;
  createdAt: number;
  createdBy: string;
  expiresAt: number | undefined;
  revokedAt: number | undefined;
  revokedBy: string;
  version: number;
}

interface StoredToken extends TokenRecord {
  secretSha256: string;
}

export interface NewToken {
  name: string;
  role: Role;
  supplierId?: string | undefined;
  expiresAt?: number | undefined;
  createdBy: string;
}

export type TokenCheck = { ok: true; record: TokenRecord } | { ok: false; reason: 'malformed' | 'unknown' | 'revoked' | 'expired' };

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Makes a new token's text and the id it is stored under. */
export function generateToken(): { id: string; token: string; secretSha256: string } {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, token: `fwt_${id}_${secret}`, secretSha256: sha256(secret) };
}

/** A problem with a new token's fields, or undefined. */
export function checkNewToken(t: NewToken, suppliers: readonly string[]): string | undefined {
  if (!TOKEN_NAME_PATTERN.test(t.name)) return 'name: 1 to 64 letters, digits, spaces and . _ @ - (starting with a letter or digit)';
  // The detector's own entries in an alert's history carry the actor `detector`; an analyst's
  // token of that name would be taken for it (and its acknowledgements ignored by the detector).
  if (t.name.toLowerCase() === 'detector') return "name: 'detector' is reserved for the detector's own entries in alert histories";
  if (!ROLES.includes(t.role)) return `role: one of ${ROLES.join(', ')}`;
  if (t.role === 'supplier') {
    if (!t.supplierId) return 'supplier: a supplier token needs its supplier id';
    if (!suppliers.includes(t.supplierId)) return `supplier: no supplier ${t.supplierId} in the registry`;
  } else if (t.supplierId) return `supplier: only the supplier role names a supplier (not ${t.role})`;
  return undefined;
}

const SELECT = `SELECT id, name, role, supplier_id, secret_sha256,
  toUnixTimestamp64Milli(created_at) AS created_at_ms, created_by,
  toUnixTimestamp64Milli(expires_at) AS expires_at_ms, toUnixTimestamp64Milli(revoked_at) AS revoked_at_ms, revoked_by, version
FROM api_tokens FINAL`;

interface Row {
  id: string;
  name: string;
  role: string;
  supplier_id: string;
  secret_sha256: string;
  created_at_ms: string | number;
  created_by: string;
  expires_at_ms: string | number | null;
  revoked_at_ms: string | number | null;
  revoked_by: string;
  version: string | number;
}

function fromRow(r: Row): StoredToken {
  return {
    id: r.id,
    name: r.name,
    role: r.role as Role,
    supplierId: r.supplier_id || undefined,
    secretSha256: r.secret_sha256,
    createdAt: msOf(r.created_at_ms),
    createdBy: r.created_by,
    expiresAt: r.expires_at_ms === null ? undefined : msOf(r.expires_at_ms),
    revokedAt: r.revoked_at_ms === null ? undefined : msOf(r.revoked_at_ms),
    revokedBy: r.revoked_by,
    version: Number(r.version),
  };
}

function publicRecord(t: StoredToken): TokenRecord {
  const { secretSha256: _, ...rest } = t;
  return rest;
}

export class TokenStore {
  readonly #cache = new Map<string, { token: StoredToken | undefined; at: number }>();
  readonly #oldestCached = new OldestFirst(this.#cache);

  constructor(
    private readonly client: ClickHouseClient,
    private readonly options: { cacheMs: number; now?: () => number } = { cacheMs: 30_000 },
  ) {}

  #now(): number {
    return this.options.now?.() ?? Date.now();
  }

  async create(t: NewToken): Promise<{ token: string; record: TokenRecord }> {
    const { id, token, secretSha256 } = generateToken();
    const stored: StoredToken = {
      id,
      name: t.name,
      role: t.role,
      supplierId: t.supplierId || undefined,
      secretSha256,
      createdAt: this.#now(),
      createdBy: t.createdBy,
      expiresAt: t.expiresAt,
      revokedAt: undefined,
      revokedBy: '',
      version: 1,
    };
    await this.#write(stored);
    return { token, record: publicRecord(stored) };
  }

  /** Checks a presented token. Records are cached for `cacheMs` (unknown ids for at most 5 s). */
  async verify(presented: string): Promise<TokenCheck> {
    const m = TOKEN_PATTERN.exec(presented);
    if (!m) return { ok: false, reason: 'malformed' };
    const stored = await this.#lookup(m[1] as string);
    if (!stored) return { ok: false, reason: 'unknown' };
    const given = Buffer.from(sha256(m[2] as string), 'hex');
    const expected = Buffer.from(stored.secretSha256, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'unknown' };
    return this.#usable(stored);
  }

  /** Whether a token (by id) may still be used: sessions check theirs on every request. */
  async check(id: string): Promise<TokenCheck> {
    const stored = await this.#lookup(id);
    return stored ? this.#usable(stored) : { ok: false, reason: 'unknown' };
  }

  async list(): Promise<TokenRecord[]> {
    const rows = await (await this.client.query({ query: `${SELECT} ORDER BY created_at, id`, format: 'JSONEachRow' })).json<Row>();
    return rows.map((r) => publicRecord(fromRow(r)));
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    const t = await this.#read(id);
    return t && publicRecord(t);
  }

  /** Revokes a token; undefined when there is no such token. Revoking twice keeps the first time. */
  async revoke(id: string, by: string): Promise<TokenRecord | undefined> {
    const current = await this.#read(id);
    if (!current) return undefined;
    if (current.revokedAt !== undefined) return publicRecord(current);
    const next: StoredToken = { ...current, revokedAt: this.#now(), revokedBy: by, version: current.version + 1 };
    await this.#write(next);
    return publicRecord(next);
  }

  #usable(t: StoredToken): TokenCheck {
    if (t.revokedAt !== undefined) return { ok: false, reason: 'revoked' };
    if (t.expiresAt !== undefined && t.expiresAt <= this.#now()) return { ok: false, reason: 'expired' };
    return { ok: true, record: publicRecord(t) };
  }

  async #lookup(id: string): Promise<StoredToken | undefined> {
    const cached = this.#cache.get(id);
    const now = this.#now();
    if (cached) {
      const ttl = cached.token ? this.options.cacheMs : Math.min(this.options.cacheMs, 5000);
      if (now - cached.at < ttl) return cached.token;
    }
    const token = await this.#read(id);
    if (this.#cache.size >= 10_000) this.#oldestCached.shift();
    this.#cache.set(id, { token, at: now });
    return token;
  }

  async #read(id: string): Promise<StoredToken | undefined> {
    const rows = await (
      await this.client.query({ query: `${SELECT} WHERE id = {id:String}`, query_params: { id }, format: 'JSONEachRow' })
    ).json<Row>();
    return rows[0] && fromRow(rows[0]);
  }

  async #write(t: StoredToken): Promise<void> {
    await this.client.insert({
      table: 'api_tokens',
      format: 'JSONEachRow',
      values: [
        {
          id: t.id,
          name: t.name,
          role: t.role,
          supplier_id: t.supplierId ?? '',
          secret_sha256: t.secretSha256,
          created_at: dt64(t.createdAt),
          created_by: t.createdBy,
          expires_at: t.expiresAt === undefined ? null : dt64(t.expiresAt),
          revoked_at: t.revokedAt === undefined ? null : dt64(t.revokedAt),
          revoked_by: t.revokedBy,
          version: t.version,
        },
      ],
    });
    this.#cache.set(t.id, { token: t, at: this.#now() });
  }
}
