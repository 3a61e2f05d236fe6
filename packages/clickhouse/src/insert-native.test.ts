import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import { insertNative } from './client.js';
import { encodeNativeBlock, NativeColumn } from './native.js';

describe('insertNative over HTTP (a ClickHouse server, CLICKHOUSE_URL)', () => {
  it('sends the statement in the URL and the Native block, byte for byte, as the body', async () => {
    const seen: { query: string | null; settings: string | null; body: Buffer }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://x');
        seen.push({
          query: url.searchParams.get('query'),
          settings: url.searchParams.get('insert_deduplication_token'),
          body: Buffer.concat(chunks),
        });
        res.writeHead(200, { 'X-ClickHouse-Summary': '{"written_rows":"2"}' });
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = createClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    try {
      const n = new NativeColumn('n', 'UInt64');
      const ip = new NativeColumn('src_addr', 'IPv6');
      n.decimal('18446744073709551615');
      n.number(1);
      ip.address('10.0.0.1');
      ip.address('2001:db8::1');
      await insertNative(client, { table: 'flows_raw', columns: [n, ip], clickhouse_settings: { insert_deduplication_token: 't:1:2-3' } });
      expect(seen).toHaveLength(1);
      expect(seen[0]?.query).toBe('INSERT INTO `flows_raw` (`n`, `src_addr`) FORMAT Native');
      expect(seen[0]?.settings).toBe('t:1:2-3');
      expect(seen[0]?.body.equals(Buffer.from(encodeNativeBlock([n, ip])))).toBe(true);
    } finally {
      await client.close();
      server.close();
    }
  });
});
