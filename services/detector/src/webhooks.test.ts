import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { detectorSchema } from '@flowwatch/config';
import { ALERTS_SCHEMA, type AlertMessage } from '@flowwatch/flow-schema';
import { createRegistry, ServiceMetrics } from '@flowwatch/observability';
import { silentLogger } from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toAlertmanager } from './alertmanager.js';
import { routes, signature, WebhookDispatcher } from './webhooks.js';

function message(suppliers: string[], severity: AlertMessage['alert']['severity'] = 'high'): AlertMessage {
  const t = '2026-11-03T10:00:00.000Z';
  return {
    schema: ALERTS_SCHEMA,
    event: 'opened',
    alert: {
      id: 'a1',
      fingerprint: 'host_sweep|host:10.1.0.66|445',
      type: 'host_sweep',
      severity,
      status: 'open',
      entity: { kind: 'host', id: '10.1.0.66', name: '10.1.0.66 in Leeds Teaching Hospitals (supplier-b)' },
      supplier_ids: suppliers,
      first_seen: t,
      last_seen: t,
      detected_at: t,
      observed: 70,
      expected: 64,
      score: 1.1,
      summary: 'sweep',
      evidence: { top_flows: [], top_sources: [], details: {} },
      version: 1,
    },
  };
}

const hooks = (url: string) =>
  detectorSchema.parse({
    webhooks: [
      { name: 'b', url: `${url}/b`, secret: 'secret-of-supplier-b', suppliers: ['supplier-b'] },
      { name: 'soc', url: `${url}/soc`, secret: 'secret-of-the-soc-team', minSeverity: 'critical' },
    ],
  }).webhooks;

let base = '';
let failures = 0;
const got: { path: string; body: string; sig: string }[] = [];
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => {
    body += c.toString();
  });
  req.on('end', () => {
    if (failures > 0) {
      failures--;
      res.writeHead(503).end();
      return;
    }
    got.push({ path: req.url ?? '', body, sig: String(req.headers['x-flowwatch-signature']) });
    res.writeHead(204).end();
  });
});
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
});

describe('webhooks', () => {
  it('routes by supplier and minimum severity', () => {
    const [b, soc] = hooks(base);
    expect(routes(b!, message(['supplier-b']))).toBe(true);
    expect(routes(b!, message(['supplier-a']))).toBe(false);
    expect(routes(soc!, message(['supplier-a'], 'high'))).toBe(false);
    expect(routes(soc!, message(['supplier-a'], 'critical'))).toBe(true);
  });

  it('signs the exact body and retries failed deliveries with back-off until delivered', async () => {
    failures = 2;
    const registry = createRegistry();
    const d = new WebhookDispatcher(
      hooks(base),
      { queue: 10, retries: 3, timeoutMs: 2000, baseBackoffMs: 20 },
      new ServiceMetrics(registry, 'detector'),
      silentLogger,
    );
    d.start();
    d.enqueue(message(['supplier-b']));
    const end = Date.now() + 5000;
    while (got.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await d.stop();
    expect(got).toHaveLength(1);
    expect(got[0]!.sig).toBe(signature('secret-of-supplier-b', got[0]!.body));
    const metric = await registry.getSingleMetric('flowwatch_detector_webhook_deliveries_total')!.get();
    const count = (outcome: string) => metric.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
    expect([count('retried'), count('delivered')]).toEqual([2, 1]);
  });

  it('drops the oldest delivery when the queue is full (never blocks)', async () => {
    const registry = createRegistry();
    const d = new WebhookDispatcher(
      hooks(base),
      { queue: 2, retries: 0, timeoutMs: 2000 },
      new ServiceMetrics(registry, 'detector'),
      silentLogger,
    );
    for (let i = 0; i < 5; i++) d.enqueue(message(['supplier-b']));
    expect(d.pending).toBe(2);
    const metric = await registry.getSingleMetric('flowwatch_detector_webhook_deliveries_total')!.get();
    expect(metric.values.find((v) => v.labels.outcome === 'dropped')?.value).toBe(3);
  });
});

describe('Alertmanager', () => {
  it('maps an alert to the v2 API shape, ended once resolved', () => {
    const m = message(['supplier-b']);
    const open = toAlertmanager(m.alert, 180_000) as { labels: Record<string, string>; endsAt: string };
    expect(open.labels).toMatchObject({ alertname: 'flowwatch_host_sweep', severity: 'high', supplier: 'supplier-b' });
    expect(Date.parse(open.endsAt)).toBeGreaterThan(Date.now());
    const resolved = toAlertmanager({ ...m.alert, status: 'resolved' }, 180_000) as { endsAt: string };
    expect(resolved.endsAt).toBe(m.alert.last_seen);
  });
});
