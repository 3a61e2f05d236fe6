import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RateLimitedLog } from './logger.js';
import { createRegistry, metricName, ServiceMetrics } from './metrics.js';
import { buildOpsServer, type ReadinessCheck } from './ops-server.js';

const silent = pino({ level: 'silent' });

describe('metric names', () => {
  it('follow flowwatch_<service>_<thing>_<unit>', () => {
    expect(metricName('collector', 'datagrams', 'total')).toBe('flowwatch_collector_datagrams_total');
    expect(() => metricName('Collector', 'datagrams', 'total')).toThrow(/breaks flowwatch_/);
    expect(() => metricName('collector', 'datagrams', 'furlongs')).toThrow(/unit one of/);
  });

  it('ServiceMetrics returns the same metric when asked twice', () => {
    const m = new ServiceMetrics(createRegistry(), 'test');
    expect(m.counter('things', 'help')).toBe(m.counter('things', 'help'));
  });
});

describe('ops server', () => {
  it('answers /healthz, /readyz by checks, /metrics in Prometheus format, 404 as JSON', async () => {
    const registry = createRegistry();
    const checks: ReadinessCheck[] = [{ name: 'kafka', check: () => ({ ready: true }) }];
    const app = buildOpsServer({ registry, logger: silent, readiness: () => checks });
    new ServiceMetrics(registry, 'test').counter('widgets', 'widgets made').inc(3);

    expect((await app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await app.inject('/readyz');
    expect(ready.statusCode).toBe(200);

    checks.push({ name: 'clickhouse', check: () => ({ ready: false, reason: 'ping failed' }) });
    const notReady = await app.inject('/readyz');
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json()).toEqual({
      status: 'not ready',
      checks: [
        { name: 'kafka', ready: true },
        { name: 'clickhouse', ready: false, reason: 'ping failed' },
      ],
    });

    const metrics = await app.inject('/metrics');
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.body).toContain('flowwatch_test_widgets_total 3');
    expect(metrics.body).toContain('flowwatch_process_cpu_seconds_total');
    expect(metrics.body).toMatch(/flowwatch_http_requests_total\{method="GET",route="\/readyz",status="5xx"\} 1/);

    const missing = await app.inject('/nope?x=1');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: 'not_found', message: 'no route GET /nope' });
    await app.close();
  });

  it('never sends internals of a failing route to the client', async () => {
    const app = buildOpsServer({ registry: createRegistry(), logger: silent, readiness: () => [] });
    app.get('/boom', async () => {
      throw new Error('secret connection string postgres://u:p@h');
    });
    const res = await app.inject('/boom');
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('secret');
    expect(res.json()).toEqual({ error: 'error', message: 'internal error' });
    await app.close();
  });
});

describe('RateLimitedLog', () => {
  it('logs once per key and interval and reports how many it held back', () => {
    const lines: { suppressed: number; source: string }[] = [];
    const logger = pino({ level: 'warn' }, { write: (s: string) => lines.push(JSON.parse(s)) });
    let now = 0;
    const log = new RateLimitedLog(logger, 60_000, 100, () => now);
    for (let i = 0; i < 1000; i++) log.warn('198.51.100.7', { source: '198.51.100.7' }, 'datagram from unknown exporter');
    log.warn('203.0.113.9', { source: '203.0.113.9' }, 'datagram from unknown exporter');
    now = 60_000;
    log.warn('198.51.100.7', { source: '198.51.100.7' }, 'datagram from unknown exporter');
    expect(lines.map((l) => [l.source, l.suppressed])).toEqual([
      ['198.51.100.7', 0],
      ['203.0.113.9', 0],
      ['198.51.100.7', 999],
    ]);
  });

  it('stays bounded under a flood of distinct keys', () => {
    const log = new RateLimitedLog(pino({ level: 'silent' }), 60_000, 10, () => 0);
    for (let i = 0; i < 10_000; i++) log.warn(`k${i}`, {}, 'x');
    // biome-ignore lint/suspicious/noExplicitAny: reading private state in a test
    expect((log as any).last.size).toBe(10);
  });
});
