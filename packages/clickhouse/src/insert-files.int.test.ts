import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { INSERT_FILES_DIR, insertNative, openClickHouse } from './client.js';
import { NativeColumn } from './native.js';

const path = mkdtempSync(join(tmpdir(), 'fw-insert-files-'));
afterAll(() => rmSync(path, { recursive: true, force: true }));

// The embedded engine only: a server receives an insert's body over HTTP.
describe.skipIf(Boolean(process.env.CLICKHOUSE_URL))('embedded binary inserts', () => {
  it('pass through files in the data directory, clear what a killed process left there, and remove them on close', async () => {
    const files = join(path, INSERT_FILES_DIR);
    mkdirSync(files, { recursive: true });
    // What an aggregator killed inside an insert leaves behind.
    writeFileSync(join(files, '4242-17.native'), Buffer.alloc(1024));
    const ch = await openClickHouse({ path, database: 'fw_insert_files', username: 'default', password: '', requestTimeoutMs: 30_000 });
    try {
      await ch.client.command({ query: 'CREATE TABLE t (n UInt32, s String) ENGINE = MergeTree ORDER BY n' });
      const n = new NativeColumn('n', 'UInt32');
      const s = new NativeColumn('s', 'String');
      for (let i = 0; i < 100; i++) {
        n.number(i);
        s.text(`row ${i}`);
      }
      await insertNative(ch.client, { table: 't', columns: [n, s] });
      const rows = await (await ch.client.query({ query: 'SELECT count() AS c, sum(n) AS s FROM t', format: 'JSONEachRow' })).json<{
        c: string;
        s: string;
      }>();
      expect(rows.map((r) => [Number(r.c), Number(r.s)])).toEqual([[100, 4950]]);
      // The leftover is gone, and the insert's own file was removed once it landed.
      expect(readdirSync(files)).toEqual([]);
    } finally {
      await ch.client.close();
    }
    expect(existsSync(files)).toBe(false);
  });
});
