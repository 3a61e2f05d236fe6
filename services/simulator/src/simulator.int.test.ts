import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Collector, createCollector } from '@flowwatch/collector';
import { type CollectorConfig, configSchema } from '@flowwatch/config';
import { Enricher } from '@flowwatch/enrichment';
import { decodeFlows, type FlowRecord } from '@flowwatch/flow-schema';
import { ensureTopics } from '@flowwatch/kafka';
import { createRegistry } from '@flowwatch/observability';
import { type Label, planSimulation } from '@flowwatch/simulator';
import { readTopic, silentLogger, testKafka, uniqueName } from '@flowwatch/test-support';
import type { KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectorTarget, createSimulator, type Simulator } from './simulator.js';

/**
 * The simulator against a real collector and Kafka: the collector knows only the simulated
 * network's registry, so every datagram must come from a registered exporter address and every
 * push carry a registered token. Five minutes of event time at 30x (10 s), with a port scan.
 */

const START = '2026-11-24T10:00:00.000Z'; // a Tuesday morning, days ahead of the wall clock
const dir = mkdtempSync(join(tmpdir(), 'fw-sim-int-'));
const labelsFile = join(dir, 'labels.jsonl');
const simConfig = configSchema.shape.simulator.parse({
  seed: 99,
  rate: 3000,
  speed: 30,
  start: START,
  duration: '5m',
  network: { organisations: 80 },
  scenarios: [{ name: 'port-scan', at: '+1m', duration: '2m', params: { rate: 3 } }],
  labelsFile,
});
const plan = planSimulation(simConfig, Date.now());

// Defaults, on ports the OS picks (port 0, which the schema does not allow a person to configure).
const defaults = configSchema.shape.collector.parse({
  receiveBufferBytes: 4 << 20,
  timeReceivedFrom: 'export',
  push: { rateLimitRecordsPerSecond: 100_000, rateLimitBurst: 100_000 },
});
const collectorConfig: CollectorConfig = { ...defaults, netflowPort: 0, ipfixPort: 0, sflowPort: 0, push: { ...defaults.push, port: 0 } };

const { kafka } = testKafka();
const topics = { flows: uniqueName('sim-flows'), dlq: uniqueName('sim-flows.dlq') };
const collectorMetrics = createRegistry();
const simulatorMetrics = createRegistry();
let collector: Collector;
let simulator: Simulator;
let flows: FlowRecord[] = [];
let wallSeconds = 0;

const flowsOf = (messages: KafkaMessage[]) => messages.flatMap((m) => decodeFlows(m.value as Buffer).records);
const metricValues = (text: string, name: string) =>
  [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\d+)`, 'gm'))].map((m) => ({ labels: m[1] as string, value: Number(m[2]) }));
const supplierOf = (labels: string) => /supplier="([^"]+)"/.exec(labels)?.[1] as string;

beforeAll(async () => {
  await ensureTopics(
    kafka,
    [
      { name: topics.flows, partitions: 4, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
      { name: topics.dlq, partitions: 1, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
    ],
    silentLogger,
  );
  collector = createCollector(
    {
      logger: silentLogger,
      registry: collectorMetrics,
      kafka,
      producerOptions: {
        maxBufferedMessages: 100_000,
        maxBufferedBytes: 256 << 20,
        lingerMs: 10,
        batchMaxMessages: 2000,
        compression: 'gzip',
        acks: -1,
        retryBackoffMs: 100,
      },
      topics,
      readiness: [],
    },
    collectorConfig,
    plan.network.registry,
  );
  await collector.start();
  const ports = collector.ports();
  const target = collectorTarget({
    ...collectorConfig,
    netflowPort: ports.netflow,
    ipfixPort: ports.ipfix,
    sflowPort: ports.sflow,
    push: { ...collectorConfig.push, port: ports.push },
  });
  simulator = createSimulator({ logger: silentLogger, registry: simulatorMetrics }, simConfig, plan, target);
  const t0 = Date.now();
  await simulator.start();
  await simulator.done;
  await simulator.stop();
  wallSeconds = (Date.now() - t0) / 1000;
  await collector.flush();
  const sent = simulator.stats().records;
  flows = flowsOf(await readTopic(kafka, topics.flows, { done: (m) => flowsOf(m).length >= sent, quietMs: 1500, timeoutMs: 60_000 }));
}, 120_000);

afterAll(async () => {
  await simulator?.stop();
  await collector?.stop();
});

describe('simulator -> collector -> Kafka', () => {
  it('takes the simulated duration at the configured speed', () => {
    expect(simulator.stats().eventMs).toBe(Date.parse(START) + 5 * 60_000);
    expect(wallSeconds).toBeGreaterThan(9);
    expect(wallSeconds).toBeLessThan(40); // 10 s, plus slack for a loaded machine
  });

  it('delivers every record it sent, for every supplier, under that supplier and one of its exporters', async () => {
    const text = await simulatorMetrics.metrics();
    const sentBySupplier = new Map<string, number>();
    for (const m of metricValues(text, 'flowwatch_simulator_records_total')) {
      const s = supplierOf(m.labels);
      sentBySupplier.set(s, (sentBySupplier.get(s) ?? 0) + m.value);
    }
    const gotBySupplier = new Map<string, number>();
    for (const f of flows) gotBySupplier.set(f.supplier_id, (gotBySupplier.get(f.supplier_id) ?? 0) + 1);
    expect([...gotBySupplier.keys()].sort()).toEqual(plan.network.suppliers.map((s) => s.id).sort());
    expect(Object.fromEntries(gotBySupplier)).toEqual(Object.fromEntries(sentBySupplier));
    for (const s of plan.network.suppliers) {
      expect(gotBySupplier.get(s.id) ?? 0, s.id).toBeGreaterThan(10);
      const ids = new Set(s.exporters.map((e) => e.id));
      expect(flows.filter((f) => f.supplier_id === s.id).every((f) => ids.has(f.exporter_id))).toBe(true);
      expect(new Set(flows.filter((f) => f.supplier_id === s.id).map((f) => f.type))).toEqual(
        new Set([{ netflow5: 'NETFLOW_V5', netflow9: 'NETFLOW_V9', ipfix: 'IPFIX', sflow5: 'SFLOW_5', json: 'JSON' }[s.protocol]]),
      );
    }
  });

  it("attributes each record to the supplier whose organisation it belongs to, by the registry's prefixes", () => {
    const enricher = new Enricher(plan.network.registry);
    const wrong = flows.filter((f) => {
      const e = enricher.enrich(f);
      return e.src_org_supplier !== f.supplier_id && e.dst_org_supplier !== f.supplier_id;
    });
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it('puts nothing in the unknown-source counters, the rejections or flows.dlq', async () => {
    const text = await collectorMetrics.metrics();
    expect(text).not.toMatch(/^flowwatch_collector_unknown_source_datagrams_total [1-9]/m);
    expect(metricValues(text, 'flowwatch_collector_rejected_total')).toEqual([]);
    expect(collector.unknownSources()).toEqual([]);
    const dlq = await readTopic(kafka, topics.dlq, { done: () => true, quietMs: 1000, timeoutMs: 5000 });
    expect(dlq.map((m) => String(m.value).slice(0, 300))).toEqual([]);
    const sim = await simulatorMetrics.metrics();
    expect(metricValues(sim, 'flowwatch_simulator_send_errors_total')).toEqual([]);
  });

  it('carries event time, not the wall clock: records are stamped with their export time (collector.timeReceivedFrom: export)', () => {
    const start = Date.parse(START) * 1e6;
    const end = start + 5 * 60_000 * 1e6;
    for (const f of flows) {
      expect(f.time_received_ns).toBeGreaterThan(start);
      expect(f.time_received_ns).toBeLessThanOrEqual(end + 1e6);
      if (f.type !== 'SFLOW_5') {
        // Exported when the slot (3 s at 30x) holding its end was over.
        expect(f.time_received_ns - f.time_flow_end_ns).toBeGreaterThanOrEqual(-1e6);
        expect(f.time_received_ns - f.time_flow_end_ns).toBeLessThanOrEqual(3_000 * 1e6 + 1e6);
      }
    }
  });

  it("writes the port scan's label, and the scanner's probes are in Kafka", () => {
    const labels = readFileSync(labelsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Label);
    expect(labels).toHaveLength(1);
    const l = labels[0] as Label;
    expect(l).toMatchObject({ type: 'port_scan', start: '2026-11-24T10:01:00.000Z', end: '2026-11-24T10:03:00.000Z', truncated: false });
    const probes = flows.filter((f) => f.src_addr === l.entity.id && f.dst_addr === l.facts.target && f.tcp_flags === 0x02);
    expect(Math.abs(probes.length - 3 * 120)).toBeLessThanOrEqual(2);
  });
});
