import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@flowwatch/config';
import { freePort, testKafka, uniqueName } from '@flowwatch/test-support';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const NODE_ARGS = ['--conditions=flowwatch-src', '--import', 'tsx', join(ROOT, 'services/cli/src/main.ts')];
const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  JAVA_HOME: process.env.JAVA_HOME,
  FLOWWATCH__LOG__PRETTY: 'never',
  ...(process.env.CLICKHOUSE_URL ? { CLICKHOUSE_URL: process.env.CLICKHOUSE_URL } : {}),
  ...extra,
});
const run = (args: string[], extra: Record<string, string> = {}, timeout = 60_000) =>
  spawnSync(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, env: env(extra), encoding: 'utf8', timeout });

const dir = mkdtempSync(join(tmpdir(), 'fw-cli-sim-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

describe('flowwatch simulate registry', () => {
  it('prints a configuration fragment that loads as a registry, with the push tokens as comments', () => {
    const r = run(['simulate', 'registry', '--seed', '7']);
    expect(r.status).toBe(0);
    const file = join(dir, 'registry.yaml');
    writeFileSync(file, r.stdout);
    const loaded = loadConfig({ file, env: {} });
    expect(loaded.ok ? '' : loaded.error).toBe('');
    if (!loaded.ok) return;
    expect(loaded.config.registry.suppliers).toHaveLength(8);
    expect(loaded.config.registry.organisations).toHaveLength(300);
    expect(r.stdout).toMatch(/^# {3}kestrel: fwsim_/m);
    const json = run(['simulate', 'registry', '--seed', '7', '--format', 'json']);
    expect(JSON.parse(json.stdout).registry).toEqual(loaded.config.registry);
  });

  it('refuses an unknown scenario, a stray --at and a bad value before sending anything (exit 2)', () => {
    const unknown = run(['simulate', '--scenario', 'nope']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown scenario nope \(known: worm-smb, ddos, /);
    expect(run(['simulate', '--at', '+1m']).stderr).toMatch(/--at without a --scenario/);
    const bad = run(['simulate', '--speed', 'fast']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/simulator\.speed/);
  });
});

describe('flowwatch start --demo, and simulate next to it', () => {
  it('shows traffic from every supplier at once, runs the demo scenario with its label, and takes injected scenarios', async () => {
    const { brokers } = testKafka();
    const [http, netflow, ipfix, sflow, push] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const flows = uniqueName('flows');
    const labels = join(dir, 'demo-labels.jsonl');
    const config = join(dir, 'demo.yaml');
    writeFileSync(
      config,
      [
        `http: { port: ${http} }`,
        `kafka: { topics: { flows: { name: ${flows} }, flowsDlq: { name: ${flows}.dlq }, alerts: { name: ${flows}.alerts }, detectorState: { name: ${flows}.state } } }`,
        // Groups of this test's own: other tests' pipelines share the broker.
        `aggregator: { groupId: ${flows}-aggregators }`,
        `detector: { groupId: ${flows}-detectors }`,
        `clickhouse: { path: ${join(dir, 'ch')} }`,
        `collector: { netflowPort: ${netflow}, ipfixPort: ${ipfix}, sflowPort: ${sflow}, push: { port: ${push} } }`,
        `simulator: { seed: 3, labelsFile: ${labels}, demoScenarios: [{ name: port-scan, at: +3s, duration: 12s, params: { rate: 20 } }] }`,
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [...NODE_ARGS, 'start', '--demo', '--config', config], {
      cwd: ROOT,
      env: env({ KAFKA_BROKERS: brokers.join(',') }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout?.on('data', (d) => (output += d));
    child.stderr?.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const base = `http://127.0.0.1:${http}`;
    const metrics = async () => (await fetch(`${base}/metrics`)).text();
    const until = async (what: string, ok: () => Promise<boolean>, ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        try {
          if (await ok()) return;
        } catch {
          // not up yet
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      throw new Error(`${what} not within ${ms} ms:\n${output.slice(-3000)}`);
    };

    await until('ready', async () => (await fetch(`${base}/readyz`)).status === 200, 90_000);
    const suppliers = ['northgate', 'albion', 'pennine', 'severn', 'kestrel', 'meridian', 'harbour', 'thames'];
    const seen = async () =>
      new Set([...(await metrics()).matchAll(/^flowwatch_collector_records_total\{[^}]*supplier="([^"]+)"\} [1-9]/gm)].map((m) => m[1]));
    await until('records from every supplier', async () => (await seen()).size === 8, 30_000);
    expect([...(await seen())].sort()).toEqual([...suppliers].sort());
    const text = await metrics();
    expect(text).toMatch(/^flowwatch_collector_unknown_source_datagrams_total 0$/m);
    expect(text).not.toMatch(/^flowwatch_collector_rejected_total/m);

    await until('the demo label', async () => existsSync(labels) && readFileSync(labels, 'utf8').includes('"port-scan-1"'), 30_000);
    const label = JSON.parse(readFileSync(labels, 'utf8').trim().split('\n')[0] as string);
    expect(label).toMatchObject({ scenario: 'port-scan', type: 'port_scan', truncated: false, entity: { kind: 'host' } });
    await until('flows stored', async () => /^flowwatch_aggregator_rows_written_total [1-9]/m.test(await metrics()), 30_000);

    // The demo prints a login token; with it the API (what the dashboard reads) shows the detector's
    // alert for the demo's port scan, on the scanned host.
    const token = /log in with the token (fwt_\S+)/.exec(output)?.[1];
    expect(token, output.slice(-2000)).toBeDefined();
    const portScans = async () => {
      const r = await fetch(`${base}/api/v1/alerts?type=port_scan`, { headers: { authorization: `Bearer ${token}` } });
      return r.status === 200 ? ((await r.json()) as { alerts: { entity: { id: string } }[] }).alerts : [];
    };
    await until('the port scan alert in the API', async () => (await portScans()).length > 0, 30_000);
    expect((await portScans()).map((a) => a.entity.id)).toContain(label.entity.id);

    // A second simulator injects a scenario into the running demo: same seed, same exporters.
    const injected = join(dir, 'injected.jsonl');
    const simMetrics = await freePort();
    const sim = spawn(
      process.execPath,
      [
        ...NODE_ARGS,
        ...['simulate', '--config', config, '--scenarios-only', '--scenario', 'blocklist:duration=20s,interval=5', '--at', '+2s'],
        ...['--speed', '10', '--duration', '40s', '--labels', injected],
      ],
      { cwd: ROOT, env: env({ FLOWWATCH__SIMULATOR__METRICS_PORT: String(simMetrics) }), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(sim);
    let simOut = '';
    let simErr = '';
    sim.stdout?.on('data', (d) => (simOut += d));
    sim.stderr?.on('data', (d) => (simErr += d));
    const simExited = new Promise<number | null>((r) => sim.on('exit', (code) => r(code)));
    // Its own metrics while it runs (simulator.metricsPort).
    await until(
      "the injecting simulator's metrics",
      async () =>
        /^flowwatch_simulator_records_total\{[^}]*\} [1-9]/m.test(await (await fetch(`http://127.0.0.1:${simMetrics}/metrics`)).text()),
      20_000,
    );
    expect(await simExited, simErr).toBe(0);
    const summary = JSON.parse(simOut.trim());
    expect(summary).toMatchObject({ stopped: 'done', labels: 1 });
    expect(summary.records).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(injected, 'utf8'))).toMatchObject({ type: 'blocklist', scenario: 'blocklist' });
    await new Promise((r) => setTimeout(r, 1000));
    expect(await metrics()).toMatch(/^flowwatch_collector_unknown_source_datagrams_total 0$/m);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 240_000);
});
