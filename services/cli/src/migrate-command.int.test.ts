import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openClickHouse } from '@flowwatch/clickhouse';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(ROOT, 'services/cli/src/main.ts');

function flowwatch(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, ['--conditions=flowwatch-src', '--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('flowwatch migrate (the deployment migration job)', () => {
  it('creates the schema and exits; a second run finds it applied', async () => {
    const path = mkdtempSync(join(tmpdir(), 'fw-migrate-'));
    const env = { FLOWWATCH__CLICKHOUSE__PATH: path, FLOWWATCH__STORAGE__RAW_TTL_DAYS: '3', FLOWWATCH__LOG__LEVEL: 'warn' };
    const first = flowwatch(['migrate'], env);
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ applied: [1, 2, 3], alreadyApplied: [], cluster: null });
    const second = flowwatch(['migrate'], env);
    expect(second.status, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual({ applied: [], alreadyApplied: [1, 2, 3], cluster: null });

    const ch = await openClickHouse({ username: 'default', password: '', database: 'flowwatch', path, requestTimeoutMs: 60_000 });
    try {
      const [row] = await (
        await ch.client.query({
          query: "SELECT create_table_query AS q FROM system.tables WHERE database = 'flowwatch' AND name = 'flows_raw'",
          format: 'JSONEachRow',
        })
      ).json<{ q: string }>();
      expect(row?.q).toContain('toIntervalDay(3)');
    } finally {
      await ch.client.close();
    }
  });

  it('refuses a cluster on the embedded engine (exit 2, naming the field)', () => {
    const r = flowwatch(['migrate'], { FLOWWATCH__CLICKHOUSE__CLUSTER: 'flowwatch' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/clickhouse\.cluster: a cluster needs url/);
  });
});
