import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawRow } from '@flowwatch/aggregator';
import { migrate, openClickHouse, SCHEMA } from '@flowwatch/clickhouse';
import { enrichedFlowRows, freePort, rawRowTimeMs, silentLogger, testKafka, uniqueName } from '@flowwatch/test-support';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * The query commands run for real against an embedded ClickHouse data directory this file fills
 * (this process opens it, writes, and closes it again before any command runs: chDB lets one
 * process at a time open a directory).
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const NODE_ARGS = ['--conditions=flowwatch-src', '--import', 'tsx', join(ROOT, 'services/cli/src/main.ts')];
const DAY = 86_400_000;
const BASE = Math.floor(Date.now() / DAY) * DAY - DAY;
const FROM = new Date(BASE).toISOString();
const TO = new Date(BASE + DAY).toISOString();

const dir = mkdtempSync(join(tmpdir(), 'fw-cli-query-'));
const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  JAVA_HOME: process.env.JAVA_HOME,
  FLOWWATCH__CLICKHOUSE__PATH: join(dir, 'ch'),
  ...extra,
});

function flowwatch(args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, env: env(), encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let rows: RawRow[];
beforeAll(async () => {
  const ch = await openClickHouse({
    username: 'default',
    password: '',
    database: 'flowwatch',
    path: join(dir, 'ch'),
    requestTimeoutMs: 60_000,
  });
  await migrate(ch.client, SCHEMA, silentLogger);
  rows = enrichedFlowRows(1500, BASE, DAY, 11);
  await ch.client.insert({ table: 'flows_raw', values: rows, format: 'JSONEachRow' });
  await ch.client.close();
}, 120_000);

const sum = <T>(xs: readonly T[], f: (x: T) => number) => xs.reduce((a, x) => a + f(x), 0);
type Series = { key: string; kind: string; points: Record<string, number>[] };
const inNet = (prefix: string) => (r: RawRow) => r.src_addr.startsWith(prefix);

describe('flowwatch query commands on an embedded data directory', () => {
  it('traffic: one JSON document, from the coarsest table, with the sums of the rows', () => {
    const r = flowwatch(['traffic', '--from', FROM, '--to', TO, '--interval', '1h', '--by', 'src_org', '--top', '3']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(1);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ table: 'flows_1h', interval: '1h', by: 'src_org', rest: 'other' });
    const series: Series[] = doc.series;
    expect(series.map((s) => s.kind)).toEqual(['key', 'key', 'key', 'other']);
    expect(series[0]?.points).toHaveLength(24);
    expect(sum(series, (s) => sum(s.points, (p) => p.bytes ?? 0))).toBe(sum(rows, (x) => x.bytes));
    const byOrg = new Map<string, { bytes: number; bytes_est: number }>();
    for (const x of rows) {
      const o = byOrg.get(x.src_org) ?? { bytes: 0, bytes_est: 0 };
      byOrg.set(x.src_org, { bytes: o.bytes + x.bytes, bytes_est: o.bytes_est + x.bytes_est });
    }
    const top3 = [...byOrg].sort((a, b) => b[1].bytes - a[1].bytes || (a[0] < b[0] ? -1 : 1)).slice(0, 3);
    expect(series.slice(0, 3).map((s) => [s.key, sum(s.points, (p) => p.bytes_est ?? 0)])).toEqual(top3.map(([k, v]) => [k, v.bytes_est]));
  });

  it('traffic filtered on an address prefix is answered from flows_raw', () => {
    const r = flowwatch(['traffic', '--from', FROM, '--to', TO, '--interval', '6h', '--where', 'src_addr=10.4.0.0/16']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.table).toBe('flows_raw');
    expect(doc.series).toHaveLength(1);
    expect(sum((doc.series as Series[])[0]?.points ?? [], (p) => p.flows ?? 0)).toBe(rows.filter(inNet('10.4.')).length);
  });

  it('top and matrix print one JSON document each', () => {
    const top = flowwatch([
      'top',
      '--from',
      FROM,
      '--to',
      TO,
      '--of',
      'service',
      '--metric',
      'flows',
      '--limit',
      '2',
      '--where',
      'dst_port=443',
    ]);
    expect(top.code).toBe(0);
    const services = new Map<string, number>();
    for (const x of rows.filter((x) => x.dst_port === 443)) services.set(x.service, (services.get(x.service) ?? 0) + 1);
    const expected = [...services].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 2);
    expect(JSON.parse(top.stdout).rows.map((x: { key: { service: string }; flows: number }) => [x.key.service, x.flows])).toEqual(expected);

    const matrix = flowwatch(['matrix', '--from', FROM, '--to', TO, '--level', 'supplier']);
    expect(matrix.code).toBe(0);
    const doc = JSON.parse(matrix.stdout);
    expect(doc).toMatchObject({ table: 'flows_1h', level: 'supplier', truncated: false });
    expect(sum(doc.cells as { packets: number }[], (c) => c.packets)).toBe(sum(rows, (x) => x.packets));
  });

  it('flows: NDJSON newest first, addresses as written, a summary on stderr', () => {
    const r = flowwatch(['flows', '--from', FROM, '--to', TO, '--where', 'src_addr=10.3.0.0/16', '--limit', '5']);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    const expected = rows
      .filter(inNet('10.3.'))
      .sort(
        (a, b) =>
          rawRowTimeMs(b.time_received) - rawRowTimeMs(a.time_received) ||
          a.kafka_partition - b.kafka_partition ||
          Number(b.kafka_offset) - Number(a.kafka_offset),
      )
      .slice(0, 5);
    expect(lines.map((f) => [f.time_received, f.src_addr, f.dst_addr, f.kafka_offset])).toEqual(
      expected.map((x) => [new Date(rawRowTimeMs(x.time_received)).toISOString(), x.src_addr, x.dst_addr, x.kafka_offset]),
    );
    expect(r.stderr).toBe('flowwatch flows: 5 flows from flows_raw, newest first; more match: narrow the range or raise --limit (now 5)\n');
  });

  it.each([
    [['traffic', '--from', FROM], 'flowwatch traffic: --from and --to are required (ISO-8601, e.g. 2026-11-21T10:00:00Z)'],
    [['traffic', '--from', TO, '--to', FROM], 'flowwatch traffic: --to: must be after from'],
    [['traffic', '--from', FROM, '--to', TO, '--interval', '7m'], expect.stringMatching(/^flowwatch traffic: --interval: '7m': use Nm/)],
    [
      ['flows', '--from', FROM, '--to', TO, '--where', 'src_addr=banana'],
      expect.stringMatching(/^flowwatch flows: --where: src_addr=banana: not an IPv4/),
    ],
    [['flows', '--from', FROM, '--to', TO, '--by', 'src_org'], 'flowwatch flows: --by does not apply to flows'],
    [
      ['top', '--from', FROM, '--to', TO, '--of', 'src_addr', '--table', 'flows_1h'],
      'flowwatch top: table flows_1h cannot answer this: src_addr is not in the rollups',
    ],
  ])('%j: exit 2 and one line', (args, line) => {
    const r = flowwatch(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([line]);
  });

  it('while flowwatch start holds the data directory: exit 1 naming the process and CLICKHOUSE_URL; works again once it stops', async () => {
    const { brokers } = testKafka();
    const http = await freePort();
    const topic = uniqueName('flows');
    const start = spawn(process.execPath, [...NODE_ARGS, 'start', '--services', ''], {
      cwd: ROOT,
      env: env({
        KAFKA_BROKERS: brokers.join(','),
        FLOWWATCH__HTTP__PORT: String(http),
        FLOWWATCH__KAFKA__TOPICS__FLOWS__NAME: topic,
        FLOWWATCH__KAFKA__TOPICS__FLOWS_DLQ__NAME: `${topic}.dlq`,
        FLOWWATCH__KAFKA__TOPICS__ALERTS__NAME: `${topic}.alerts`,
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    start.stdout?.on('data', (d) => (output += d));
    start.stderr?.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((res) => start.on('exit', (code) => res(code)));
    try {
      const end = Date.now() + 90_000;
      for (;;) {
        const ready = await fetch(`http://127.0.0.1:${http}/readyz`).then(
          (res) => res.status === 200,
          () => false,
        );
        if (ready) break;
        if (Date.now() > end || start.exitCode !== null) throw new Error(`flowwatch start not ready:\n${output}`);
        await new Promise((r) => setTimeout(r, 250));
      }

      const held = flowwatch(['traffic', '--from', FROM, '--to', TO]);
      expect(held.code).toBe(1);
      expect(held.stdout).toBe('');
      const ours = held.stderr
        .trimEnd()
        .split('\n')
        .filter((l) => l.startsWith('flowwatch'));
      expect(ours).toEqual([
        `flowwatch traffic: the embedded ClickHouse data directory ${join(dir, 'ch')} is in use by process ${start.pid} (a running flowwatch start?), and chDB lets one process open it at a time: query through a ClickHouse server (CLICKHOUSE_URL) or stop that process first`,
      ]);
      // chDB's own line, printed by its native code before ours.
      expect(held.stderr).toContain('Cannot lock file');
    } finally {
      start.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    // The running instance was not disturbed, and the directory is free again.
    expect(output).toContain('stopped (SIGTERM)');
    const after = flowwatch(['top', '--from', FROM, '--to', TO, '--of', 'src_org', '--limit', '1']);
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout).totals.flows).toBe(rows.length);
  }, 180_000);
});
