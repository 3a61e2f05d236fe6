import { Writable } from 'node:stream';
import { createLogger } from '@flowwatch/observability';
import { startTestApi, type TestApi, testAlert } from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Secrets never reach the logs (issue 8): the production logger (its redaction included), at its
 * most verbose, through a whole cycle of tokens and sessions, with failures on purpose, and with
 * configuration objects logged as a careless caller might.
 */

const lines: string[] = [];
const capture = new Writable({
  write(chunk, _enc, done) {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    done();
  },
});
const logger = createLogger({ level: 'trace', pretty: 'never' }, { service: 'api-test' }, capture);
let t: TestApi;

beforeAll(async () => {
  t = await startTestApi({ logger, config: { session: { secureCookie: false } } });
  await t.storeAlerts([testAlert()]);
});
afterAll(async () => t?.stop());

describe('secrets in logs', () => {
  it('no token, session id, CSRF token or password appears in any log line of a full cycle', async () => {
    const app = t.api.app();
    const admin = { authorization: `Bearer ${t.tokens.admin}`, 'content-type': 'application/json' };
    const made = await app.inject({ method: 'POST', url: '/api/v1/tokens', headers: admin, payload: { name: 'nia soc', role: 'analyst' } });
    expect(made.statusCode, made.body).toBe(201);
    const token = made.json().token as string;
    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { 'content-type': 'application/json', host: 'localhost' },
      payload: { token },
    });
    expect(login.statusCode, login.body).toBe(200);
    const cookie = String(login.headers['set-cookie']).split(';')[0] as string;
    const session = cookie.split('=')[1] as string;
    const csrf = login.json().csrf as string;
    expect(session.length).toBeGreaterThan(20);
    expect(csrf.length).toBeGreaterThan(20);
    const alert = (await app.inject({ url: '/api/v1/alerts', headers: { cookie } })).json().alerts[0].id as string;
    const comment = await app.inject({
      method: 'POST',
      url: `/api/v1/alerts/${alert}/comment`,
      headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
      payload: { text: 'looking' },
    });
    expect(comment.statusCode, comment.body).toBe(200);
    // Failures on purpose: a wrong CSRF token, a forged bearer token, a wrong log-in.
    await app.inject({ method: 'POST', url: `/api/v1/alerts/${alert}/ack`, headers: { cookie, 'x-csrf-token': `${csrf}x` } });
    await app.inject({ url: '/api/v1/alerts', headers: { authorization: `Bearer ${token.slice(0, -2)}zz` } });
    await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { 'content-type': 'application/json' },
      payload: { token: `${token}x` },
    });
    await app.inject({ method: 'DELETE', url: '/api/v1/session', headers: { cookie, 'x-csrf-token': csrf } });
    // A caller logging secrets by mistake: the logger's redaction catches the usual keys.
    logger.warn(
      { authorization: `Bearer ${token}`, password: 'hunter2', kafka: { sasl: { password: 'sasl-secret-pw' } }, token },
      'careless',
    );
    logger.child({ component: 'x' }).error({ clickhouse: { password: 'hunter2' } }, 'careless child');

    expect(lines.length).toBeGreaterThan(2);
    const text = lines.join('\n');
    // The secret part is everything after `fwt_<hex id>_`: base64url has '_' in its alphabet, so
    // split('_') cut it short, now and then to '' (which every text "includes": CI of 99cca81).
    const secretPart = token.replace(/^fwt_[0-9a-f]+_/, '');
    expect(secretPart.length).toBe(43);
    for (const secret of [token, secretPart, t.tokens.admin, session, csrf, 'hunter2', 'sasl-secret-pw']) {
      expect(text.includes(secret), `a log line holds ${secret.slice(0, 8)}...`).toBe(false);
    }
    expect(text).toContain('[redacted]');
  });
});
