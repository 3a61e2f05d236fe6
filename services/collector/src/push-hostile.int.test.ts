import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { type CollectorConfig, configSchema, type RegistryConfig } from '@flowwatch/config';
import { encodeNetflowV5 } from '@flowwatch/decoders';
import { ensureTopics } from '@flowwatch/kafka';
import { createRegistry } from '@flowwatch/observability';
import { silentLogger, testKafka, uniqueName } from '@flowwatch/test-support';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Collector, createCollector } from './collector.js';
import { hashToken } from './exporter-registry.js';

/**
 * Hostile input at the collector's door (issue 8): spoofed exporters, a supplier pushing for another,
 * replayed pushes, deeply nested JSON, slow-loris clients. Each is refused with its status, counted,
 * and logged at most once per source and interval; no secret reaches the log.
 */

const TOKEN_A = 'push-secret-token-of-supplier-a-0123456789';
const TOKEN_B = 'push-secret-token-of-supplier-b-9876543210';
const registryConfig: RegistryConfig = configSchema.shape.registry.parse({
  suppliers: [
    { id: 'supplier-a', name: 'A', exporters: [{ id: 'router-1', address: '127.0.0.2' }], pushTokens: [hashToken(TOKEN_A)] },
    { id: 'supplier-b', name: 'B', exporters: [{ id: 'router-2', address: '127.0.0.3' }], pushTokens: [hashToken(TOKEN_B)] },
  ],
});
const HEADERS_MS = 600;
const REQUEST_MS = 1500;
const defaults = configSchema.parse({
  collector: { push: { bodyLimitBytes: 1024 * 1024, timeouts: { headersMs: HEADERS_MS, requestMs: REQUEST_MS, idleMs: 10_000 } } },
}).collector;
// Port 0 (any free port) is for tests only: the schema asks for a real one.
const config: CollectorConfig = { ...defaults, netflowPort: 0, ipfixPort: 0, sflowPort: 0, push: { ...defaults.push, port: 0 } };

const { kafka } = testKafka();
const topics = { flows: uniqueName('hostile-flows'), dlq: uniqueName('hostile-flows.dlq') };
const metrics = createRegistry();
const logLines: Record<string, unknown>[] = [];
const logger = pino(
  { level: 'info' },
  new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  }),
);
let collector: Collector;
let pushUrl: string;

beforeAll(async () => {
  await ensureTopics(
    kafka,
    [topics.flows, topics.dlq].map((name) => ({
      name,
      partitions: 1,
      replicationFactor: 1,
      retentionMs: 3_600_000,
      cleanupPolicy: 'delete',
    })),
    silentLogger,
  );
  const producerOptions = configSchema.parse({}).kafka.producer;
  collector = createCollector({ logger, registry: metrics, kafka, producerOptions, topics, readiness: [] }, config, registryConfig);
  await collector.start();
  pushUrl = `http://127.0.0.1:${collector.ports().push}/api/v1/flows`;
});
afterAll(async () => {
  await collector?.stop();
});

const push = (token: string, body: string) =>
  fetch(pushUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
const record = (i: number, extra: Record<string, unknown> = {}) => ({
  src_addr: `10.9.0.${i}`,
  dst_addr: '10.8.0.1',
  proto: 6,
  bytes: 100 + i,
  packets: 1,
  ...extra,
});
const metric = async (pattern: RegExp) => Number(pattern.exec(await metrics.metrics())?.[1] ?? 0);
const warnings = (msg: string) => logLines.filter((l) => l.msg === msg);

describe('hostile input at the collector', () => {
  it('drops datagrams of spoofed exporters, counts each, and logs once per source per interval', async () => {
    const v5 = Buffer.from(encodeNetflowV5({ sysUptimeMs: 1, unixSecs: 1_700_000_000, flowSequence: 0 }, [{ src_addr: '10.0.0.1' }]));
    for (let i = 0; i < 100; i++)
      for (const source of ['198.51.100.7', '198.51.100.8', '2001:db8::66']) collector.handleDatagram(v5, { address: source, port: 2055 });
    expect(await metric(/flowwatch_collector_unknown_source_datagrams_total (\d+)/)).toBe(300);
    const lines = warnings('datagram from an unregistered exporter dropped');
    expect(lines.map((l) => l.source).sort()).toEqual(['198.51.100.7', '198.51.100.8', '2001:db8::66']);
    expect(collector.unknownSources().map((u) => u.datagrams)).toEqual([100, 100, 100]);
  });

  it('refuses a supplier pushing records of another with 403, counts the records, logs once', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await push(TOKEN_A, JSON.stringify([record(1), record(2, { supplier_id: 'supplier-b' })]));
      expect(r.status).toBe(403);
    }
    expect(await metric(/flowwatch_collector_rejected_total\{protocol="JSON",supplier="supplier-a",reason="wrong_supplier"\} (\d+)/)).toBe(
      10,
    );
    expect(await metric(/flowwatch_collector_push_requests_total\{status="4xx",supplier="supplier-a"\} (\d+)/)).toBeGreaterThanOrEqual(5);
    expect(warnings('push with records of another supplier refused')).toHaveLength(1);
  });

  it('refuses a replayed push with 409 and counts it; the same records in a new body are accepted', async () => {
    const body = JSON.stringify([record(10), record(11)]);
    const before = await metric(/flowwatch_collector_records_total\{protocol="JSON",supplier="supplier-b"\} (\d+)/);
    expect((await push(TOKEN_B, body)).status).toBe(202);
    for (let i = 0; i < 3; i++) {
      const again = await push(TOKEN_B, body);
      expect(again.status).toBe(409);
      expect(await again.json()).toMatchObject({ error: 'replayed' });
    }
    // Another supplier's identical body is no replay of supplier B's.
    expect((await push(TOKEN_A, body)).status).toBe(202);
    // A body that differs (a retry with its own batch id, a later export) is accepted.
    expect((await push(TOKEN_B, JSON.stringify([record(10), record(11)], null, 1))).status).toBe(202);
    expect(await metric(/flowwatch_collector_records_total\{protocol="JSON",supplier="supplier-b"\} (\d+)/)).toBe(before + 4);
    expect(await metric(/flowwatch_collector_rejected_total\{protocol="JSON",supplier="supplier-b",reason="replayed"\} (\d+)/)).toBe(3);
    expect(warnings('replayed push refused')).toHaveLength(1);
  });

  it('answers 100,000 levels of nested JSON with 400, without a stack overflow', async () => {
    for (const body of ['['.repeat(100_000) + ']'.repeat(100_000), `[${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}]`]) {
      const r = await push(TOKEN_A, body);
      expect(r.status).toBe(400);
      expect(((await r.json()) as { message: string }).message).toMatch(/nests deeper than 16 levels/);
    }
    // Brackets inside strings are not nesting: a record whose text holds them is judged on its own.
    const r = await push(TOKEN_A, JSON.stringify([record(3, { note: '['.repeat(100) })]));
    expect(r.status).toBe(202);
    expect(await r.json()).toMatchObject({ accepted: 0, rejected: 1, reasons: { invalid_record: 1 } });
    expect(await metric(/flowwatch_collector_push_requests_total\{status="5xx",supplier="[^"]+"\} (\d+)/)).toBe(0);
  });

  it('cuts off slow-loris clients: dribbled headers after headersMs, a dribbled body after requestMs', async () => {
    const port = collector.ports().push;
    const dribble = (head: string, tail: string) =>
      new Promise<{ ms: number; answer: string }>((resolve, reject) => {
        const t0 = Date.now();
        const socket = connect(port, '127.0.0.1');
        let answer = '';
        let i = 0;
        socket.on('connect', () => socket.write(head));
        const timer = setInterval(() => {
          if (!socket.destroyed && !socket.writableEnded) socket.write(tail[i++ % tail.length] as string);
        }, 100);
        socket.on('data', (d) => {
          answer += String(d);
        });
        socket.on('error', () => undefined);
        socket.on('close', () => {
          clearInterval(timer);
          resolve({ ms: Date.now() - t0, answer });
        });
        setTimeout(() => {
          clearInterval(timer);
          socket.destroy();
          reject(new Error('the server kept a slow client for 10 s'));
        }, 10_000);
      });
    const headers = await dribble('POST /api/v1/flows HTTP/1.1\r\nHost: x\r\n', 'X-Slow: aaaaaaaaaaaaaaaaaaaaaa');
    expect(headers.ms).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    expect(headers.ms).toBeLessThan(HEADERS_MS + 3000); // Node alone would wait 60 s
    expect(headers.answer).toMatch(/^HTTP\/1\.1 408/);
    const body = await dribble(
      `POST /api/v1/flows HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${TOKEN_A}\r\nContent-Length: 100000\r\n\r\n`,
      '[{"src_addr":"10.0.0.1"},',
    );
    expect(body.ms).toBeGreaterThanOrEqual(REQUEST_MS - 50);
    expect(body.ms).toBeLessThan(REQUEST_MS + 3000); // Node alone would wait 300 s
    // A client at normal speed is served.
    expect((await push(TOKEN_A, JSON.stringify([record(4)]))).status).toBe(202);
  });

  it('never writes a push token to the log', async () => {
    await push('not-a-token-but-secret-looking-abcdef', '[]');
    const text = JSON.stringify(logLines);
    expect(logLines.length).toBeGreaterThan(3);
    for (const secret of [TOKEN_A, TOKEN_B, 'not-a-token-but-secret-looking-abcdef']) expect(text).not.toContain(secret);
  });
});
