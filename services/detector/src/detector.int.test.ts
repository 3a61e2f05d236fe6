import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, SCHEMA } from '@flowwatch/clickhouse';
import { detectorSchema, type RegistryConfig } from '@flowwatch/config';
import { type AlertMessage, alertMessageSchema, emptyFlow, encodeFlows, type FlowRecord } from '@flowwatch/flow-schema';
import { type BufferedProducer, ensureTopics } from '@flowwatch/kafka';
import { createRegistry } from '@flowwatch/observability';
import { openTestClickHouse, readTopic, silentLogger, startTestApi, testKafka, testProducer, uniqueName } from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDetector, type Detector } from './detector.js';
import { signature } from './webhooks.js';

const suppliers = ['supplier-a', 'supplier-b', 'supplier-c'];
const registry: RegistryConfig = {
  suppliers: suppliers.map((id) => ({
    id,
    name: `Supplier ${id.slice(-1).toUpperCase()}`,
    exporters: [],
    pushTokens: [],
    clientCertFingerprints: [],
  })),
  organisations: Array.from({ length: 30 }, (_, i) => ({
    code: i === 0 ? 'RR8' : `O${String(i).padStart(2, '0')}`,
    name: i === 0 ? 'Leeds Teaching Hospitals' : `Organisation ${i}`,
    type: 'acute',
    supplier: i === 0 ? 'supplier-b' : suppliers[i % 3]!,
    prefixes: [`10.${i + 1}.0.0/16`],
  })),
  services: [{ id: 'records', name: 'National records', supplier: 'supplier-a', prefixes: ['10.250.1.0/24'], ports: [443] }],
  groups: [],
};

const { kafka } = testKafka();
const topics = { flows: uniqueName('flows'), alerts: uniqueName('alerts'), state: uniqueName('detector.state') };
const secretB = 'supplier-b-webhook-secret';
const secretC = 'supplier-c-webhook-secret';
const received: { path: string; body: string; headers: IncomingHttpHeaders }[] = [];
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => {
    body += c.toString();
  });
  req.on('end', () => {
    received.push({ path: req.url ?? '', body, headers: req.headers });
    res.writeHead(204).end();
  });
});
let ch: Awaited<ReturnType<typeof openTestClickHouse>>;
let producer: BufferedProducer;
let webhookBase = '';
const dir = mkdtempSync(join(tmpdir(), 'fw-detector-'));

const flow = (t: number, over: Partial<FlowRecord>): FlowRecord => ({
  ...emptyFlow('IPFIX'),
  time_received_ns: (t + 500) * 1e6,
  time_flow_start_ns: (t - 1000) * 1e6,
  time_flow_end_ns: t * 1e6,
  bytes: 5000,
  packets: 10,
  proto: 6,
  tcp_flags: 0x1b,
  src_port: 50_000,
  dst_port: 443,
  sampling_rate: 1,
  supplier_id: 'supplier-b',
  exporter_id: 'core-1',
  src_addr: '10.1.0.1',
  dst_addr: '10.250.1.5',
  ...over,
});

/** Normal traffic plus an SMB sweep from 10.1.0.66 across organisations and beacons to a listed address. */
function incident(t0: number, probes: number, offset = 0): FlowRecord[] {
  const out: FlowRecord[] = [];
  for (let i = 0; i < 300; i++)
    out.push(flow(t0 + i * 10, { src_addr: `10.${2 + (i % 28)}.0.${1 + (i % 50)}`, supplier_id: suppliers[i % 3]! }));
  for (let i = 0; i < probes; i++) {
    const k = i + offset;
    out.push(
      flow(t0 + i * 20, {
        src_addr: '10.1.0.66',
        dst_addr: `10.${2 + (k % 28)}.${k >> 8}.${k & 255}`,
        dst_port: 445,
        packets: 1,
        bytes: 60,
        tcp_flags: 0x02,
      }),
    );
  }
  for (let i = 0; i < 5; i++) out.push(flow(t0 + i * 100, { src_addr: '10.1.0.42', dst_addr: '203.0.113.9', dst_port: 8443 }));
  return out.sort((a, b) => a.time_flow_end_ns - b.time_flow_end_ns);
}

function detector(): Detector {
  writeFileSync(join(dir, 'c2.txt'), '# test feed\n203.0.113.0/24\n');
  const config = detectorSchema.parse({
    groupId: `${topics.flows}-detector`,
    fromBeginning: true,
    warmStart: { enabled: true, profileDays: 1, recentMinutes: 10 },
    newPair: { enabled: false },
    lateral: { allow: [{ from: '*', to: '*' }] },
    blocklists: [{ name: 'c2-feed', path: join(dir, 'c2.txt') }],
    checkpointIntervalMs: 1000,
    analystChangesReloadMs: 1000,
    alerts: { updateIntervalMs: 2000 },
    webhooks: [
      { name: 'supplier-b', url: `${webhookBase}/b`, secret: secretB, suppliers: ['supplier-b'] },
      { name: 'supplier-c', url: `${webhookBase}/c`, secret: secretC, suppliers: ['supplier-c'] },
    ],
  });
  return createDetector(
    {
      logger: silentLogger,
      registry: createRegistry(),
      kafka,
      clickhouse: ch.client,
      producerOptions: {
        maxBufferedMessages: 10_000,
        maxBufferedBytes: 64 << 20,
        lingerMs: 5,
        batchMaxMessages: 500,
        compression: 'none',
        acks: -1,
        retryBackoffMs: 100,
      },
      topics,
      readiness: [],
    },
    config,
    registry,
  );
}

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  webhookBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ch = await openTestClickHouse();
  await migrate(ch.client, SCHEMA, silentLogger);
  await ensureTopics(
    kafka,
    [
      { name: topics.flows, partitions: 2, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
      { name: topics.alerts, partitions: 2, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
      { name: topics.state, partitions: 2, replicationFactor: 1, retentionMs: 0, cleanupPolicy: 'compact' },
    ],
    silentLogger,
  );
  producer = await testProducer(kafka);
});

afterAll(async () => {
  await producer?.stop();
  await ch?.client.close();
  server.close();
});

/** Messages of 100 records, alternately NDJSON and binary (the detector reads both encodings of `flows`). */
async function produce(records: FlowRecord[]): Promise<void> {
  for (let i = 0; i < records.length; i += 100) {
    const value = encodeFlows(records, i, Math.min(records.length, i + 100), (i / 100) % 2 ? 'binary' : 'ndjson');
    producer.send(topics.flows, [{ key: 'supplier-b/core-1', value }]);
  }
  await producer.flush();
}

const parse = (messages: { value: Buffer | null }[]) =>
  messages.map((m) => alertMessageSchema.parse(JSON.parse(String(m.value))) as AlertMessage);
const opened = (ms: AlertMessage[]) => ms.filter((m) => m.event === 'opened');

describe('detector (real Kafka, real ClickHouse, a local webhook receiver)', () => {
  it('raises a sweep, worm spread and block-list hit once each, updates them, stores them and signs its webhooks', async () => {
    const d1 = detector();
    await d1.start();
    const t0 = Date.now() - 5000;
    await produce(incident(t0, 200));
    const wanted = ['host_sweep', 'lateral_movement', 'blocklist'];
    let messages = parse(
      await readTopic(kafka, topics.alerts, {
        done: (ms) => wanted.every((type) => parse(ms).some((m) => m.alert.type === type)),
        timeoutMs: 45_000,
        quietMs: 1000,
      }),
    );
    expect(
      opened(messages)
        .map((m) => m.alert.type)
        .sort(),
    ).toEqual(['blocklist', 'host_sweep', 'lateral_movement']);
    const sweep = opened(messages).find((m) => m.alert.type === 'host_sweep')!.alert;
    expect(sweep.summary).toContain('10.1.0.66 in Leeds Teaching Hospitals (supplier-b) swept');
    expect(sweep.supplier_ids).toContain('supplier-b');
    const worm = opened(messages).find((m) => m.alert.type === 'lateral_movement')!.alert;
    expect(worm.summary).toMatch(/^Leeds Teaching Hospitals \(supplier-b\) host 10\.1\.0\.66 reached \d+ organisations on SMB\/445/);

    // More of the same incident: updates of the same alerts, never a second opening.
    await produce(incident(Date.now() - 2000, 200, 200));
    await new Promise((r) => setTimeout(r, 4000));
    messages = parse(await readTopic(kafka, topics.alerts, { done: () => true, timeoutMs: 20_000, quietMs: 2000 }));
    const byFingerprint = new Map<string, number>();
    for (const m of opened(messages)) byFingerprint.set(m.alert.fingerprint, (byFingerprint.get(m.alert.fingerprint) ?? 0) + 1);
    expect([...byFingerprint.values()].every((n) => n === 1)).toBe(true);
    expect(byFingerprint.size).toBe(3);

    // ClickHouse: one current row per alert, its history in alert_events.
    const deadline = Date.now() + 20_000;
    let rows: { id: string; type: string; fingerprint: string }[] = [];
    while (Date.now() < deadline) {
      rows = await (
        await ch.client.query({ query: 'SELECT id, type, fingerprint FROM alerts FINAL ORDER BY type', format: 'JSONEachRow' })
      ).json();
      if (rows.length >= 3) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(rows.map((r) => r.type)).toEqual(['blocklist', 'host_sweep', 'lateral_movement']);
    const events = await (
      await ch.client.query({ query: "SELECT count() AS n FROM alert_events WHERE event = 'opened'", format: 'JSONEachRow' })
    ).json<{ n: string }>();
    expect(Number(events[0]!.n)).toBe(3);

    // Webhooks: supplier-b's receives its alerts, HMAC-signed; supplier-c's only alerts naming supplier-c.
    const end = Date.now() + 10_000;
    while (Date.now() < end && !received.some((r) => r.path === '/b')) await new Promise((r) => setTimeout(r, 100));
    const toB = received.filter((r) => r.path === '/b');
    expect(toB.length).toBeGreaterThanOrEqual(3);
    for (const r of toB) {
      expect(r.headers['x-flowwatch-signature']).toBe(signature(secretB, r.body));
      expect(alertMessageSchema.parse(JSON.parse(r.body)).alert.supplier_ids).toContain('supplier-b');
    }
    for (const r of received.filter((x) => x.path === '/c')) {
      expect(r.headers['x-flowwatch-signature']).toBe(signature(secretC, r.body));
      expect(JSON.parse(r.body).alert.supplier_ids).toContain('supplier-c');
    }
    expect(received.filter((x) => x.path === '/c').some((r) => JSON.parse(r.body).alert.type === 'blocklist')).toBe(false);

    // A restart restores the checkpoint: the open alerts are known and not opened again.
    await d1.stop();
    const d2 = detector();
    await d2.start();
    expect(
      d2.engine.tracker
        .open()
        .map((a) => a.type)
        .sort(),
    ).toEqual(['blocklist', 'host_sweep', 'lateral_movement']);
    await d2.stop();
  }, 120_000);

  it("keeps an analyst's acknowledgement through its updates, and re-opens what an analyst resolved when it recurs", async () => {
    // The API beside it on the same ClickHouse, as deployed: analysts act through HTTP.
    const api = await startTestApi({ clickhouse: ch });
    const app = api.api.app();
    const act = async (id: string, action: 'ack' | 'resolve') => {
      const r = await app.inject({
        method: 'POST',
        url: `/api/v1/alerts/${id}/${action}`,
        headers: { authorization: `Bearer ${api.tokens.analyst}` },
        payload: { comment: `${action} in the test` },
      });
      expect(r.statusCode).toBe(200);
      return (JSON.parse(r.body) as { alert: { version: number; status: string } }).alert;
    };
    const row = async (id: string) =>
      (
        await (
          await ch.client.query({
            query: 'SELECT status, version FROM alerts FINAL WHERE id = {id:String}',
            query_params: { id },
            format: 'JSONEachRow',
          })
        ).json<{ status: string; version: string | number }>()
      )[0];
    const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 30_000) => {
      const end = Date.now() + ms;
      while (!(await ok())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${debug()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const d = detector();
    let later: AlertMessage[] = [];
    const debug = () =>
      JSON.stringify({
        held: d.engine.tracker.open().map((a) => [a.type, a.status, a.version]),
        later: later.map((m) => [m.event, m.alert.type, m.alert.status, m.alert.version]),
      });
    await d.start();
    try {
      const t0 = Date.now() - 5000;
      await produce(incident(t0, 200, 400));
      const held = () => d.engine.tracker.open();
      await until('the sweep and the block-list hit', () => ['host_sweep', 'blocklist'].every((t) => held().some((a) => a.type === t)));
      const sweep = held().find((a) => a.type === 'host_sweep')!;
      const hit = held().find((a) => a.type === 'blocklist')!;
      // The rows the analyst acts on are the detector's.
      await until('the rows in ClickHouse', async () => (await row(sweep.id)) !== undefined && (await row(hit.id)) !== undefined);

      const acked = await act(sweep.id, 'ack');
      expect(acked.status).toBe('acknowledged');
      await act(hit.id, 'resolve');
      await until("the analysts' changes applied", () => {
        const now = d.engine.tracker.open();
        return now.find((a) => a.id === sweep.id)?.status === 'acknowledged' && !now.some((a) => a.id === hit.id);
      });

      // The sweep goes on; the host beacons to the listed address again, past the block-list
      // detector's refresh (10 s of event time).
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + 13_000 - Date.now())));
      const hitVersion = d.engine.tracker.snapshot().alerts.find((a) => a.alert.id === hit.id)!.alert.version;
      await produce(incident(Date.now() - 2000, 200, 600));
      await new Promise((r) => setTimeout(r, 2500));
      await produce(incident(Date.now() - 1000, 200, 800));
      // What the detector published after the analysts' changes, by version (partitions are read in no set order).
      const after = async () => {
        const all = parse(await readTopic(kafka, topics.alerts, { done: () => true, timeoutMs: 10_000, quietMs: 1500 }));
        return all.filter(
          (m) => (m.alert.id === sweep.id && m.alert.version > acked.version) || (m.alert.id === hit.id && m.alert.version > hitVersion),
        );
      };
      await until(
        'an update of the sweep and the block-list hit re-opened',
        async () => {
          later = await after();
          return later.some((m) => m.alert.id === sweep.id) && later.some((m) => m.alert.id === hit.id && m.event === 'reopened');
        },
        75_000,
      );
      // Updates published before the detector read the acknowledgement may say open (a race the
      // relay settles); from its relay of the acknowledgement on, every one says acknowledged.
      const sweepLater = later.filter((m) => m.alert.id === sweep.id).sort((a, b) => a.alert.version - b.alert.version);
      const relay = sweepLater.find((m) => m.event === 'acknowledged');
      expect(relay, JSON.stringify(sweepLater.map((m) => [m.event, m.alert.status, m.alert.version]))).toBeDefined();
      const fromRelay = sweepLater.filter((m) => m.alert.version >= relay!.alert.version);
      expect(fromRelay.length).toBeGreaterThan(1);
      expect(fromRelay.every((m) => m.alert.status === 'acknowledged')).toBe(true);
      const hitLater = later.filter((m) => m.alert.id === hit.id).sort((a, b) => a.alert.version - b.alert.version);
      expect(hitLater.at(-1)!.alert.status).toBe('open');
      // ClickHouse keeps the acknowledgement above the analyst's version, and the history has the
      // analyst's acknowledgement once (the detector's relay of it adds none).
      await until('the acknowledged row above the analyst', async () => {
        const r = await row(sweep.id);
        return r !== undefined && r.status === 'acknowledged' && Number(r.version) > acked.version;
      });
      const history = await (
        await ch.client.query({
          query: "SELECT actor FROM alert_events WHERE alert_id = {id:String} AND event = 'acknowledged'",
          query_params: { id: sweep.id },
          format: 'JSONEachRow',
        })
      ).json<{ actor: string }>();
      expect(history.map((h) => h.actor)).toEqual(['anna analyst']);
    } finally {
      await d.stop();
      await api.api.stop();
    }
  }, 180_000);
});
