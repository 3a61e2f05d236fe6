import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { enrichedFlowRows, startTestApi, type TestApi, testAlert } from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * schemathesis (from PyPI, pinned) against the API's own OpenAPI document, with an admin token, on
 * embedded ClickHouse with alerts and flows in it (issue 8, docs/reliability.md): no 5xx, every
 * answer matching its documented schema and status codes. Installed on first use into a virtualenv
 * under ~/.cache/flowwatch (Python 3 and its venv module are needed).
 */

const VERSION = '4.32.5';
const VENV = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'flowwatch', `schemathesis-${VERSION}`);
const BIN = join(VENV, 'bin', 'schemathesis');
const MAX_EXAMPLES = Number(process.env.FLOWWATCH_SCHEMATHESIS_EXAMPLES ?? 50);

function ensureSchemathesis(): void {
  if (existsSync(BIN)) return;
  mkdirSync(VENV, { recursive: true });
  for (const [cmd, args] of [
    ['python3', ['-m', 'venv', VENV]],
    [join(VENV, 'bin', 'pip'), ['install', '--quiet', `schemathesis==${VERSION}`]],
  ] as const) {
    const r = spawnSync(cmd, args, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
  }
}

let t: TestApi;

beforeAll(async () => {
  ensureSchemathesis();
  t = await startTestApi({
    listen: true,
    // schemathesis sends thousands of requests, many with bad tokens on purpose.
    config: { rateLimit: { requestsPerSecond: 100_000, burst: 100_000, authFailuresPerMinute: 100_000 } },
  });
  await t.storeAlerts([testAlert(), testAlert({ status: 'acknowledged', severity: 'critical' }), testAlert({ type: 'flood' })]);
  const now = Date.now();
  await t.clickhouse.client.insert({
    table: 'flows_raw',
    format: 'JSONEachRow',
    values: enrichedFlowRows(2000, now - 3 * 3_600_000, 3 * 3_600_000),
  });
}, 10 * 60_000);
afterAll(async () => t?.stop());

describe('schemathesis against /api/openapi.json', () => {
  it('finds no server error and no answer outside the documented schema and status codes', async () => {
    const url = `${t.api.url()}/api/openapi.json`;
    const junit = join(VENV, 'report.xml');
    const args = [
      'run',
      url,
      '--header',
      `Authorization: Bearer ${t.tokens.admin}`,
      '--checks',
      'not_a_server_error,response_schema_conformance,status_code_conformance',
      '--phases',
      'examples,coverage,fuzzing',
      '--max-examples',
      String(MAX_EXAMPLES),
      '--seed',
      '20261122',
      '--workers',
      '2',
      '--request-timeout',
      '30',
      // The live stream never ends by design (its roles and events are tested in services/api).
      '--exclude-path',
      '/api/v1/stream',
      // Revoking tokens: it learns ids from answers and revoked its own admin token halfway through
      // a run, which left the rest of it unauthenticated (revocation is tested in services/api).
      '--exclude-path-regex',
      '^/api/v1/tokens/',
      '--suppress-health-check',
      'all',
      '--report',
      'junit',
      '--report-junit-path',
      junit,
      ...(process.env.FLOWWATCH_SCHEMATHESIS_ARGS?.split(' ').filter(Boolean) ?? []),
    ];
    const t0 = Date.now();
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      // Its cache (.schemathesis/) goes beside it, not into the checkout.
      const child = spawn(BIN, args, { cwd: VENV, env: { ...process.env, NO_COLOR: '1', SCHEMATHESIS_TELEMETRY: 'false' } });
      let output = '';
      child.stdout.on('data', (d) => {
        output += String(d);
      });
      child.stderr.on('data', (d) => {
        output += String(d);
      });
      child.on('close', (c) => resolve({ code: c, output }));
    });
    console.log(
      `${output.replaceAll(t.tokens.admin, '<token>')}\nschemathesis ${VERSION}: exit ${code} in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
    // The run tested as an admin throughout: its token is still valid afterwards.
    const me = await t.api.app().inject({ url: '/api/v1/session', headers: { authorization: `Bearer ${t.tokens.admin}` } });
    const audit = await t.api.app().inject({ url: '/api/v1/audit?limit=1000', headers: { authorization: `Bearer ${t.tokens.viewer}` } });
    const actions = new Map<string, number>();
    for (const e of (audit.json().entries ?? []) as { action: string }[]) actions.set(e.action, (actions.get(e.action) ?? 0) + 1);
    console.log(`admin token after the run: ${me.statusCode}; audit log: ${JSON.stringify(Object.fromEntries(actions))}`);
    expect(me.statusCode, 'the run kept its token').toBe(200);
    const report = existsSync(junit) ? readFileSync(junit, 'utf8') : '';
    expect(report, 'schemathesis wrote its report').toContain('<testsuite');
    expect(code, 'schemathesis found failures (printed above)').toBe(0);
  });
});
