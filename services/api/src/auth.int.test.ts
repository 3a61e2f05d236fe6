import { TokenStore } from '@flowwatch/api';
import { startTestApi, type TestApi, testAlert } from '@flowwatch/test-support';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from './auth/roles.js';

/**
 * Who may call what. This table is the specification the test holds the API to: every
 * (method, path) of the OpenAPI document must be in it, and every role gets exactly the answers
 * its row says (allowed roles are let through authentication and authorisation; the others get
 * 403), whatever the input.
 */
const ANY = ['viewer', 'analyst', 'admin', 'supplier'] as const satisfies Role[];
const CENTRE = ['viewer', 'analyst', 'admin'] as const satisfies Role[];
const ACT = ['analyst', 'admin'] as const satisfies Role[];
const ADMIN = ['admin'] as const satisfies Role[];
const ROUTES: { method: 'GET' | 'POST' | 'PUT' | 'DELETE'; path: string; allowed: readonly Role[] | 'public' }[] = [
  { method: 'POST', path: '/api/v1/session', allowed: 'public' },
  { method: 'GET', path: '/api/v1/session', allowed: ANY },
  { method: 'DELETE', path: '/api/v1/session', allowed: ANY },
  { method: 'GET', path: '/api/v1/alerts', allowed: ANY },
  { method: 'GET', path: '/api/v1/alerts/summary', allowed: ANY },
  { method: 'GET', path: '/api/v1/alerts/{id}', allowed: ANY },
  { method: 'POST', path: '/api/v1/alerts/{id}/ack', allowed: ACT },
  { method: 'POST', path: '/api/v1/alerts/{id}/resolve', allowed: ACT },
  { method: 'POST', path: '/api/v1/alerts/{id}/comment', allowed: ACT },
  { method: 'GET', path: '/api/v1/suppressions', allowed: CENTRE },
  { method: 'POST', path: '/api/v1/suppressions', allowed: ACT },
  { method: 'GET', path: '/api/v1/suppressions/{id}', allowed: CENTRE },
  { method: 'PUT', path: '/api/v1/suppressions/{id}', allowed: ACT },
  { method: 'DELETE', path: '/api/v1/suppressions/{id}', allowed: ACT },
  { method: 'GET', path: '/api/v1/traffic/series', allowed: ANY },
  { method: 'GET', path: '/api/v1/traffic/top', allowed: ANY },
  { method: 'GET', path: '/api/v1/traffic/matrix', allowed: ANY },
  { method: 'GET', path: '/api/v1/flows', allowed: ANY },
  { method: 'GET', path: '/api/v1/exporters', allowed: ANY },
  { method: 'GET', path: '/api/v1/audit', allowed: CENTRE },
  { method: 'GET', path: '/api/v1/tokens', allowed: ADMIN },
  { method: 'POST', path: '/api/v1/tokens', allowed: ADMIN },
  { method: 'DELETE', path: '/api/v1/tokens/{id}', allowed: ADMIN },
  { method: 'GET', path: '/api/v1/registry', allowed: ANY },
  { method: 'GET', path: '/api/v1/stream', allowed: ANY },
];

const url = (path: string) => path.replace('{id}', '0123456789abcdef');

let t: TestApi;
let app: FastifyInstance;
let tokenOf: Record<Role, string>;

beforeAll(async () => {
  // Low limits so the rate-limit tests are quick; the role tests use their own tokens' buckets.
  t = await startTestApi({ config: { rateLimit: { requestsPerSecond: 5, burst: 400, authFailuresPerMinute: 1000 } } });
  app = t.api.app();
  tokenOf = { viewer: t.tokens.viewer, analyst: t.tokens.analyst, admin: t.tokens.admin, supplier: t.tokens.supplierA };
});
afterAll(async () => t?.stop());

describe('the OpenAPI document', () => {
  it('is served without a token, validates against the OpenAPI 3.1 schema, and lists exactly the routes above', async () => {
    const r = await app.inject({ url: '/api/openapi.json' });
    expect(r.statusCode).toBe(200);
    const doc = r.json();
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(ROUTES.map((x) => `${x.method} ${x.path}`).sort());
    // Shared shapes are components, referenced rather than repeated.
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['Error', 'Alert', 'AlertSummary', 'Evidence', 'Flow', 'Suppression', 'AuditEntry', 'User']),
    );
    expect(doc.paths['/api/v1/alerts'].get.responses['401'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Error',
    });
    expect(r.body.length).toBeLessThan(100_000);
    // Every route documents its error answers with the one error body.
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)) {
      for (const [method, op] of Object.entries(ops)) {
        if (path !== '/api/v1/session' || method !== 'post') expect(Object.keys(op.responses), `${method} ${path}`).toContain('401');
      }
    }
  });
});

describe('every endpoint', () => {
  const guarded = ROUTES.filter((x) => x.allowed !== 'public');

  it.each(guarded)(
    '$method $path refuses a missing, malformed, unknown or wrongly formatted token with 401 and a JSON error',
    async ({ method, path }) => {
      const bad: (Record<string, string> | undefined)[] = [
        undefined,
        { authorization: 'Bearer' },
        { authorization: 'Basic dXNlcjpwYXNz' },
        { authorization: 'Bearer fwt_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
        { authorization: `Bearer ${t.tokens.admin.slice(0, -1)}x` },
        { cookie: '__Host-fw_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
      ];
      for (const headers of bad) {
        const r = await app.inject({ method, url: url(path), headers: headers ?? {} } as InjectOptions);
        expect(r.statusCode, JSON.stringify(headers)).toBe(401);
        expect(r.json()).toMatchObject({ error: 'unauthorized', message: expect.any(String) });
        expect(r.body).not.toMatch(/at .*\.ts:\d+/); // no stack trace
      }
    },
  );

  // The stream answers an allowed role with an endless response: its roles are tested in stream.int.test.ts.
  it.each(guarded.filter((x) => x.path !== '/api/v1/stream'))(
    '$method $path lets exactly its roles through ($allowed) and refuses the others with 403',
    async ({ method, path, allowed }) => {
      for (const role of ['viewer', 'analyst', 'admin', 'supplier'] as const) {
        const r = await app.inject({
          method,
          url: url(path),
          headers: { authorization: `Bearer ${tokenOf[role]}`, 'content-type': 'application/json' },
          payload: method === 'GET' || method === 'DELETE' ? undefined : '{}',
        });
        if ((allowed as readonly Role[]).includes(role)) {
          expect([401, 403], `${role} ${r.body}`).not.toContain(r.statusCode);
        } else {
          expect(r.statusCode, `${role} ${r.body}`).toBe(403);
          expect(r.json()).toMatchObject({ error: 'forbidden' });
        }
      }
    },
  );

  it('refuses revoked and expired tokens', async () => {
    const store = new TokenStore(t.clickhouse.client, { cacheMs: 0 });
    const revoked = await store.create({ name: 'gone', role: 'admin', createdBy: 'test' });
    await store.revoke(revoked.record.id, 'test');
    const expired = await store.create({ name: 'old', role: 'admin', createdBy: 'test', expiresAt: Date.now() + 300 });
    await new Promise((r) => setTimeout(r, 400));
    for (const [token, message] of [
      [revoked.token, 'token revoked'],
      [expired.token, 'token expired'],
    ] as const) {
      const r = await app.inject({ url: '/api/v1/alerts', headers: { authorization: `Bearer ${token}` } });
      expect(r.statusCode).toBe(401);
      expect(r.json()).toEqual({ error: 'unauthorized', message });
    }
  });
});

describe('malformed input', () => {
  const analyst = () => ({ authorization: `Bearer ${t.tokens.analyst}`, 'content-type': 'application/json' });
  const admin = () => ({ authorization: `Bearer ${t.tokens.admin}`, 'content-type': 'application/json' });
  const H = '&from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z';
  const cases: {
    name: string;
    method?: 'GET' | 'POST' | 'PUT';
    url: string;
    body?: string;
    headers?: () => Record<string, string>;
    field: string;
  }[] = [
    { name: 'alerts: limit not a number', url: '/api/v1/alerts?limit=abc', field: 'query.limit' },
    { name: 'alerts: limit too large', url: '/api/v1/alerts?limit=501', field: 'query.limit' },
    { name: 'alerts: unknown status', url: '/api/v1/alerts?status=open,sleeping', field: 'query.status[1]' },
    { name: 'alerts: unknown sort', url: '/api/v1/alerts?sort=colour', field: 'query.sort' },
    { name: 'alerts: bad time', url: '/api/v1/alerts?from=yesterday', field: 'query.from' },
    { name: 'alerts: to before from', url: '/api/v1/alerts?from=2026-11-21T00:00:00Z&to=2026-11-20T00:00:00Z', field: 'query.to' },
    { name: 'alerts: forged cursor', url: '/api/v1/alerts?cursor=bm90LWEtY3Vyc29y', field: 'query.cursor' },
    { name: 'alerts: unknown parameter', url: '/api/v1/alerts?colour=red', field: 'query' },
    { name: 'alert id too long', url: `/api/v1/alerts/${'x'.repeat(65)}`, field: 'params.id' },
    { name: 'comment: empty text', method: 'POST', url: '/api/v1/alerts/a1/comment', body: '{"text":"  "}', field: 'body.text' },
    { name: 'comment: no text', method: 'POST', url: '/api/v1/alerts/a1/comment', body: '{}', field: 'body.text' },
    { name: 'ack: unknown field', method: 'POST', url: '/api/v1/alerts/a1/ack', body: '{"comment":"x","force":true}', field: 'body' },
    { name: 'ack: body not JSON', method: 'POST', url: '/api/v1/alerts/a1/ack', body: '{"comment":', field: 'body' },
    {
      name: 'suppression: selects everything',
      method: 'POST',
      url: '/api/v1/suppressions',
      body: '{"reason":"noisy"}',
      field: 'body.entities',
    },
    {
      name: 'suppression: bad entity',
      method: 'POST',
      url: '/api/v1/suppressions',
      body: '{"reason":"noisy","entities":["RR8"]}',
      field: 'body.entities[0]',
    },
    {
      name: 'suppression: no reason',
      method: 'POST',
      url: '/api/v1/suppressions',
      body: '{"types":["port_scan"]}',
      field: 'body.reason',
    },
    {
      name: 'suppression: expiry in the past',
      method: 'POST',
      url: '/api/v1/suppressions',
      body: '{"types":["port_scan"],"reason":"x","expires_at":"2001-01-01T00:00:00Z"}',
      field: 'body.expires_at',
    },
    { name: 'series: no range', url: '/api/v1/traffic/series?by=supplier', field: 'query.from' },
    { name: 'series: unknown dimension', url: `/api/v1/traffic/series?by=colour${H}`, field: 'query.by' },
    { name: 'series: bad interval', url: `/api/v1/traffic/series?interval=7m${H}`, field: 'query.interval' },
    {
      name: 'series: too many buckets',
      url: '/api/v1/traffic/series?interval=1m&from=2026-11-01T00:00:00Z&to=2026-11-21T00:00:00Z',
      field: 'query.interval',
    },
    { name: 'top: unknown metric', url: `/api/v1/traffic/top?of=src_org&metric=joules${H}`, field: 'query.metric' },
    { name: 'top: limit beyond the cap', url: `/api/v1/traffic/top?of=src_org&limit=5000${H}`, field: 'query.limit' },
    { name: 'matrix: bad filter', url: `/api/v1/traffic/matrix?where=dst_port=70000${H}`, field: 'query.where[0]' },
    { name: 'flows: range too long', url: '/api/v1/flows?from=2026-01-01T00:00:00Z&to=2026-11-21T00:00:00Z', field: 'query.to' },
    { name: 'flows: bad address', url: `/api/v1/flows?where=src_addr=10.1.2.300${H}`, field: 'query.where[0]' },
    { name: 'audit: unknown action', url: '/api/v1/audit?action=alert.delete', field: 'query.action[0]' },
    {
      name: 'token: supplier role without a supplier',
      method: 'POST',
      url: '/api/v1/tokens',
      body: '{"name":"x","role":"supplier"}',
      headers: admin,
      field: 'body.supplier',
    },
    {
      name: 'token: unknown role',
      method: 'POST',
      url: '/api/v1/tokens',
      body: '{"name":"x","role":"root"}',
      headers: admin,
      field: 'body.role',
    },
  ];

  it.each(cases)('$name: 400 naming $field', async (c) => {
    const r = await app.inject({ method: c.method ?? 'GET', url: c.url, headers: (c.headers ?? analyst)(), payload: c.body });
    expect(r.statusCode, r.body).toBe(400);
    const body = r.json();
    expect(body).toMatchObject({ error: 'bad_request', field: c.field });
    expect(body.message).toContain(c.field === 'query' || c.field === 'body' ? '' : c.field);
  });

  it('answers a path parameter over 200 characters and a bad %-escape with a documented 400 (schemathesis found an undocumented 414)', async () => {
    const doc = (await app.inject({ url: '/api/openapi.json' })).json() as { paths: Record<string, Record<string, { responses: object }>> };
    for (const { method, path } of ROUTES.filter((x) => x.path.includes('{id}'))) {
      for (const id of ['x'.repeat(201), '%E0%A4%A']) {
        const r = await app.inject({ method, url: path.replace('{id}', id), headers: analyst() });
        expect(r.statusCode, `${method} ${path} ${id.slice(0, 10)}`).toBe(400);
        expect(r.json()).toMatchObject({ error: 'bad_request', field: 'params' });
        expect(Object.keys(doc.paths[path]?.[method.toLowerCase()]?.responses ?? {})).toContain('400');
      }
    }
  });

  it('answers 413 beyond the body limit, 415 for other content types, 404 with a JSON body for unknown routes', async () => {
    const big = JSON.stringify({ text: 'x'.repeat(70 * 1024) });
    let r = await app.inject({ method: 'POST', url: '/api/v1/alerts/a1/comment', headers: analyst(), payload: big });
    expect(r.statusCode).toBe(413);
    expect(r.json()).toMatchObject({ error: 'payload_too_large' });
    r = await app.inject({
      method: 'POST',
      url: '/api/v1/alerts/a1/comment',
      headers: { ...analyst(), 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expect(r.statusCode).toBe(415);
    expect(r.json()).toMatchObject({ error: 'unsupported_media_type' });
    r = await app.inject({ url: '/api/v1/nothing', headers: analyst() });
    expect(r.statusCode).toBe(404);
    expect(r.json()).toMatchObject({ error: 'not_found' });
  });
});

describe('dashboard sessions', () => {
  it('log in with a token: an HTTP-only, Secure, SameSite=Strict __Host- cookie and a CSRF token; changes need both; logout ends it', async () => {
    const alert = testAlert();
    await t.storeAlerts([alert]);
    const login = await app.inject({ method: 'POST', url: '/api/v1/session', payload: { token: t.tokens.analyst } });
    expect(login.statusCode).toBe(200);
    const setCookie = String(login.headers['set-cookie']);
    expect(setCookie).toMatch(/^__Host-fw_session=[A-Za-z0-9_-]{43};/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/Secure/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Path=\//);
    expect(setCookie).not.toMatch(/Domain/);
    const { csrf, user } = login.json();
    expect(user).toMatchObject({ name: 'anna analyst', role: 'analyst', supplier: null, via: 'session' });
    const cookie = setCookie.split(';')[0] as string;

    const me = await app.inject({ url: '/api/v1/session', headers: { cookie } });
    expect(me.json()).toMatchObject({ csrf, user: { role: 'analyst' } });
    expect((await app.inject({ url: '/api/v1/alerts', headers: { cookie } })).statusCode).toBe(200);

    const comment = (headers: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url: `/api/v1/alerts/${alert.id}/comment`,
        headers: { cookie, ...headers },
        payload: { text: 'looking' },
      });
    let r = await comment({});
    expect(r.statusCode).toBe(403);
    expect(r.json()).toMatchObject({ error: 'csrf' });
    r = await comment({ 'x-csrf-token': 'wrong' });
    expect(r.json()).toMatchObject({ error: 'csrf' });
    r = await comment({ 'x-csrf-token': csrf, origin: 'https://evil.example' });
    expect(r.json()).toMatchObject({ error: 'csrf' });
    r = await comment({ 'x-csrf-token': csrf, origin: 'http://localhost:80' });
    expect(r.statusCode).toBe(200);

    r = await app.inject({ method: 'DELETE', url: '/api/v1/session', headers: { cookie, 'x-csrf-token': csrf } });
    expect(r.statusCode).toBe(204);
    expect(String(r.headers['set-cookie'])).toMatch(/__Host-fw_session=;/);
    expect((await app.inject({ url: '/api/v1/alerts', headers: { cookie } })).statusCode).toBe(401);

    const audit = await app.inject({
      url: '/api/v1/audit?action=session.login,session.logout,alert.comment',
      headers: { authorization: `Bearer ${t.tokens.viewer}` },
    });
    expect(
      audit
        .json()
        .entries.map((e: { action: string; actor: string }) => `${e.action} ${e.actor}`)
        .sort(),
    ).toEqual(['alert.comment anna analyst', 'session.login anna analyst', 'session.logout anna analyst']);
  });

  it('refuses a wrong token at log-in (401, audited as a failure) and a log-in posted from another origin', async () => {
    let r = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      payload: { token: 'fwt_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    });
    expect(r.statusCode).toBe(401);
    expect(r.headers['set-cookie']).toBeUndefined();
    r = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { origin: 'https://evil.example' },
      payload: { token: t.tokens.analyst },
    });
    expect(r.statusCode).toBe(403);
    const audit = await app.inject({
      url: '/api/v1/audit?action=session.login_failed',
      headers: { authorization: `Bearer ${t.tokens.viewer}` },
    });
    expect(audit.json().entries[0]).toMatchObject({ action: 'session.login_failed', actor: '0123456789abcdef', outcome: 'failed' });
  });

  it('ends the sessions of a revoked token', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: { authorization: `Bearer ${t.tokens.admin}` },
      payload: { name: 'temp viewer', role: 'viewer' },
    });
    expect(created.statusCode).toBe(201);
    const { token, record } = created.json();
    const login = await app.inject({ method: 'POST', url: '/api/v1/session', payload: { token } });
    const cookie = String(login.headers['set-cookie']).split(';')[0] as string;
    expect((await app.inject({ url: '/api/v1/alerts', headers: { cookie } })).statusCode).toBe(200);
    const revoked = await app.inject({
      method: 'DELETE',
      url: `/api/v1/tokens/${record.id}`,
      headers: { authorization: `Bearer ${t.tokens.admin}` },
    });
    expect(revoked.json().record.revoked_by).toBe('ada admin');
    expect((await app.inject({ url: '/api/v1/alerts', headers: { cookie } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/v1/alerts', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(401);
  });
});

describe('hardening', () => {
  it('sends security headers and a strict Content-Security-Policy on API answers and the page', async () => {
    for (const path of ['/api/v1/alerts', '/', '/api/openapi.json']) {
      const r = await app.inject({ url: path, headers: { authorization: `Bearer ${t.tokens.viewer}` } });
      expect(r.headers['content-security-policy']).toBe(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
      );
      expect(r.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' });
    }
  });

  it('limits requests per token (429 with Retry-After) without touching other tokens', async () => {
    const store = new TokenStore(t.clickhouse.client, { cacheMs: 0 });
    const { token } = await store.create({ name: 'busy', role: 'viewer', createdBy: 'test' });
    const statuses: number[] = [];
    for (let i = 0; i < 420; i++)
      statuses.push((await app.inject({ url: '/api/v1/session', headers: { authorization: `Bearer ${token}` } })).statusCode);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(400);
    const limited = await app.inject({ url: '/api/v1/session', headers: { authorization: `Bearer ${token}` } });
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ error: 'rate_limited' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await app.inject({ url: '/api/v1/session', headers: { authorization: `Bearer ${t.tokens.viewer}` } })).statusCode).toBe(200);
  });

  it('slows down an address that keeps presenting bad tokens (429), even with a good token afterwards', async () => {
    const strict = await startTestApi({ clickhouse: t.clickhouse, config: { rateLimit: { authFailuresPerMinute: 5 } } });
    const a = strict.api.app();
    const bad = { authorization: 'Bearer fwt_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' };
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) codes.push((await a.inject({ url: '/api/v1/alerts', headers: bad })).statusCode);
    expect(codes).toEqual([401, 401, 401, 401, 401, 429, 429]);
    expect((await a.inject({ url: '/api/v1/alerts', headers: { authorization: `Bearer ${strict.tokens.viewer}` } })).statusCode).toBe(429);
    expect((await a.inject({ method: 'POST', url: '/api/v1/session', payload: { token: strict.tokens.viewer } })).statusCode).toBe(429);
    await strict.stop();
  });

  it('never sends internals: a failing query is a 500 with "internal error"', async () => {
    const broken = await startTestApi({ clickhouse: t.clickhouse });
    await t.clickhouse.client.command({ query: 'RENAME TABLE alert_events TO alert_events_away' });
    try {
      const alert = testAlert();
      await broken.storeAlerts([alert]);
      const r = await broken.api
        .app()
        .inject({ url: `/api/v1/alerts/${alert.id}`, headers: { authorization: `Bearer ${broken.tokens.viewer}` } });
      expect(r.statusCode).toBe(500);
      expect(r.json()).toEqual({ error: 'internal', message: 'internal error' });
    } finally {
      await t.clickhouse.client.command({ query: 'RENAME TABLE alert_events_away TO alert_events' });
      await broken.stop();
    }
  });
});
