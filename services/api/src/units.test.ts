import { parseWhere } from '@flowwatch/query';
import { describe, expect, it } from 'vitest';
import {
  ALERTS_SCHEMA,
  type AlertRow,
  alertMessageSchema,
  inputToRow,
  inputToSummary,
  parseEvidence,
  rowToAlert,
} from './alerts/alert-record.js';
import { parseQueryString } from './app.js';
import { can, PERMISSIONS, type ROLES } from './auth/roles.js';
import { csrfMatches, SessionStore } from './auth/sessions.js';
import { checkNewToken, generateToken, TOKEN_PATTERN } from './auth/tokens.js';
import { RateLimiter } from './rate-limit.js';
import { decodeCursor, encodeCursor } from './routes/alert-routes.js';
import { overBudget, scopeFilters } from './routes/traffic-routes.js';

describe('query strings', () => {
  it('makes list parameters arrays (repeated or comma-separated), keeps others scalar, ignores __proto__', () => {
    const q = parseQueryString('status=open,acknowledged&status=resolved&where=a=1&where=b=2,3&limit=5&__proto__=x&sort=a&sort=b');
    expect({ ...q }).toEqual({ status: ['open', 'acknowledged', 'resolved'], where: ['a=1', 'b=2,3'], limit: '5', sort: ['a', 'b'] });
    expect(Object.getPrototypeOf(q)).toBeNull();
    expect({ ...parseQueryString('where=x') }).toEqual({ where: ['x'] });
  });
});

describe('tokens', () => {
  it('look like fwt_<16 hex>_<43 base64url> and are checked for their role and supplier', () => {
    const t = generateToken();
    expect(t.token).toMatch(TOKEN_PATTERN);
    expect(t.secretSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(t.token).not.toContain(t.secretSha256);
    const s = ['sup-a'];
    expect(checkNewToken({ name: 'a', role: 'viewer', createdBy: 'x' }, s)).toBeUndefined();
    expect(checkNewToken({ name: 'a', role: 'supplier', supplierId: 'sup-a', createdBy: 'x' }, s)).toBeUndefined();
    expect(checkNewToken({ name: 'a', role: 'supplier', supplierId: 'sup-z', createdBy: 'x' }, s)).toMatch(/^supplier: no supplier sup-z/);
    expect(checkNewToken({ name: 'a', role: 'analyst', supplierId: 'sup-a', createdBy: 'x' }, s)).toMatch(
      /^supplier: only the supplier role/,
    );
    expect(checkNewToken({ name: '', role: 'viewer', createdBy: 'x' }, s)).toMatch(/^name:/);
    expect(checkNewToken({ name: 'Detector', role: 'analyst', createdBy: 'x' }, s)).toMatch(/^name: 'detector' is reserved/);
  });
});

describe('roles', () => {
  it('give suppliers reading only, analysts alert work, admins everything', () => {
    const p = (role: (typeof ROLES)[number]) => ({ tokenId: 't', name: 'n', role, supplierId: undefined, via: 'token' as const });
    expect(Object.keys(PERMISSIONS).filter((k) => can(p('supplier'), k as keyof typeof PERMISSIONS))).toEqual(['read']);
    expect(Object.keys(PERMISSIONS).filter((k) => can(p('viewer'), k as keyof typeof PERMISSIONS))).toEqual([
      'read',
      'suppressions:read',
      'audit:read',
    ]);
    expect(Object.keys(PERMISSIONS).filter((k) => !can(p('analyst'), k as keyof typeof PERMISSIONS))).toEqual(['tokens:manage']);
    expect(Object.keys(PERMISSIONS).every((k) => can(p('admin'), k as keyof typeof PERMISSIONS))).toBe(true);
  });
});

describe('sessions', () => {
  it('end after the idle time-out and the maximum age, drop the oldest beyond the cap, and end with their token', () => {
    let now = 0;
    const store = new SessionStore({ idleTimeoutMs: 100, maxAgeMs: 250, maxSessions: 2, now: () => now });
    const a = store.create('tok-a');
    expect(store.get(a.id)?.tokenId).toBe('tok-a');
    now = 90;
    expect(store.get(a.id)).toBeDefined();
    now = 180;
    expect(store.get(a.id)).toBeDefined(); // touched at 90
    now = 240;
    expect(store.get(a.id)).toBeDefined();
    now = 260;
    expect(store.get(a.id)).toBeUndefined(); // older than maxAge
    const b = store.create('tok-b');
    now = 400;
    expect(store.get(b.id)).toBeUndefined(); // idle
    const c = store.create('tok-c');
    const d = store.create('tok-d');
    const e = store.create('tok-c');
    expect(store.get(c.id)).toBeUndefined(); // dropped: the oldest beyond maxSessions
    expect(store.get(d.id)).toBeDefined();
    expect(store.deleteForToken('tok-c')).toBe(1);
    expect(store.get(e.id)).toBeUndefined();
    expect(csrfMatches(d.session, d.session.csrf)).toBe(true);
    expect(csrfMatches(d.session, `${d.session.csrf}x`)).toBe(false);
    expect(csrfMatches(d.session, undefined)).toBe(false);
    expect(store.get('not-a-session')).toBeUndefined();
  });
});

describe('rate limiter', () => {
  it('allows a burst, then the sustained rate, per key, and caps the keys it holds', () => {
    let now = 0;
    const r = new RateLimiter(2, 3, { maxKeys: 2, now: () => now });
    expect([1, 2, 3, 4].map(() => r.take('a').ok)).toEqual([true, true, true, false]);
    expect(r.take('a')).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(r.take('b').ok).toBe(true);
    now = 500;
    expect(r.take('a').ok).toBe(true);
    expect(r.peek('a').ok).toBe(false);
    r.take('c'); // evicts the least recently used: b
    r.take('a');
    expect([1, 2, 3].map(() => r.take('b').ok)).toEqual([true, true, true]); // b starts again full
  });
});

describe('alert cursor', () => {
  it('round-trips and belongs to one sort order', () => {
    const c = encodeCursor('severity', 'desc', 3, 'al_1');
    expect(decodeCursor(c, 'severity', 'desc')).toEqual({ key: 3, id: 'al_1' });
    expect(() => decodeCursor(c, 'score', 'desc')).toThrow(/another sort order/);
    expect(() => decodeCursor('!!', 'score', 'desc')).toThrow(/not a cursor/);
    expect(() => decodeCursor(Buffer.from('[1,2]').toString('base64url'), 'score', 'desc')).toThrow(/not a cursor/);
  });
});

describe('supplier scope on traffic questions', () => {
  const where = (terms: string[]) => {
    const r = parseWhere(terms);
    if (!r.ok) throw new Error(r.message);
    return r.filters;
  };
  it('adds supplier_id = scope, keeps the other filters, refuses other suppliers', () => {
    expect(scopeFilters({ where: where(['proto=tcp']) }, undefined).where).toEqual(where(['proto=tcp']));
    expect(scopeFilters({ where: where(['proto=tcp']) }, 'sup-a').where).toEqual([
      ...where(['proto=tcp']),
      ...where(['supplier_id=sup-a']),
    ]);
    expect(scopeFilters({ where: where(['supplier=sup-a']) }, 'sup-a').where).toEqual(where(['supplier_id=sup-a']));
    expect(() => scopeFilters({ where: where(['supplier_id=sup-a', 'supplier_id=sup-b']) }, 'sup-a')).toThrow(
      /only the flows of supplier sup-a/,
    );
  });
});

describe('the alert mapping', () => {
  const alert = {
    id: 'al_1',
    fingerprint: 'flood|organisation:RR8',
    type: 'flood' as const,
    severity: 'high' as const,
    status: 'open' as const,
    entity: { kind: 'organisation', id: 'RR8', name: 'Organisation RR8' },
    supplier_ids: ['sup-a'],
    dst_org: 'RR8',
    first_seen: '2026-11-21T10:00:00Z',
    last_seen: '2026-11-21T10:05:00.250Z',
    detected_at: '2026-11-21T10:05:01Z',
    observed: 1e9,
    expected: 1e6,
    score: 14.2,
    summary: 'Flood towards RR8',
    evidence: { top_flows: [], top_sources: [{ addr: '203.0.113.9', org: '', flows: 10, bytes: 1e6, packets: 1000 }], details: { pps: 5 } },
    version: 4,
  };

  it('reads a detector message, stores it and reads it back unchanged (absent optional fields stay absent)', () => {
    const msg = alertMessageSchema.parse({
      schema: ALERTS_SCHEMA,
      event: 'updated',
      alert: { ...alert, extra_field_from_a_newer_detector: 1 },
    });
    const row = inputToRow(msg.alert, Date.parse('2026-11-21T10:05:02Z'));
    expect(row).toMatchObject({ src_org: '', dst_org: 'RR8', dst_port: 0, first_seen: '2026-11-21 10:00:00.000', version: 4 });
    const back = rowToAlert({
      ...(row as unknown as AlertRow),
      first_seen_ms: Date.parse(alert.first_seen),
      last_seen_ms: Date.parse(alert.last_seen),
      detected_at_ms: Date.parse(alert.detected_at),
      updated_at_ms: Date.parse('2026-11-21T10:05:02Z'),
    });
    expect(back).toEqual({
      ...alert,
      first_seen: '2026-11-21T10:00:00.000Z',
      last_seen: '2026-11-21T10:05:00.250Z',
      detected_at: '2026-11-21T10:05:01.000Z',
      updated_at: '2026-11-21T10:05:02.000Z',
    });
    expect(inputToSummary(msg.alert, 0)).not.toHaveProperty('evidence');
  });

  it('shows unreadable evidence as empty, never as an error', () => {
    expect(parseEvidence('{not json')).toEqual({ top_flows: [], top_sources: [], details: {} });
    expect(parseEvidence('{"top_flows": 3}')).toEqual({ top_flows: [], top_sources: [], details: {} });
    expect(parseEvidence('')).toEqual({ top_flows: [], top_sources: [], details: {} });
  });
});

describe('query budgets', () => {
  const b = { maxSeconds: 15, maxRowsRead: 1_000_000_000, maxMemoryBytes: 2 ** 31 };
  it("turns ClickHouse's over-limit errors (HTTP code or the embedded engine's message) into 422 query_budget, nothing else", () => {
    const http = Object.assign(new Error('Timeout exceeded: elapsed 15.2 seconds, maximum: 15'), { code: '159' });
    expect(overBudget(http, 'supplier', b)).toMatchObject({
      code: 'query_budget',
      message: expect.stringMatching(/longer than 15 s, the supplier role's limit/),
    });
    const embedded = new Error(
      'Code: 158. DB::Exception: Limit for rows (controlled by max_rows_to_read setting) exceeded. (TOO_MANY_ROWS)',
    );
    expect(overBudget(embedded, 'viewer', b)?.message).toMatch(
      /reads more than 1,000,000,000 rows, the viewer role's limit \(api\.queryBudgets\.viewer\)/,
    );
    expect(overBudget(new Error('Code: 241. DB::Exception: Memory limit (for query) exceeded'), 'admin', b)?.message).toMatch(
      /more memory/,
    );
    expect(overBudget(new Error('Code: 210. DB::NetException: Connection refused'), 'admin', b)).toBeUndefined();
    expect(overBudget('not an error', 'admin', b)).toBeUndefined();
  });
});
