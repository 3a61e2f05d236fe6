import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, testKafka, uniqueName } from '@flowwatch/test-support';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * An alert on a metric nobody exports never fires. This starts a real flowwatch with every
 * pipeline service the rules watch (collector, aggregator, detector, api: the test's broker,
 * its own topics and groups, embedded ClickHouse), scrapes /metrics and requires every metric the
 * Kubernetes alert rules name to be there (registered metrics appear with # TYPE before any sample).
 */

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RULES = readFileSync(join(ROOT, 'deploy/k8s/prometheus/flowwatch-rules.yml'), 'utf8');

/** Metrics named in the rules' expressions (flowwatch_*; `up` is Prometheus's own). */
function metricsInRules(rules: string): string[] {
  const exprs = [...rules.matchAll(/expr: (\|\n(?:\s{10,}.*\n)+|.*)/g)].map((m) => m[1] as string);
  return [...new Set(exprs.flatMap((e) => [...e.matchAll(/\b(flowwatch_[a-z0-9_]+)\b/g)].map((m) => m[1] as string)))].sort();
}

/** Metric names a /metrics page declares (# TYPE), with a histogram's series names. */
function exportedMetrics(page: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of page.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name as string);
    if (type === 'histogram' || type === 'summary') for (const s of ['_bucket', '_sum', '_count']) names.add(`${name}${s}`);
  }
  return names;
}

let child: ChildProcess | undefined;
afterAll(() => {
  if (child?.exitCode === null) child.kill('SIGKILL');
});

describe('the alert rules of deploy/k8s', () => {
  it('name metrics that flowwatch exports (a live /metrics of collector, aggregator, detector and api)', async () => {
    const names = metricsInRules(RULES);
    expect(names.length).toBeGreaterThan(10);

    const { brokers } = testKafka();
    const port = await freePort();
    const topic = uniqueName('k8s-metrics');
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      KAFKA_BROKERS: brokers.join(','),
      FLOWWATCH__HTTP__PORT: String(port),
      FLOWWATCH__LOG__LEVEL: 'warn',
      FLOWWATCH__CLICKHOUSE__PATH: mkdtempSync(join(tmpdir(), 'fw-k8s-metrics-')),
      FLOWWATCH__KAFKA__TOPICS__FLOWS__NAME: topic,
      FLOWWATCH__KAFKA__TOPICS__FLOWS_DLQ__NAME: `${topic}.dlq`,
      FLOWWATCH__KAFKA__TOPICS__ALERTS__NAME: `${topic}.alerts`,
      FLOWWATCH__KAFKA__TOPICS__DETECTOR_STATE__NAME: `${topic}.state`,
      FLOWWATCH__AGGREGATOR__GROUP_ID: `${topic}-aggregator`,
      FLOWWATCH__DETECTOR__GROUP_ID: `${topic}-detector`,
      FLOWWATCH__API__STREAM__GROUP_ID_PREFIX: `${topic}-api`,
      FLOWWATCH__COLLECTOR__NETFLOW_PORT: String(await freePort()),
      FLOWWATCH__COLLECTOR__IPFIX_PORT: String(await freePort()),
      FLOWWATCH__COLLECTOR__SFLOW_PORT: String(await freePort()),
      FLOWWATCH__COLLECTOR__PUSH__PORT: String(await freePort()),
    };
    const args = ['--conditions=flowwatch-src', '--import', 'tsx', join(ROOT, 'services/cli/src/main.ts')];
    child = spawn(process.execPath, [...args, 'start', '--services', 'collector,aggregator,detector,api'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (d) => (output += d));
    child.stderr?.on('data', (d) => (output += d));

    const base = `http://127.0.0.1:${port}`;
    const end = Date.now() + 90_000;
    for (;;) {
      const status = await fetch(`${base}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      if (Date.now() > end || child.exitCode !== null) throw new Error(`flowwatch did not become ready:\n${output}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const exported = exportedMetrics(await (await fetch(`${base}/metrics`)).text());
    const missing = names.filter((n) => !exported.has(n));
    expect(missing, `named in deploy/k8s/prometheus/flowwatch-rules.yml but not on /metrics: ${missing.join(', ')}`).toEqual([]);

    child.kill('SIGTERM');
    await new Promise((r) => child?.once('exit', r));
  }, 150_000);

  it('the check catches a misspelt metric', () => {
    const page = '# HELP flowwatch_collector_records_total x\n# TYPE flowwatch_collector_records_total counter\n';
    const names = metricsInRules('      - alert: A\n        expr: rate(flowwatch_collector_record_total[5m]) > 0\n');
    expect(names).toEqual(['flowwatch_collector_record_total']);
    expect(names.filter((n) => !exportedMetrics(page).has(n))).toEqual(['flowwatch_collector_record_total']);
  });
});
