import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { CollectorConfig, RegistryConfig } from '@flowwatch/config';
import { encodeNetflowV5, encodeSflowV5 } from '@flowwatch/decoders';
import { type DeadLetter, decodeFlows, type FlowRecord, type FlowsEncoding, flowsSchema, heartbeatOf } from '@flowwatch/flow-schema';
import { ensureTopics } from '@flowwatch/kafka';
import { createRegistry } from '@flowwatch/observability';
import { readTopic, silentLogger, testKafka, uniqueName } from '@flowwatch/test-support';
import type { KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Collector, createCollector } from './collector.js';
import { hashToken } from './exporter-registry.js';

const CORPUS = new URL('../../../../shared/corpus/', import.meta.url);
const nfv5 = readFileSync(new URL('goflow2/netflowlegacy_TestDecodeNetFlowV5_data.bin', CORPUS));

const registryConfig: RegistryConfig = {
  organisations: [],
  services: [],
  groups: [],
  suppliers: [
    {
      id: 'supplier-a',
      name: 'A',
      exporters: [{ id: 'router-1', address: '127.0.0.2', samplingRate: 0 }],
      pushTokens: [hashToken('token-a')],
      clientCertFingerprints: [],
    },
    {
      id: 'supplier-b',
      name: 'B',
      exporters: [{ id: 'router-2', address: '127.0.0.3', samplingRate: 0 }],
      pushTokens: [hashToken('token-b')],
      clientCertFingerprints: [],
    },
  ],
};

const collectorConfig = (workers = 2, flowsEncoding: FlowsEncoding = 'ndjson'): CollectorConfig => ({
  host: '127.0.0.1',
  netflowPort: 0,
  ipfixPort: 0,
  sflowPort: 0,
  receiveBufferBytes: 4 * 1024 * 1024,
  flowsPerMessage: 4,
  flowsEncoding,
  heartbeatMs: 10_000,
  timeReceivedFrom: 'clock',
  workers,
  workerQueueDatagrams: 256,
  templates: { maxTemplatesPerDomain: 64, maxDomains: 64, maxTemplateBytes: 1 << 20, maxPendingSets: 16, pendingTtlMs: 1000 },
  push: {
    enabled: true,
    host: '127.0.0.1',
    port: 0,
    bodyLimitBytes: 64 * 1024,
    maxRecordsPerRequest: 50,
    rateLimitRecordsPerSecond: 1,
    rateLimitBurst: 60,
    maxDepth: 16,
    replayWindowMs: 600_000,
    replayCacheEntries: 1000,
    timeouts: { headersMs: 10_000, requestMs: 60_000, idleMs: 30_000 },
  },
});

const { kafka } = testKafka();
const producerOptions = {
  maxBufferedMessages: 10_000,
  maxBufferedBytes: 16 << 20,
  lingerMs: 5,
  batchMaxMessages: 500,
  compression: 'gzip',
  acks: -1,
  retryBackoffMs: 100,
} as const;
/** A fresh flows topic with `flowPartitions` partitions and its dead-letter topic, named after `prefix`. */
async function freshTopics(prefix: string, flowPartitions: number): Promise<{ flows: string; dlq: string }> {
  const topics = { flows: uniqueName(prefix), dlq: uniqueName(`${prefix}.dlq`) };
  const topic = (name: string, partitions: number) => ({
    name,
    partitions,
    replicationFactor: 1,
    retentionMs: 3_600_000,
    cleanupPolicy: 'delete' as const,
  });
  await ensureTopics(kafka, [topic(topics.flows, flowPartitions), topic(topics.dlq, 1)], silentLogger);
  return topics;
}

/** A consumed message's headers as strings. */
function headersOf(m: KafkaMessage): Record<string, string> {
  return Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v ?? '')]));
}

function flowsOf(messages: KafkaMessage[]): FlowRecord[] {
  return messages.flatMap((m) => (m.value ? decodeFlows(m.value).records : []));
}

const pushed = (i: number, extra: Record<string, unknown> = {}) => ({
  src_addr: `10.20.0.${i}`,
  dst_addr: '2001:db8::53',
  src_port: 40000 + i,
  dst_port: 443,
  proto: 6,
  bytes: 1000 + i,
  packets: 3,
  ...extra,
});

// With decode workers (the default) writing binary messages, and in the main thread
// (collector.workers = 0) writing NDJSON (the default encoding).
describe.each([
  [2, 'binary'],
  [0, 'ndjson'],
] as const)('collector end to end (real Kafka), %i decode workers, %s messages', (workers, encoding) => {
  let topics: { flows: string; dlq: string };
  const metricsRegistry = createRegistry();
  let collector: Collector;
  let pushUrl: string;

  beforeAll(async () => {
    topics = await freshTopics(`flows-w${workers}`, 3);
    collector = createCollector(
      {
        logger: silentLogger,
        registry: metricsRegistry,
        kafka,
        producerOptions,
        topics,
        readiness: [],
      },
      collectorConfig(workers, encoding),
      registryConfig,
    );
    await collector.start();
    pushUrl = `http://127.0.0.1:${collector.ports().push}/api/v1/flows`;
  });
  afterAll(async () => {
    await collector?.stop();
  });

  async function sendFrom(source: string, port: number, payload: Buffer): Promise<void> {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind({ address: source, port: 0 }, () => r()));
    await new Promise<void>((r, j) => socket.send(payload, port, '127.0.0.1', (err) => (err ? j(err) : r())));
    socket.close();
  }

  const push = (token: string | undefined, body: string, contentType = 'application/json') =>
    fetch(pushUrl, {
      method: 'POST',
      headers: { 'content-type': contentType, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body,
    });

  it('turns datagrams and pushes into records in `flows` exactly once, and everything bad into `flows.dlq` with reasons', async () => {
    const ports = collector.ports();
    // NetFlow v5 from a registered exporter, to the IPFIX port: the version field decides, not the port.
    await sendFrom('127.0.0.2', ports.netflow, nfv5);
    await sendFrom('127.0.0.2', ports.ipfix, nfv5);
    // From an unregistered source: dropped and counted, never decoded into anyone's traffic.
    await sendFrom('127.0.0.9', ports.netflow, nfv5);
    // Garbage from a registered exporter: dead-lettered with its reason.
    await sendFrom('127.0.0.3', ports.sflow, Buffer.from('hello, not a flow'));

    const ok = await push(
      'token-b',
      JSON.stringify([pushed(1), pushed(2), pushed(3, { exporter_id: 'probe-7' }), { src_addr: 'nope', bytes: 1 }]),
    );
    expect(ok.status).toBe(202);
    const body = (await ok.json()) as { errors: { message: string }[] };
    expect(body).toMatchObject({ accepted: 3, rejected: 1, reasons: { invalid_record: 1 } });
    expect(body.errors[0]?.message).toMatch(/src_addr/);

    const nd = await push('token-a', `${JSON.stringify(pushed(4))}\n{broken\n${JSON.stringify(pushed(5))}\n`, 'application/x-ndjson');
    expect(await nd.json()).toMatchObject({ accepted: 2, rejected: 1, reasons: { invalid_json: 1 } });

    await collector.flush();
    const messages = await readTopic(kafka, topics.flows, { done: (m) => flowsOf(m).length >= 6 * 2 + 5, quietMs: 1500 });
    // Datagrams (decode stage) and pushes (main thread) alike, in the configured encoding.
    expect(new Set(messages.map((m) => headersOf(m).schema))).toEqual(new Set([flowsSchema(encoding)]));
    expect(messages.every((m) => (m.value?.[0] === 0x7b) === (encoding === 'ndjson'))).toBe(true);
    const flows = flowsOf(messages);
    expect(flows).toHaveLength(6 * 2 + 5);
    const v5 = flows.filter((f) => f.type === 'NETFLOW_V5');
    expect(v5).toHaveLength(12);
    expect(v5.every((f) => f.supplier_id === 'supplier-a' && f.exporter_id === 'router-1' && f.sampler_address === '127.0.0.2')).toBe(true);
    expect(v5[0]?.in_if).toBe(9); // goflow2's assertion on this datagram
    const json = flows.filter((f) => f.type === 'JSON');
    expect(json.map((f) => [f.supplier_id, f.exporter_id, f.src_addr, f.bytes]).sort()).toEqual([
      ['supplier-a', 'push', '10.20.0.4', 1004],
      ['supplier-a', 'push', '10.20.0.5', 1005],
      ['supplier-b', 'probe-7', '10.20.0.3', 1003],
      ['supplier-b', 'push', '10.20.0.1', 1001],
      ['supplier-b', 'push', '10.20.0.2', 1002],
    ]);
    expect(json.every((f) => f.time_received_ns > 1.7e18 && f.dst_addr === '2001:db8::53')).toBe(true);

    const dlq = (await readTopic(kafka, topics.dlq, { done: (m) => m.length >= 3 })).map((m) => JSON.parse(String(m.value)) as DeadLetter);
    expect(dlq.map((d) => d.reason).sort()).toEqual(['bad_version', 'invalid_json', 'invalid_record']);
    const garbage = dlq.find((d) => d.reason === 'bad_version');
    expect(garbage).toMatchObject({
      source: expect.stringMatching(/^udp:127\.0\.0\.3:\d+$/),
      supplier_id: 'supplier-b',
      schema: 'flowwatch.dlq.v1',
    });
    expect(Buffer.from(garbage?.raw_base64 ?? '', 'base64').toString()).toBe('hello, not a flow');

    expect(collector.unknownSources()).toEqual([expect.objectContaining({ address: '127.0.0.9', datagrams: 1 })]);
    const metrics = await metricsRegistry.metrics();
    expect(metrics).toContain('flowwatch_collector_unknown_source_datagrams_total 1');
    expect(metrics).toMatch(/flowwatch_collector_records_total\{protocol="NETFLOW_V5",supplier="supplier-a"\} 12/);
    expect(metrics).toMatch(/flowwatch_collector_rejected_total\{protocol="JSON",supplier="supplier-b",reason="invalid_record"\} 1/);
    expect(metrics).toMatch(/flowwatch_collector_kernel_udp_drops_total\{port="\d+"\} 0/);
  });

  it('answers pushes with the right status for auth, size, shape and rate', async () => {
    expect((await push(undefined, '[]')).status).toBe(401);
    expect((await push('token-zzz', '[]')).status).toBe(401);
    const foreign = await push('token-a', JSON.stringify([pushed(1, { supplier_id: 'supplier-b' })]));
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { message: string }).message).toMatch(/supplier_id must be supplier-a/);
    const notJson = await push('token-a', '{{{{');
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ error: 'bad_request' });
    const nested = await push('token-a', `${'['.repeat(20_000)}${']'.repeat(20_000)}`);
    expect(nested.status).toBe(400);
    expect((await push('token-a', JSON.stringify(Array.from({ length: 51 }, (_, i) => pushed(i))))).status).toBe(413);
    expect((await push('token-a', 'x'.repeat(70 * 1024))).status).toBe(413);
    expect((await push('token-a', 'a,b', 'text/csv')).status).toBe(415);
    // supplier-b has used 3 of its 60-record burst; 50 more fit, the next 50 do not.
    expect((await push('token-b', JSON.stringify(Array.from({ length: 50 }, (_, i) => pushed(i))))).status).toBe(202);
    const limited = await push('token-b', JSON.stringify(Array.from({ length: 50 }, (_, i) => pushed(i + 50))));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('collector.timeReceivedFrom = export (time-compressed simulations, replays)', () => {
  it("stamps records with their datagram's export time, sFlow with the latest seen, pushes with their own", async () => {
    const t = await freshTopics('flows-export', 1);
    const c = createCollector(
      { logger: silentLogger, registry: createRegistry(), kafka, producerOptions: { ...producerOptions }, topics: t, readiness: [] },
      { ...collectorConfig(), timeReceivedFrom: 'export', push: { ...collectorConfig().push, rateLimitRecordsPerSecond: 1000 } },
      registryConfig,
    );
    await c.start();
    try {
      // A day in the future, as a simulation at speed 600 would be after 2.4 minutes.
      const future = Math.floor(Date.now() / 1000) + 86_400;
      const v5 = encodeNetflowV5({ sysUptimeMs: 10_000, unixSecs: future, unixNsecs: 5_000_000, flowSequence: 0 }, [
        { src_addr: '10.1.0.1', dst_addr: '10.2.0.1', bytes: 100, packets: 1 },
      ]);
      c.handleDatagram(Buffer.from(v5), { address: '127.0.0.2', port: 9999 });
      const sflow = encodeSflowV5({
        agentAddress: '127.0.0.3',
        sequence: 1,
        uptimeMs: 5,
        flowSamples: [{ flow: { src_addr: '10.1.0.2', dst_addr: '10.2.0.2', proto: 6 } }],
      });
      c.handleDatagram(Buffer.from(sflow), { address: '127.0.0.3', port: 9999 });
      const res = await fetch(`http://127.0.0.1:${c.ports().push}/api/v1/flows`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer token-a' },
        body: JSON.stringify([pushed(9, { time_received_ns: (future + 60) * 1e9 }), pushed(10)]),
      });
      expect(res.status).toBe(202);
      await c.flush();
      const flows = flowsOf(await readTopic(kafka, t.flows, { done: (m) => flowsOf(m).length >= 4 }));
      const byType = (type: string) => flows.filter((f) => f.type === type).map((f) => f.time_received_ns);
      expect(byType('NETFLOW_V5')).toEqual([future * 1e9 + 5_000_000]);
      expect(byType('SFLOW_5')).toEqual([future * 1e9 + 5_000_000]);
      const json = byType('JSON').sort();
      expect(json[1]).toBe((future + 60) * 1e9);
      // A pushed record without a time still gets the clock's.
      expect(Math.abs((json[0] as number) / 1e6 - Date.now())).toBeLessThan(60_000);
    } finally {
      await c.stop();
    }
  });
});

describe('telemetry without flows', () => {
  it('reports an sFlow agent sending only counter samples alive on `flows` (a heartbeat, no records), not one that sends flows', async () => {
    const t = await freshTopics('flows-heartbeat', 1);
    const registry = createRegistry();
    const c = createCollector(
      { logger: silentLogger, registry, kafka, producerOptions: { ...producerOptions }, topics: t, readiness: [] },
      { ...collectorConfig(), heartbeatMs: 500 },
      registryConfig,
    );
    await c.start();
    try {
      const counters = (sequence: number) =>
        Buffer.from(
          encodeSflowV5({
            agentAddress: '127.0.0.3',
            sequence,
            uptimeMs: sequence * 20_000,
            counterSamples: [
              { counters: { sampleSequenceNum: sequence, sourceIdType: 0, sourceIdIndex: 1, ifIndex: 1, ifInOctets: 1000 * sequence } },
            ],
          }),
        );
      const v5 = Buffer.from(
        encodeNetflowV5({ sysUptimeMs: 10_000, unixSecs: Math.floor(Date.now() / 1000), unixNsecs: 0, flowSequence: 0 }, [
          { src_addr: '10.1.0.1', dst_addr: '10.2.0.1', bytes: 100, packets: 1 },
        ]),
      );
      const before = Date.now();
      for (let i = 1; i <= 3; i++) {
        c.handleDatagram(counters(i), { address: '127.0.0.3', port: 6343 });
        c.handleDatagram(v5, { address: '127.0.0.2', port: 2055 });
        await new Promise((r) => setTimeout(r, 300));
      }
      await new Promise((r) => setTimeout(r, 700));
      await c.flush();
      const messages = await readTopic(kafka, t.flows, {
        done: (m) => m.some((x) => heartbeatOf(headersOf(x)) !== undefined),
        quietMs: 1000,
      });
      const beats = messages.map((m) => heartbeatOf(headersOf(m))).filter((b) => b !== undefined);
      expect(beats.length).toBeGreaterThanOrEqual(1);
      // Only the agent that sent no flows; its key keeps it in its exporter's partition order.
      expect(new Set(beats.map((b) => `${b.supplierId}/${b.exporterId}`))).toEqual(new Set(['supplier-b/router-2']));
      for (const b of beats) {
        expect(b.atMs).toBeGreaterThanOrEqual(before - 1);
        expect(b.atMs).toBeLessThanOrEqual(Date.now());
      }
      const heartbeatMessage = messages.find((m) => heartbeatOf(headersOf(m)) !== undefined)!;
      expect(String(heartbeatMessage.key)).toBe('supplier-b/router-2');
      expect(String(heartbeatMessage.value ?? '')).toBe('');
      // Records are unchanged: the v5 exporter's three flows, no record from the counter samples.
      expect(flowsOf(messages)).toHaveLength(3);
      expect(await registry.getSingleMetricAsString('flowwatch_collector_heartbeats_total')).toMatch(
        /flowwatch_collector_heartbeats_total\{supplier="[^"]+"\} [1-9]/,
      );
    } finally {
      await c.stop();
    }
  });
});
