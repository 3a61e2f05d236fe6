import { type AlertInput, type Api, createApi, inputToRow, TokenStore } from '@flowwatch/api';
import { type ClickHouseHandle, migrate, SCHEMA } from '@flowwatch/clickhouse';
import { type ApiConfig, configSchema, type RegistryConfig } from '@flowwatch/config';
import { createRegistry, type Logger } from '@flowwatch/observability';
import type { Kafka } from 'kafkajs';
import { openTestClickHouse } from './clickhouse.js';
import { TEST_ORGS } from './enriched-flows.js';
import { silentLogger } from './logger.js';
import { freePort } from './ports.js';

/** The registry of TEST_ORGS: suppliers sup-a, sup-b, sup-c with the exporters enrichedFlowRows uses. */
export function testRegistry(): RegistryConfig {
  const suppliers = ['sup-a', 'sup-b', 'sup-c'];
  return configSchema.shape.registry.parse({
    suppliers: suppliers.map((id, i) => ({
      id,
      name: `Supplier ${id.slice(4).toUpperCase()}`,
      exporters: [
        { id: `${id}-r1`, address: `192.0.2.${2 * i + 1}` },
        { id: `${id}-r2`, address: `192.0.2.${2 * i + 2}` },
      ],
    })),
    organisations: TEST_ORGS.map((o) => ({ code: o.code, name: `Organisation ${o.code}`, supplier: o.supplier, type: 'acute trust' })),
    services: [{ id: 'spine', name: 'Spine', prefixes: ['10.200.1.0/24'], ports: [443] }],
    groups: [{ id: 'acute', name: 'Acute trusts', organisations: ['RR8', 'RTH'] }],
  });
}

export interface TestApi {
  api: Api;
  clickhouse: ClickHouseHandle;
  tokens: { admin: string; analyst: string; viewer: string; supplierA: string; supplierB: string };
  /** Stores alerts in ClickHouse as the detector would. */
  storeAlerts(alerts: AlertInput[], updatedAtMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface TestApiOptions {
  clickhouse?: ClickHouseHandle;
  kafka?: Kafka;
  alertsTopic?: string;
  /** Listen on a free port (for event streams and browsers); otherwise inject() only. */
  listen?: boolean;
  config?: Record<string, unknown>;
  now?: () => number;
  /** Default: silent. */
  logger?: Logger;
}

/** The API on a migrated test ClickHouse with a token per role (sup-a and sup-b for the supplier role). */
export async function startTestApi(options: TestApiOptions = {}): Promise<TestApi> {
  const clickhouse = options.clickhouse ?? (await openTestClickHouse());
  await migrate(clickhouse.client, SCHEMA, silentLogger);
  const store = new TokenStore(clickhouse.client, { cacheMs: 0 });
  const make = async (name: string, role: 'admin' | 'analyst' | 'viewer' | 'supplier', supplierId?: string) =>
    (await store.create({ name, role, supplierId, createdBy: 'test' })).token;
  const tokens = {
    admin: await make('ada admin', 'admin'),
    analyst: await make('anna analyst', 'analyst'),
    viewer: await make('victor viewer', 'viewer'),
    supplierA: await make('supplier a ops', 'supplier', 'sup-a'),
    supplierB: await make('supplier b ops', 'supplier', 'sup-b'),
  };
  const config: ApiConfig = configSchema.shape.api.parse({
    session: { secureCookie: true },
    stream: { pollMs: 500, trafficIntervalMs: 1000, heartbeatMs: 1000 },
    ...options.config,
  });
  const api = createApi(
    {
      logger: options.logger ?? silentLogger,
      registry: createRegistry(),
      clickhouse: clickhouse.client,
      kafka: options.kafka,
      alertsTopic: options.alertsTopic ?? 'alerts',
      retention: { rawDays: 7, minuteDays: 90, hourDays: 730 },
      registryConfig: testRegistry(),
      serve: options.listen
        ? { listen: { host: '127.0.0.1', port: await freePort() } }
        : { mount: () => () => {}, url: 'http://localhost' },
      now: options.now,
    },
    config,
  );
  await api.start();
  return {
    api,
    clickhouse,
    tokens,
    async storeAlerts(alerts, updatedAtMs = Date.now()) {
      await clickhouse.client.insert({ table: 'alerts', format: 'JSONEachRow', values: alerts.map((a) => inputToRow(a, updatedAtMs)) });
    },
    async stop() {
      await api.stop();
      if (!options.clickhouse) await clickhouse.client.close();
    },
  };
}

let alertCounter = 0;

/** An alert as the detector publishes it; override any field. */
export function testAlert(overrides: Partial<AlertInput> = {}): AlertInput {
  const n = ++alertCounter;
  const now = Date.now();
  return {
    id: `al_${now.toString(36)}_${n}`,
    fingerprint: `port_scan|host:10.1.0.${n}`,
    type: 'port_scan',
    severity: 'high',
    status: 'open',
    entity: { kind: 'host', id: `10.1.0.${n}`, name: `10.1.0.${n} (Organisation RR8)` },
    supplier_ids: ['sup-a'],
    src_org: 'RR8',
    dst_org: 'RTH',
    src_addr: `10.1.0.${n}`,
    dst_addr: '10.4.0.1',
    first_seen: new Date(now - 10 * 60_000).toISOString(),
    last_seen: new Date(now - 60_000).toISOString(),
    detected_at: new Date(now - 30_000).toISOString(),
    observed: 412,
    expected: 20,
    score: 20.6,
    summary: `Port scan from 10.1.0.${n} (RR8): 412 ports in 5 minutes`,
    evidence: {
      top_flows: [
        {
          time: new Date(now - 90_000).toISOString(),
          src_addr: `10.1.0.${n}`,
          dst_addr: '10.4.0.1',
          src_port: 50123,
          dst_port: 22,
          proto: 6,
          bytes: 4400,
          packets: 10,
          src_org: 'RR8',
          dst_org: 'RTH',
          supplier_id: 'sup-a',
          exporter_id: 'sup-a-r1',
        },
      ],
      top_sources: [{ addr: `10.1.0.${n}`, org: 'RR8', flows: 412, bytes: 181_000, packets: 412 }],
      details: { distinct_ports: 412, unit: 'ports' },
    },
    version: 1,
    ...overrides,
  };
}
