import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envNameToPath, loadConfig, pathToEnvName, schemaAt } from './load-config.js';

function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-config-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('loadConfig', () => {
  it('validates with no file and no environment (defaults run out of the box)', () => {
    const r = loadConfig({ env: {} });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.http).toEqual({ host: '127.0.0.1', port: 8080, timeouts: { headersMs: 10_000, requestMs: 60_000, idleMs: 30_000 } });
    expect(r.config.kafka.brokers).toEqual([]);
    expect(r.config.kafka.local.port).toBe(9092);
    expect(r.config.kafka.topics.flows).toMatchObject({ name: 'flows', partitions: 2 });
    expect(r.config.kafka.topics.flowsDlq.name).toBe('flows.dlq');
    expect(r.config.clickhouse.url).toBeUndefined();
    expect(r.config.clickhouse.path).toBe('./data/clickhouse');
  });

  it('reads a YAML file and lets the environment override it', () => {
    const file = tempFile(
      'c.yaml',
      'http:\n  port: 9000\nkafka:\n  topics:\n    flows: { name: flows, partitions: 3, retentionMs: 1000 }\n',
    );
    const r = loadConfig({ file, env: { FLOWWATCH__HTTP__PORT: '9100', KAFKA_BROKERS: 'a:9092, b:9093' } });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.http.port).toBe(9100);
    expect(r.config.kafka.topics.flows.partitions).toBe(3);
    expect(r.config.kafka.topics.flows.cleanupPolicy).toBe('delete');
    expect(r.config.kafka.brokers).toEqual(['a:9092', 'b:9093']);
  });

  it('FLOWWATCH_CONFIG names the file when --config is absent', () => {
    const file = tempFile('c.json', JSON.stringify({ log: { level: 'debug' } }));
    const r = loadConfig({ env: { FLOWWATCH_CONFIG: file } });
    expect(r.ok && r.config.log.level).toBe('debug');
  });

  it('names the field, the reason and the source of a bad value in one line', () => {
    const r = loadConfig({ env: { FLOWWATCH__KAFKA__TOPICS__FLOWS__PARTITIONS: '0' } });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatch(/^invalid configuration: kafka\.topics\.flows\.partitions: .*>=\s*1/);
    expect(r.error).toContain('(from FLOWWATCH__KAFKA__TOPICS__FLOWS__PARTITIONS)');
    expect(r.error).not.toContain('\n');
  });

  it('rejects a drop step that does not divide the detector interval', () => {
    const r = loadConfig({ env: { FLOWWATCH__DETECTOR__VOLUME__DROP_STEP_MS: '7000' } });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatch(/detector\.volume\.dropStepMs: volume\.dropStepMs must be 0 or divide intervalMs/);
    expect(loadConfig({ env: { FLOWWATCH__DETECTOR__VOLUME__DROP_STEP_MS: '15000' } }).ok).toBe(true);
  });

  it('rejects a non-numeric port from a file and says which file', () => {
    const file = tempFile('bad.yaml', 'http:\n  port: eighty\n');
    const r = loadConfig({ file, env: {} });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/http\.port: .*number.*\(from file .*bad\.yaml\)/);
  });

  it('rejects unknown keys so typos are not silently ignored', () => {
    const file = tempFile('typo.yaml', 'kafka:\n  borkers: [a:1]\n');
    const r = loadConfig({ file, env: {} });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain('unknown field kafka.borkers');
  });

  it('rejects an environment variable that names no field', () => {
    const r = loadConfig({ env: { FLOWWATCH__KAFKA__NOPE: '1' } });
    expect(r).toEqual({ ok: false, error: 'FLOWWATCH__KAFKA__NOPE: no configuration field kafka.nope' });
  });

  it('rejects a ClickHouse URL that is not http(s)', () => {
    const r = loadConfig({ env: { CLICKHOUSE_URL: 'tcp://localhost:9000' } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/clickhouse\.url: .*\(from CLICKHOUSE_URL\)/);
  });

  it('reports an unreadable file and broken YAML without a stack trace', () => {
    const missing = loadConfig({ file: '/nonexistent/flowwatch.yaml', env: {} });
    expect(missing).toEqual({ ok: false, error: 'cannot read config file /nonexistent/flowwatch.yaml: ENOENT' });
    const broken = loadConfig({ file: tempFile('b.yaml', 'http: [\n'), env: {} });
    expect(broken.ok).toBe(false);
    if (!broken.ok) expect(broken.error).toMatch(/^config file .*b\.yaml: not valid YAML\/JSON: /);
  });

  it('coerces booleans and enums from the environment', () => {
    const r = loadConfig({ env: { FLOWWATCH__KAFKA__SSL: 'true', FLOWWATCH__KAFKA__LOCAL__RUNTIME: 'jvm' } });
    expect(r.ok && r.config.kafka.ssl).toBe(true);
    expect(r.ok && r.config.kafka.local.runtime).toBe('jvm');
  });
});

describe('environment names', () => {
  it('map to schema paths and back', () => {
    expect(envNameToPath('FLOWWATCH__KAFKA__TOPICS__FLOWS_DLQ__PARTITIONS')).toEqual(['kafka', 'topics', 'flowsDlq', 'partitions']);
    expect(pathToEnvName(['kafka', 'local', 'dataDir'])).toBe('FLOWWATCH__KAFKA__LOCAL__DATA_DIR');
    expect(schemaAt(['kafka', 'local', 'dataDir'])).toBe('string');
    expect(schemaAt(['kafka', 'brokers'])).toBe('array');
    expect(schemaAt(['kafka', 'nope'])).toBeUndefined();
  });
});

describe('partial overrides', () => {
  it('overriding one field of a topic keeps the defaults of the others', () => {
    const r = loadConfig({ env: { FLOWWATCH__KAFKA__TOPICS__FLOWS__PARTITIONS: '12' } });
    expect(r.ok && r.config.kafka.topics.flows).toEqual({
      name: 'flows',
      partitions: 12,
      replicationFactor: 1,
      retentionMs: 86_400_000,
      cleanupPolicy: 'delete',
    });
  });
});

describe('flows partitions', () => {
  const partitions = (env: NodeJS.ProcessEnv, file?: string) => {
    const r = loadConfig({ env, file });
    if (!r.ok) throw new Error(r.error);
    return { partitions: r.config.kafka.topics.flows.partitions, source: r.sources['kafka.topics.flows.partitions'] };
  };

  it("with embedded ClickHouse default to the aggregator's partitions handled at once; with a server, 8; configured, as configured", () => {
    expect(partitions({})).toEqual({ partitions: 2, source: 'the default with embedded ClickHouse' });
    expect(partitions({ FLOWWATCH__AGGREGATOR__PARTITIONS_CONCURRENTLY: '3' }).partitions).toBe(3);
    expect(partitions({ CLICKHOUSE_URL: 'http://clickhouse:8123' })).toEqual({ partitions: 8, source: undefined });
    expect(partitions({ FLOWWATCH__KAFKA__TOPICS__FLOWS__PARTITIONS: '8' }).partitions).toBe(8);
    expect(partitions({}, tempFile('p.yaml', 'kafka:\n  topics:\n    flows: { partitions: 5 }\n')).partitions).toBe(5);
    // A malformed section is left for the schema to report, not papered over.
    const bad = loadConfig({ env: {}, file: tempFile('b.yaml', 'kafka:\n  topics:\n    flows: many\n') });
    expect(bad.ok).toBe(false);
  });
});

describe('deploy/config/flowwatch.example.yaml', () => {
  it('validates and equals the defaults it documents', () => {
    const file = new URL('../../../deploy/config/flowwatch.example.yaml', import.meta.url).pathname;
    const fromFile = loadConfig({ file, env: {} });
    const defaults = loadConfig({ env: {} });
    expect(fromFile.ok).toBe(true);
    if (fromFile.ok && defaults.ok) expect(fromFile.config).toEqual(defaults.config);
  });
});

describe('clickhouse.cluster', () => {
  it('is unset by default (single-node tables) and set from FLOWWATCH__CLICKHOUSE__CLUSTER with a server', () => {
    const none = loadConfig({ env: {} });
    expect(none.ok && none.config.clickhouse.cluster).toBeUndefined();
    const r = loadConfig({ env: { CLICKHOUSE_URL: 'http://ch:8123', FLOWWATCH__CLICKHOUSE__CLUSTER: 'flowwatch' } });
    expect(r.ok && r.config.clickhouse.cluster).toBe('flowwatch');
  });

  it('refuses a cluster without a server, and a name that is not one, naming the field', () => {
    const embedded = loadConfig({ env: { FLOWWATCH__CLICKHOUSE__CLUSTER: 'flowwatch' } });
    expect(embedded.ok).toBe(false);
    if (!embedded.ok) expect(embedded.error).toMatch(/clickhouse\.cluster: a cluster needs url/);
    const bad = loadConfig({ env: { CLICKHOUSE_URL: 'http://ch:8123', FLOWWATCH__CLICKHOUSE__CLUSTER: "x' ON" } });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error).toMatch(/clickhouse\.cluster: a cluster name from remote_servers/);
  });
});

describe('registry', () => {
  const supplier = (id: string, address: string) => ({ id, name: id, exporters: [{ id: 'r1', address }] });

  it('accepts suppliers with exporters and hashed push tokens', () => {
    const file = tempFile(
      'reg.yaml',
      `registry:\n  suppliers:\n    - id: supplier-a\n      name: Supplier A\n      exporters: [{ id: core-1, address: "10.0.0.1", samplingRate: 1000 }, { id: core-2, address: "2001:db8::1" }]\n      pushTokens: ["sha256:${'a'.repeat(64)}"]\n`,
    );
    const r = loadConfig({ file, env: {} });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.config.registry.suppliers[0]?.exporters[1]).toEqual({ id: 'core-2', address: '2001:db8::1', samplingRate: 0 });
  });

  it('refuses one exporter address under two suppliers, naming the field', () => {
    const file = tempFile('dup.json', JSON.stringify({ registry: { suppliers: [supplier('a', '10.0.0.1'), supplier('b', '10.0.0.1')] } }));
    const r = loadConfig({ file, env: {} });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain('registry.suppliers.1.exporters.0.address: 10.0.0.1 is already an exporter of a');
  });

  it('refuses a plain-text push token', () => {
    const file = tempFile(
      'tok.json',
      JSON.stringify({ registry: { suppliers: [{ ...supplier('a', '10.0.0.1'), pushTokens: ['letmein'] }] } }),
    );
    const r = loadConfig({ file, env: {} });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/registry\.suppliers\.0\.pushTokens\.0: sha256:<64 hex digits>/);
  });
});
