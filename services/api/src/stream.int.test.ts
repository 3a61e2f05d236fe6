import { ALERTS_SCHEMA, TokenStore } from '@flowwatch/api';
import {
  enrichedFlowRows,
  openEventStream,
  readTopic,
  startTestApi,
  type TestApi,
  testAlert,
  testKafka,
  uniqueName,
} from '@flowwatch/test-support';
import type { Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertInput } from './alerts/alert-record.js';

/** GET /api/v1/stream against a real Kafka `alerts` topic and ClickHouse, over real HTTP. */
let t: TestApi;
let kafka: Kafka;
let producer: Producer;
let topic: string;
let base: string;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function publish(event: string, alert: AlertInput): Promise<void> {
  await producer.send({
    topic,
    messages: [
      { key: alert.fingerprint, value: JSON.stringify({ schema: ALERTS_SCHEMA, event, alert }), headers: { schema: ALERTS_SCHEMA } },
    ],
  });
}

beforeAll(async () => {
  kafka = testKafka().kafka;
  topic = uniqueName('alerts');
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
  await admin.disconnect();
  producer = kafka.producer();
  await producer.connect();
  t = await startTestApi({
    kafka,
    alertsTopic: topic,
    listen: true,
    config: { stream: { pollMs: 500, trafficIntervalMs: 1000, heartbeatMs: 1000, maxClients: 6 } },
  });
  base = t.api.url();
});
afterAll(async () => {
  await t?.stop();
  await producer?.disconnect();
});

describe('the live stream', () => {
  it('opens for every role (text/event-stream, security headers), not without a token', async () => {
    for (const token of [t.tokens.viewer, t.tokens.analyst, t.tokens.admin, t.tokens.supplierA]) {
      const s = await openEventStream(`${base}/api/v1/stream`, bearer(token));
      expect(s.status).toBe(200);
      expect(s.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      expect(s.headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
      await s.waitFor((e) => e.event === 'hello');
      s.close();
    }
    const anonymous = await openEventStream(`${base}/api/v1/stream`);
    expect(anonymous.status).toBe(401);
  });

  it("carries alerts from Kafka and from ClickHouse once each, a supplier's only its own; analysts' changes too", async () => {
    const centre = await openEventStream(`${base}/api/v1/stream`, bearer(t.tokens.viewer));
    const supplierB = await openEventStream(`${base}/api/v1/stream`, bearer(t.tokens.supplierB));
    await centre.waitFor((e) => e.event === 'hello');
    await supplierB.waitFor((e) => e.event === 'hello');

    // As the detector does: published on Kafka and stored in ClickHouse.
    const a = testAlert({ supplier_ids: ['sup-a'], severity: 'critical' });
    await publish('opened', a);
    await t.storeAlerts([a]);
    // Stored only (a message lost, or a writer without Kafka): the poll finds it.
    const b = testAlert({ supplier_ids: ['sup-b'] });
    await t.storeAlerts([b]);
    // Published only.
    const c = testAlert({ supplier_ids: ['sup-b', 'sup-c'] });
    await publish('opened', c);

    const alertEvent = (id: string) => (e: { event: string; data: unknown }) =>
      e.event === 'alert' && (e.data as { alert: { id: string } }).alert.id === id;
    const got = await centre.waitFor(alertEvent(a.id));
    expect(got.data).toMatchObject({ event: 'opened', alert: { id: a.id, severity: 'critical', status: 'open', version: 1 } });
    expect((got.data as { alert: object }).alert).not.toHaveProperty('evidence');
    await centre.waitFor(alertEvent(b.id));
    await centre.waitFor(alertEvent(c.id));
    await supplierB.waitFor(alertEvent(b.id));
    await supplierB.waitFor(alertEvent(c.id));

    // An analyst acknowledges a: everyone allowed sees version 2 at once, and it goes to Kafka for the detector.
    const ack = await fetch(`${base}/api/v1/alerts/${a.id}/ack`, {
      method: 'POST',
      headers: { ...bearer(t.tokens.analyst), 'content-type': 'application/json' },
      body: JSON.stringify({ comment: 'seen' }),
    });
    expect(ack.status).toBe(200);
    const acked = await centre.waitFor((e) => alertEvent(a.id)(e) && (e.data as { event: string }).event === 'acknowledged');
    expect(acked.data).toMatchObject({ alert: { status: 'acknowledged', version: 2 } });
    const messages = await readTopic(kafka, topic, { done: (m) => m.some((x) => JSON.parse(String(x.value)).event === 'acknowledged') });
    const published = messages.map((m) => JSON.parse(String(m.value))).find((m) => m.event === 'acknowledged');
    expect(published).toMatchObject({ schema: ALERTS_SCHEMA, alert: { id: a.id, status: 'acknowledged', version: 2 } });

    await new Promise((r) => setTimeout(r, 1500)); // two more polls: nothing is sent twice
    const count = (s: typeof centre, id: string) => s.events.filter(alertEvent(id)).length;
    expect([count(centre, a.id), count(centre, b.id), count(centre, c.id)]).toEqual([2, 1, 1]);
    expect([count(supplierB, a.id), count(supplierB, b.id), count(supplierB, c.id)]).toEqual([0, 1, 1]);
    centre.close();
    supplierB.close();
  });

  it('resumes from Last-Event-ID: a reconnecting page first gets the alerts changed since its last one, within its scope', async () => {
    // Stored ten minutes ago (before the API's polls look), while this page was away.
    const missed = testAlert({ supplier_ids: ['sup-a'] });
    const changedAt = Date.now() - 10 * 60_000;
    await t.storeAlerts([missed], changedAt);
    const isMissed = (e: { event: string; data: unknown }) =>
      e.event === 'alert' && (e.data as { alert: { id: string } }).alert.id === missed.id;
    const lastSeen = String(changedAt - 5 * 60_000);
    const resumed = await openEventStream(`${base}/api/v1/stream`, { ...bearer(t.tokens.viewer), 'last-event-id': lastSeen });
    const got = await resumed.waitFor(isMissed, 5000);
    expect(got.id).toBe(String(changedAt));
    const fresh = await openEventStream(`${base}/api/v1/stream`, bearer(t.tokens.viewer));
    const otherSupplier = await openEventStream(`${base}/api/v1/stream`, { ...bearer(t.tokens.supplierB), 'last-event-id': lastSeen });
    await fresh.waitFor((e) => e.event === 'hello');
    await otherSupplier.waitFor((e) => e.event === 'hello');
    await new Promise((r) => setTimeout(r, 1500));
    expect(fresh.events.some(isMissed)).toBe(false);
    expect(otherSupplier.events.some(isMissed)).toBe(false);
    for (const x of [resumed, fresh, otherSupplier]) x.close();
  });

  it('sends live traffic per supplier every interval, a supplier its own only', async () => {
    const now = Date.now();
    const rows = enrichedFlowRows(300, now - 50_000, 40_000, 5);
    await t.clickhouse.client.insert({ table: 'flows_raw', values: rows, format: 'JSONEachRow' });
    const centre = await openEventStream(`${base}/api/v1/stream`, bearer(t.tokens.viewer));
    const supplierA = await openEventStream(`${base}/api/v1/stream`, bearer(t.tokens.supplierA));
    type Tick = { buckets: { supplier: string; bytes: number; flows: number }[] };
    const tick = (await centre.waitFor((e) => e.event === 'traffic' && (e.data as Tick).buckets.length > 0)).data as Tick;
    const flows = tick.buckets.reduce((a, b) => a + b.flows, 0);
    expect(flows).toBe(rows.length);
    expect(new Set(tick.buckets.map((b) => b.supplier))).toEqual(new Set(['sup-a', 'sup-b', 'sup-c']));
    const own = (await supplierA.waitFor((e) => e.event === 'traffic' && (e.data as Tick).buckets.length > 0)).data as Tick;
    expect(new Set(own.buckets.map((b) => b.supplier))).toEqual(new Set(['sup-a']));
    centre.close();
    supplierA.close();
  });

  it('closes the stream of a revoked token at the next heartbeat, and refuses streams beyond maxClients with 503', async () => {
    const store = new TokenStore(t.clickhouse.client, { cacheMs: 0 });
    const { token, record } = await store.create({ name: 'wall display', role: 'viewer', createdBy: 'test' });
    const s = await openEventStream(`${base}/api/v1/stream`, bearer(token));
    await s.waitFor((e) => e.event === 'hello');
    const revoked = await fetch(`${base}/api/v1/tokens/${record.id}`, { method: 'DELETE', headers: bearer(t.tokens.admin) });
    expect(revoked.status).toBe(200);
    const end = await s.waitFor((e) => e.event === 'end', 5000);
    expect(end.data).toEqual({ reason: 'unauthorized' });
    await s.closed;

    const open = await Promise.all(Array.from({ length: 6 }, () => openEventStream(`${base}/api/v1/stream`, bearer(t.tokens.viewer))));
    expect(open.map((x) => x.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const refused = await fetch(`${base}/api/v1/stream`, { headers: bearer(t.tokens.viewer) });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: 'unavailable' });
    expect(refused.headers.get('retry-after')).toBe('10');
    for (const x of open) x.close();
  });
});
