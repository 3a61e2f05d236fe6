import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, testKafka, uniqueName } from '@flowwatch/test-support';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(ROOT, 'services/cli/src/main.ts');
const NODE_ARGS = ['--conditions=flowwatch-src', '--import', 'tsx', MAIN];

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, JAVA_HOME: process.env.JAVA_HOME };
  if (process.env.CLICKHOUSE_URL) env.CLICKHOUSE_URL = process.env.CLICKHOUSE_URL;
  return { ...env, ...extra };
}

function run(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, env: cleanEnv(env), encoding: 'utf8', timeout: 30_000 });
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

/** `flowwatch start` with the collector on free ports, so tests never meet a running instance. */
async function startFlowwatch(env: Record<string, string>) {
  return startFlowwatchWith(['start'], {
    FLOWWATCH__COLLECTOR__NETFLOW_PORT: String(await freePort()),
    FLOWWATCH__COLLECTOR__IPFIX_PORT: String(await freePort()),
    FLOWWATCH__COLLECTOR__SFLOW_PORT: String(await freePort()),
    FLOWWATCH__COLLECTOR__PUSH__PORT: String(await freePort()),
    ...env,
  });
}

function startFlowwatchWith(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<{ code: number | null; at: number }>((res) => child.on('exit', (code) => res({ code, at: Date.now() })));
  return { child, exited, output: () => output };
}

async function waitReady(base: string, output: () => string, ms = 90_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`not ready within ${ms} ms:\n${output()}`);
}

function pidsMatching(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('flowwatch config', () => {
  it('stops a bad value with one line naming the field and the reason (exit 2)', () => {
    const r = run(['config', 'check'], { FLOWWATCH__HTTP__PORT: '70000' });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      'flowwatch: invalid configuration: http.port: Too big: expected number to be <=65535 (from FLOWWATCH__HTTP__PORT)',
    ]);
  });

  it('start refuses an unknown service before starting anything', () => {
    const r = run(['start', '--services', 'nonesuch'], {});
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^flowwatch: --services: nonesuch: not a service/);
  });

  it('dumps the effective config with secrets redacted', () => {
    const r = run(['config', 'dump'], {
      CLICKHOUSE_PASSWORD: 'hunter2',
      FLOWWATCH__KAFKA__SASL__MECHANISM: 'scram-sha-512',
      FLOWWATCH__KAFKA__SASL__USERNAME: 'flowwatch',
      FLOWWATCH__KAFKA__SASL__PASSWORD: 'sasl-secret-pw',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/hunter2|sasl-secret-pw/);
    expect(JSON.parse(r.stdout).kafka.sasl).toMatchObject({ username: 'flowwatch', password: '[redacted]' });
    expect(JSON.parse(r.stdout).clickhouse.password).toBe('[redacted]');
  });
});

describe('flowwatch start', () => {
  it('with an external broker: creates topics, serves health, readiness and metrics, stops on SIGTERM', async () => {
    const { kafka, brokers } = testKafka();
    const port = await freePort();
    const flows = uniqueName('flows');
    const fw = await startFlowwatch({
      KAFKA_BROKERS: brokers.join(','),
      FLOWWATCH__HTTP__PORT: String(port),
      FLOWWATCH__KAFKA__TOPICS__FLOWS__NAME: flows,
      FLOWWATCH__KAFKA__TOPICS__FLOWS_DLQ__NAME: `${flows}.dlq`,
      FLOWWATCH__KAFKA__TOPICS__ALERTS__NAME: `${flows}.alerts`,
      FLOWWATCH__CLICKHOUSE__PATH: mkdtempSync(join(tmpdir(), 'fw-cli-ch-')),
    });
    const base = `http://127.0.0.1:${port}`;
    await waitReady(base, fw.output);
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/flowwatch_platform_build_info\{.*kafka="external".*\} 1/);
    expect(metrics).toContain('flowwatch_process_resident_memory_bytes');

    const admin = kafka.admin();
    await admin.connect();
    const topics = await admin.listTopics();
    await admin.disconnect();
    expect(topics).toEqual(expect.arrayContaining([flows, `${flows}.dlq`, `${flows}.alerts`]));

    const t0 = Date.now();
    fw.child.kill('SIGTERM');
    const { code, at } = await fw.exited;
    expect(code).toBe(0);
    expect(at - t0).toBeLessThan(10_000);
    expect(fw.output()).toContain('stopped (SIGTERM)');
  });

  it('with its own local Kafka: SIGTERM stops everything within 10 s, and SIGKILL leaves no orphan broker', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'fw-cli-kafka-'));
    const env = async () => ({
      FLOWWATCH__HTTP__PORT: String(await freePort()),
      FLOWWATCH__KAFKA__LOCAL__PORT: String(await freePort()),
      FLOWWATCH__KAFKA__LOCAL__CONTROLLER_PORT: String(await freePort()),
      FLOWWATCH__KAFKA__LOCAL__DATA_DIR: dataDir,
      FLOWWATCH__KAFKA__LOCAL__RUNTIME: 'jvm',
      FLOWWATCH__CLICKHOUSE__PATH: join(dataDir, 'clickhouse'),
    });

    const e1 = await env();
    const fw = await startFlowwatch(e1);
    await waitReady(`http://127.0.0.1:${e1.FLOWWATCH__HTTP__PORT}`, fw.output);
    expect(pidsMatching(`kafka.logs.dir=${dataDir}`).length).toBeGreaterThan(0);
    const t0 = Date.now();
    fw.child.kill('SIGTERM');
    const { code, at } = await fw.exited;
    expect(code).toBe(0);
    expect(at - t0).toBeLessThan(10_000);
    expect(pidsMatching(`kafka.logs.dir=${dataDir}`)).toEqual([]);

    // Killed without a chance to clean up: the broker's watchdog sees its stdin close.
    const e2 = await env();
    const fw2 = await startFlowwatch(e2);
    await waitReady(`http://127.0.0.1:${e2.FLOWWATCH__HTTP__PORT}`, fw2.output);
    fw2.child.kill('SIGKILL');
    await fw2.exited;
    const end = Date.now() + 25_000;
    while (pidsMatching(`kafka.logs.dir=${dataDir}`).length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
    expect(pidsMatching(`kafka.logs.dir=${dataDir}`)).toEqual([]);
  }, 180_000);
});

describe('flowwatch start with the collector', () => {
  it('SIGHUP reloads the supplier registry without a restart, and keeps the running one when the new file is bad', async () => {
    const { brokers } = testKafka();
    const dir = mkdtempSync(join(tmpdir(), 'fw-cli-hup-'));
    const file = join(dir, 'flowwatch.yaml');
    const [http, netflow, ipfix, sflow, push] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const flows = uniqueName('flows');
    const config = (exporters: string) =>
      [
        `http: { port: ${http} }`,
        `kafka: { topics: { flows: { name: ${flows} }, flowsDlq: { name: ${flows}.dlq }, alerts: { name: ${flows}.alerts } } }`,
        `clickhouse: { path: ${join(dir, 'ch')} }`,
        `collector: { netflowPort: ${netflow}, ipfixPort: ${ipfix}, sflowPort: ${sflow}, push: { port: ${push} } }`,
        `registry: { suppliers: [ { id: supplier-a, name: A, exporters: [${exporters}] } ] }`,
        '',
      ].join('\n');
    writeFileSync(file, config('{ id: r1, address: 127.0.0.2 }'));
    const fw = startFlowwatchWith(['start', '--config', file], { KAFKA_BROKERS: brokers.join(',') });
    const base = `http://127.0.0.1:${http}`;
    await waitReady(base, fw.output);

    const nfv5 = readFileSync(new URL('../../../../shared/corpus/goflow2/netflowlegacy_TestDecodeNetFlowV5_data.bin', import.meta.url));
    const send = async () => {
      const socket = createSocket('udp4');
      await new Promise<void>((r) => socket.bind({ address: '127.0.0.7', port: 0 }, () => r()));
      await new Promise<void>((r) => socket.send(nfv5, netflow, '127.0.0.1', () => r()));
      socket.close();
      await new Promise((r) => setTimeout(r, 300));
    };
    const metric = async (re: RegExp) => Number(re.exec(await (await fetch(`${base}/metrics`)).text())?.[1] ?? 0);

    await send();
    expect(await metric(/^flowwatch_collector_unknown_source_datagrams_total (\d+)/m)).toBe(1);

    writeFileSync(file, config('{ id: r1, address: 127.0.0.2 }, { id: r7, address: 127.0.0.7 }'));
    fw.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 500));
    await send();
    expect(await metric(/^flowwatch_collector_records_total\{protocol="NETFLOW_V5",supplier="supplier-a"\} (\d+)/m)).toBe(6);

    writeFileSync(file, 'registry: { suppliers: [ { id: BAD } ] }\n');
    fw.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 500));
    await send();
    expect(await metric(/^flowwatch_collector_records_total\{protocol="NETFLOW_V5",supplier="supplier-a"\} (\d+)/m)).toBe(12);
    expect(fw.output()).toContain('configuration not reloaded');

    fw.child.kill('SIGTERM');
    expect((await fw.exited).code).toBe(0);
  });
});

describe('flowwatch start with the API', () => {
  it('token create before start; the dashboard, OpenAPI and API on the HTTP port; token commands refused while start holds embedded ClickHouse', async () => {
    const { brokers } = testKafka();
    const port = await freePort();
    const flows = uniqueName('flows');
    const env = {
      KAFKA_BROKERS: brokers.join(','),
      FLOWWATCH__HTTP__PORT: String(port),
      FLOWWATCH__KAFKA__TOPICS__FLOWS__NAME: flows,
      FLOWWATCH__KAFKA__TOPICS__FLOWS_DLQ__NAME: `${flows}.dlq`,
      FLOWWATCH__KAFKA__TOPICS__ALERTS__NAME: `${flows}.alerts`,
      FLOWWATCH__CLICKHOUSE__PATH: mkdtempSync(join(tmpdir(), 'fw-cli-api-')),
    };
    const bad = run(['token', 'create', '--role', 'root', '--name', 'x'], env);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^flowwatch token create: --role: one of viewer, analyst, admin, supplier/);
    const made = run(['token', 'create', '--role', 'admin', '--name', 'first admin'], env);
    expect(made.status, made.stderr).toBe(0);
    const { token, id, role } = JSON.parse(made.stdout);
    expect(role).toBe('admin');
    expect(token).toMatch(/^fwt_[0-9a-f]{16}_/);

    const fw = await startFlowwatch(env);
    const base = `http://127.0.0.1:${port}`;
    await waitReady(base, fw.output);
    expect(fw.output()).toContain(`dashboard and API on ${base}/`);
    const page = await fetch(`${base}/`);
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src 'self'/);
    expect([200, 503]).toContain(page.status); // 503 (with how to build it) if the dashboard was never built
    expect((await fetch(`${base}/api/openapi.json`)).status).toBe(200);
    expect((await fetch(`${base}/api/v1/alerts`)).status).toBe(401);
    const alerts = await fetch(`${base}/api/v1/alerts`, { headers: { authorization: `Bearer ${token}` } });
    expect(alerts.status).toBe(200);
    expect(((await alerts.json()) as { alerts: unknown[] }).alerts).toEqual([]);
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(
      /^flowwatch_api_requests_total\{method="GET",route="\/api\/v1\/alerts",status="2xx"\} 1$/m,
    );

    const busy = run(['token', 'list'], env);
    expect(busy.status).toBe(1);
    expect(busy.stderr).toMatch(/in use by process \d+ .*POST \/api\/v1\/tokens/);

    fw.child.kill('SIGTERM');
    expect((await fw.exited).code).toBe(0);
    const listed = run(['token', 'list'], env);
    expect(listed.status).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ id, name: 'first admin', role: 'admin', revoked_at: null });
    expect(run(['token', 'revoke', id], env).status).toBe(0);
    expect(JSON.parse(run(['token', 'list'], env).stdout).revoked_at).not.toBeNull();
  });
});
