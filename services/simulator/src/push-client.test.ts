import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistry, RateLimitedLog } from '@flowwatch/observability';
import type { Label, PushBatch, SimExporter } from '@flowwatch/simulator';
import { silentLogger } from '@flowwatch/test-support';
import { describe, expect, it } from 'vitest';
import { LabelsWriter } from './labels-writer.js';
import { PushClient } from './push-client.js';
import { collectorTarget } from './simulator.js';
import { createSimulatorMetrics } from './simulator-metrics.js';

const exporter: SimExporter = { id: 'push-gw-1', supplierId: 'kestrel', protocol: 'json', address: '', samplingRate: 1, index: 0 };
const batch = (records: number): PushBatch => ({ exporter, body: '{}\n'.repeat(records), records });

function client(answers: (Response | Error)[], maxAttempts = 6) {
  const registry = createRegistry();
  const calls: { url: string; auth: string; body: string; at: number }[] = [];
  const fake = (async (url: string, init: RequestInit) => {
    calls.push({ url, auth: String((init.headers as Record<string, string>).authorization), body: String(init.body), at: Date.now() });
    const a = answers.shift() ?? new Response(JSON.stringify({ accepted: 1, rejected: 0 }), { status: 202 });
    if (a instanceof Error) throw a;
    return a;
  }) as typeof fetch;
  const push = new PushClient({
    url: 'http://127.0.0.1:1/api/v1/flows',
    tokens: new Map([['kestrel', 'tok']]),
    metrics: createSimulatorMetrics(registry),
    warnOnce: new RateLimitedLog(silentLogger),
    fetch: fake,
    maxAttempts,
  });
  return { push, calls, registry };
}

describe('PushClient', () => {
  it("posts NDJSON with the supplier's bearer token and counts what the collector accepted", async () => {
    const { push, calls, registry } = client([new Response(JSON.stringify({ accepted: 3, rejected: 0 }), { status: 202 })]);
    push.push(batch(3));
    await push.drain(2000);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ url: 'http://127.0.0.1:1/api/v1/flows', auth: 'Bearer tok', body: '{}\n{}\n{}\n' });
    expect(await registry.metrics()).toMatch(/flowwatch_simulator_records_total\{protocol="JSON",supplier="kestrel"\} 3/);
  });

  it('waits as long as Retry-After says on 429 and 503, then sends the same batch again', async () => {
    const { push, calls } = client([
      new Response('{}', { status: 429, headers: { 'retry-after': '1' } }),
      new Response('{}', { status: 503, headers: { 'retry-after': '1' } }),
    ]);
    push.push(batch(2));
    await push.drain(5000);
    expect(calls).toHaveLength(3);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(950);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(950);
    expect(new Set(calls.map((c) => c.body)).size).toBe(1);
  });

  it('retries connection failures with back-off, gives up after maxAttempts and counts it', async () => {
    const { push, calls, registry } = client([new Error('ECONNREFUSED'), new Error('ECONNREFUSED'), new Error('ECONNREFUSED')], 2);
    push.push(batch(1));
    await push.drain(5000);
    expect(calls).toHaveLength(2);
    expect(push.pending()).toBe(0);
    expect(await registry.metrics()).toMatch(/flowwatch_simulator_send_errors_total\{reason="push_abandoned"\} 1/);
  });

  it('does not retry a refusal that retrying cannot fix (401)', async () => {
    const { push, calls, registry } = client([new Response('{"error":"unauthorized"}', { status: 401 })]);
    push.push(batch(1));
    await push.drain(2000);
    expect(calls).toHaveLength(1);
    expect(await registry.metrics()).toMatch(/flowwatch_simulator_send_errors_total\{reason="push_401"\} 1/);
  });

  it('reports itself full when the collector cannot keep up', () => {
    const { push } = client(Array.from({ length: 100 }, () => new Response('{}', { status: 503, headers: { 'retry-after': '10' } })));
    for (let i = 0; i < 64; i++) push.push(batch(1));
    expect(push.full()).toBe(true);
    push.stop();
    expect(push.pending()).toBeLessThanOrEqual(4);
  });
});

describe('LabelsWriter', () => {
  it('appends one JSON line per label, and nothing without a path', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fw-labels-')), 'sub', 'labels.jsonl');
    const label = { id: 'ddos-1', type: 'syn_flood' } as Label;
    const w = new LabelsWriter(file);
    w.write([label]);
    w.write([{ ...label, id: 'ddos-2' }]);
    expect(readFileSync(file, 'utf8')).toBe(`${JSON.stringify(label)}\n${JSON.stringify({ ...label, id: 'ddos-2' })}\n`);
    new LabelsWriter('').write([label]);
  });
});

describe('collectorTarget', () => {
  it('reaches a wildcard listener on loopback, and the push API by its URL', () => {
    expect(collectorTarget({ host: '0.0.0.0', netflowPort: 1, ipfixPort: 2, sflowPort: 3, push: { host: '::', port: 4 } })).toEqual({
      host: '127.0.0.1',
      ports: { netflow: 1, ipfix: 2, sflow: 3 },
      pushUrl: 'http://127.0.0.1:4/api/v1/flows',
    });
    expect(
      collectorTarget({ host: '127.0.0.1', netflowPort: 1, ipfixPort: 2, sflowPort: 3, push: { host: '::1', port: 4, tls: {} } }).pushUrl,
    ).toBe('https://[::1]:4/api/v1/flows');
  });
});
