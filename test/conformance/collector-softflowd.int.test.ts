import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Collector, createCollector, hashToken } from '@flowwatch/collector';
import { configSchema, type RegistryConfig } from '@flowwatch/config';
import { type DeadLetter, decodeFlows, type FlowRecord, type FlowsEncoding, flowsSchema } from '@flowwatch/flow-schema';
import { ensureTopics } from '@flowwatch/kafka';
import { createRegistry } from '@flowwatch/observability';
import { readTopic, silentLogger, syntheticTraffic, testKafka, uniqueName } from '@flowwatch/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import { conversationTuples, runSoftflowd, sortTuples, tuple } from './softflowd.js';

/**
 * The collector end to end against a real exporter: softflowd reads a capture of known
 * conversations and exports them over UDP to a running collector (real Kafka), while a supplier
 * pushes JSON; every conversation must be in `flows` exactly once with its exact packets and
 * bytes, and the bad pushed record in `flows.dlq` with its reason.
 */
const dir = mkdtempSync(join(tmpdir(), 'fw-collector-softflowd-'));
const traffic = syntheticTraffic(60);
const trafficFile = join(dir, 'traffic.pcap');
writeFileSync(trafficFile, traffic.pcap);
const { kafka } = testKafka();

const registry: RegistryConfig = {
  organisations: [],
  services: [],
  groups: [],
  suppliers: [
    {
      id: 'supplier-s',
      name: 'S',
      // softflowd sends from the loopback address it reaches the collector on.
      exporters: [{ id: 'softflowd', address: '127.0.0.1', samplingRate: 0 }],
      pushTokens: [hashToken('token-s')],
      clientCertFingerprints: [],
    },
  ],
};

let collector: Collector | undefined;
afterEach(async () => {
  await collector?.stop();
  collector = undefined;
});

describe('softflowd over UDP and JSON pushes -> the collector -> `flows` (real Kafka)', () => {
  for (const [version, workers, encoding] of [
    [9, 1, 'binary'],
    [10, 0, 'ndjson'],
  ] as const) {
    it(`NetFlow ${version === 10 ? 'IPFIX' : `v${version}`}, ${workers} decode worker(s), ${encoding}: every conversation once, exact; the bad push dead-lettered`, async () => {
      const topics = { flows: uniqueName('flows-softflowd'), dlq: uniqueName('flows-softflowd.dlq') };
      await ensureTopics(
        kafka,
        [
          { name: topics.flows, partitions: 3, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
          { name: topics.dlq, partitions: 1, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
        ],
        silentLogger,
      );
      // The defaults, on ports the system picks (the schema asks for real ports, 0 is for tests).
      const config = configSchema.parse({ collector: { workers, flowsEncoding: encoding satisfies FlowsEncoding } });
      const collectorConfig = {
        ...config.collector,
        host: '127.0.0.1',
        netflowPort: 0,
        ipfixPort: 0,
        sflowPort: 0,
        push: { ...config.collector.push, host: '127.0.0.1', port: 0 },
      };
      const c = createCollector(
        {
          logger: silentLogger,
          registry: createRegistry(),
          kafka,
          producerOptions: { ...config.kafka.producer, lingerMs: 5 },
          topics,
          readiness: [],
        },
        collectorConfig,
        registry,
      );
      collector = c;
      await c.start();
      const port = version === 10 ? c.ports().ipfix : c.ports().netflow;
      await runSoftflowd(trafficFile, port, version);
      const pushed = await fetch(`http://127.0.0.1:${c.ports().push}/api/v1/flows`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer token-s' },
        body: JSON.stringify([
          { src_addr: '10.99.0.1', dst_addr: '10.99.0.2', src_port: 5000, dst_port: 443, proto: 6, bytes: 1234, packets: 5 },
          { src_addr: 'not-an-address', dst_addr: '10.99.0.2', bytes: 1 },
        ]),
      });
      expect(await pushed.json()).toMatchObject({ accepted: 1, rejected: 1, reasons: { invalid_record: 1 } });
      await c.flush();

      const expected = traffic.conversations.length + 1;
      const messages = await readTopic(kafka, topics.flows, {
        done: (m) => m.flatMap((x) => (x.value ? decodeFlows(x.value).records : [])).length >= expected,
        quietMs: 1500,
      });
      expect(new Set(messages.map((m) => String(m.headers?.schema ?? '')))).toEqual(new Set([flowsSchema(encoding)]));
      const flows: FlowRecord[] = messages.flatMap((m) => (m.value ? decodeFlows(m.value).records : []));
      const exported = flows.filter((f) => f.exporter_id === 'softflowd');
      expect(exported.every((f) => f.supplier_id === 'supplier-s' && f.type === (version === 10 ? 'IPFIX' : 'NETFLOW_V9'))).toBe(true);
      // Exactly once: the multiset of (addresses, ports, protocol, bytes, packets) is the capture's.
      expect(sortTuples(exported.map(tuple))).toEqual(sortTuples(conversationTuples(traffic.conversations)));
      expect(flows.filter((f) => f.type === 'JSON').map(tuple)).toEqual([['10.99.0.1', '10.99.0.2', 5000, 443, 6, 1234, 5]]);
      expect(flows).toHaveLength(expected);

      const dlq = (await readTopic(kafka, topics.dlq, { done: (m) => m.length >= 1 })).map(
        (m) => JSON.parse(String(m.value)) as DeadLetter,
      );
      expect(dlq.map((d) => [d.reason, d.source, d.supplier_id])).toEqual([['invalid_record', 'push:supplier-s', 'supplier-s']]);
    });
  }
});
