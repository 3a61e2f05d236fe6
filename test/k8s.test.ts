import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, loadConfig, SERVICE_NAMES } from '@flowwatch/config';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

/**
 * deploy/k8s without a Kubernetes cluster: every manifest against the Kubernetes JSON schemas
 * (kubernetes-validate, strict: unknown fields are errors), the Prometheus config and rules with
 * promtool, and the manifests against the code: the config the pods would load, their ports and
 * probes, replicas against partitions, the ClickHouse cluster and Kafka they point at.
 * The tools come from test/tools/install.sh; a missing tool fails here, it is never skipped.
 */

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const K8S = join(ROOT, 'deploy/k8s');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
/** The Kubernetes version the manifests are checked against (an API level most clusters serve). */
const KUBERNETES_VERSION = '1.31.0';

// biome-ignore lint/suspicious/noExplicitAny: manifests are read field by field and checked below
type Loose = any;
type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Loose;
  [k: string]: Loose;
};
interface Doc {
  file: string;
  manifest: Manifest;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

/** Files holding Kubernetes objects (kustomization.yaml, flowwatch.yaml and the Prometheus files are not). */
function manifestFiles(): string[] {
  return yamlFiles(K8S)
    .filter((path) => parseAllDocuments(readFileSync(path, 'utf8')).some((d) => (d.toJS() as Manifest | null)?.kind !== undefined))
    .filter((path) => !path.endsWith('kustomization.yaml'))
    .map((path) => relative(K8S, path))
    .sort();
}

function docsOf(file: string): Doc[] {
  return parseAllDocuments(readFileSync(join(K8S, file), 'utf8'))
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null)
    .map((manifest) => ({ file, manifest }));
}

const kustomization = parse(read('deploy/k8s/kustomization.yaml')) as {
  resources: string[];
  configMapGenerator: { name: string; files: string[] }[];
  images: { name: string }[];
};
const applied = kustomization.resources.flatMap(docsOf);
const find = (kind: string, name: string) => applied.find((d) => d.manifest.kind === kind && d.manifest.metadata.name === name)?.manifest;
const secretsExample = docsOf('secrets.example.yaml').map((d) => d.manifest);

// ---------------------------------------------------------------------------------------------
// Tools

function kubernetesValidate(): string {
  const version = /^KUBERNETES_VALIDATE_VERSION=(\S+)$/m.exec(read('test/tools/install.sh'))?.[1];
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  const bin = join(cache, 'flowwatch', `kubernetes-validate-${version}`, 'bin', 'kubernetes-validate');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run bash test/tools/install.sh`);
  return bin;
}

function run(command: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw new Error(`${command}: ${r.error.message} (run bash test/tools/install.sh)`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const validate = (files: string[]) => run(kubernetesValidate(), ['--strict', '--quiet', '-k', KUBERNETES_VERSION, ...files]);

// ---------------------------------------------------------------------------------------------
// The flowwatch containers, as the code sees them

interface FlowwatchPod {
  name: string;
  replicas: number;
  container: Loose;
  pod: Loose;
  config: Config;
}

/** A secretKeyRef's value from secrets.example.yaml (a stand-in when it is left empty there). */
function exampleSecret(name: string, key: string): string | undefined {
  const secret = secretsExample.find((s) => s.metadata.name === name);
  const value = secret?.stringData?.[key] as string | undefined;
  if (value === undefined) return undefined;
  return value === '' ? `example-${key}` : value;
}

function flowwatchPods(): { pods: FlowwatchPod[]; problems: string[] } {
  const problems: string[] = [];
  const pods: FlowwatchPod[] = [];
  const configFile = join(K8S, 'flowwatch/flowwatch.yaml');
  for (const { file, manifest } of applied) {
    const pod = manifest.kind === 'Job' || manifest.kind === 'Deployment' ? manifest.spec.template.spec : undefined;
    const container = pod?.containers?.find((c: { image: string }) => c.image === 'flowwatch');
    if (!container) continue;
    const where = `${file} ${manifest.kind}/${manifest.metadata.name}`;
    const env: Record<string, string> = {};
    for (const e of container.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.secretKeyRef) {
        const { name, key } = e.valueFrom.secretKeyRef;
        const value = exampleSecret(name, key);
        if (value === undefined)
          problems.push(`${where}: ${e.name} refers to secret ${name} key ${key}, which secrets.example.yaml does not have`);
        else env[e.name] = value;
      } else problems.push(`${where}: ${e.name} has neither a value nor a secretKeyRef`);
    }
    const mount = container.volumeMounts?.find((m: { mountPath: string }) => m.mountPath === env.FLOWWATCH_CONFIG);
    const volume = pod.volumes?.find((v: { name: string }) => v.name === mount?.name);
    if (!mount || volume?.configMap?.name !== 'flowwatch-config' || mount.subPath !== 'flowwatch.yaml') {
      problems.push(`${where}: FLOWWATCH_CONFIG (${env.FLOWWATCH_CONFIG}) is not flowwatch.yaml of the ConfigMap flowwatch-config`);
    }
    const loaded = loadConfig({ file: configFile, env: { ...env, FLOWWATCH_CONFIG: configFile } });
    if (!loaded.ok) {
      problems.push(`${where}: ${loaded.error}`);
      continue;
    }
    const config = loaded.config;
    const args: string[] = container.args ?? [];
    if (args[0] === 'start') {
      const i = args.indexOf('--services');
      const names = i < 0 ? [] : (args[i + 1] ?? '').split(',');
      const unknown = names.filter((n) => !SERVICE_NAMES.includes(n));
      if (i < 0 || unknown.length > 0)
        problems.push(`${where}: start --services must name services (${SERVICE_NAMES.join(', ')}): ${args.join(' ')}`);
      config.services = names;
    } else if (args[0] === 'migrate') config.services = [];
    else problems.push(`${where}: runs ${args.join(' ')}, neither start --services nor migrate`);
    pods.push({ name: manifest.metadata.name, replicas: manifest.spec.replicas ?? 1, container, pod, config });
  }
  return { pods, problems };
}

const portNamed = (container: { ports?: { name: string; containerPort: number; protocol?: string }[] }, name: string) =>
  container.ports?.find((p) => p.name === name);

function checkPortsAndProbes(pods: readonly FlowwatchPod[]): string[] {
  const problems: string[] = [];
  for (const { name, container, config } of pods) {
    if (container.args[0] !== 'start') continue;
    const http = portNamed(container, 'http');
    if (http?.containerPort !== config.http.port)
      problems.push(`${name}: port http is ${http?.containerPort}, the HTTP server listens on ${config.http.port}`);
    if (config.http.host !== '0.0.0.0')
      problems.push(`${name}: http.host ${config.http.host}: probes and Prometheus reach the pod IP (use 0.0.0.0)`);
    for (const [probe, path] of [
      ['readinessProbe', '/readyz'],
      ['livenessProbe', '/healthz'],
    ] as const) {
      const get = container[probe]?.httpGet;
      if (get?.path !== path || (get.port !== 'http' && get.port !== config.http.port))
        problems.push(`${name}: ${probe} must GET ${path} on the HTTP port`);
    }
    if (config.services.includes('collector')) {
      const c = config.collector;
      for (const [port, want] of [
        ['netflow', c.netflowPort],
        ['ipfix', c.ipfixPort],
        ['sflow', c.sflowPort],
      ] as const) {
        const p = portNamed(container, port);
        if (p?.containerPort !== want || p.protocol !== 'UDP')
          problems.push(`${name}: port ${port} must be ${want}/UDP (collector config), not ${JSON.stringify(p)}`);
      }
      if (portNamed(container, 'push')?.containerPort !== c.push.port)
        problems.push(`${name}: port push must be collector.push.port ${c.push.port}`);
      if (c.host !== '0.0.0.0' || c.push.host !== '0.0.0.0')
        problems.push(`${name}: collector.host and collector.push.host must be 0.0.0.0 in a pod`);
      for (const f of [c.push.tls?.certFile, c.push.tls?.keyFile, c.push.tls?.caFile].filter(Boolean) as string[]) {
        if (!container.volumeMounts.some((m: { mountPath: string }) => f.startsWith(`${m.mountPath}/`)))
          problems.push(`${name}: ${f} is on no mounted volume`);
      }
    }
  }
  return problems;
}

function checkScale(pods: readonly FlowwatchPod[]): string[] {
  const problems: string[] = [];
  for (const { name, replicas, config } of pods) {
    const partitions = config.kafka.topics.flows.partitions;
    if (config.services.includes('aggregator') && replicas > partitions)
      problems.push(`${name}: ${replicas} replicas but flows has ${partitions} partitions (the rest would sit idle)`);
    if (config.services.includes('detector') && replicas !== 1)
      problems.push(`${name}: ${replicas} replicas; the detector runs one per consumer group (docs/detection.md)`);
  }
  return problems;
}

function checkDependencies(pods: readonly FlowwatchPod[]): string[] {
  const problems: string[] = [];
  const kafka = find('StatefulSet', 'kafka');
  for (const { name, config } of pods) {
    const expected = Array.from({ length: kafka?.spec.replicas ?? 0 }, (_, i) => `kafka-${i}.${kafka?.spec.serviceName}:9092`);
    if (JSON.stringify(config.kafka.brokers) !== JSON.stringify(expected))
      problems.push(`${name}: brokers ${config.kafka.brokers.join(',')} are not the Kafka StatefulSet's pods (${expected.join(',')})`);
    for (const [topic, t] of Object.entries(config.kafka.topics))
      if (t.replicationFactor > (kafka?.spec.replicas ?? 0))
        problems.push(`${name}: topic ${topic} replication ${t.replicationFactor} > brokers`);
    if (!config.kafka.sasl) problems.push(`${name}: no kafka.sasl, but the reference Kafka requires SASL`);
    const url = config.clickhouse.url ? new URL(config.clickhouse.url) : undefined;
    const service = url && find('Service', url.hostname);
    if (!service?.spec.ports.some((p: { port: number }) => String(p.port) === url?.port))
      problems.push(`${name}: CLICKHOUSE_URL ${config.clickhouse.url} is not a Service port of these manifests`);
    if (!config.clickhouse.cluster) problems.push(`${name}: clickhouse.cluster unset, but the manifests run a cluster`);
  }
  return problems;
}

/** remote_servers of config.d/cluster.xml against the ClickHouse StatefulSets and the config's cluster. */
function checkClickHouseCluster(config: Config): string[] {
  const problems: string[] = [];
  const xml = read('deploy/k8s/clickhouse/config.d/cluster.xml');
  const servers = /<remote_servers>\s*<([A-Za-z0-9_-]+)>([\s\S]*?)<\/\1>\s*<\/remote_servers>/.exec(xml);
  if (servers?.[1] !== config.clickhouse.cluster)
    problems.push(`remote_servers defines ${servers?.[1]}, the config's cluster is ${config.clickhouse.cluster}`);
  const shards = [...(servers?.[2] ?? '').matchAll(/<shard>([\s\S]*?)<\/shard>/g)].map((m) =>
    [...(m[1] as string).matchAll(/<host>([^<]+)<\/host>/g)].map((h) => h[1]),
  );
  if (shards.length < 2) problems.push(`remote_servers has ${shards.length} shards`);
  shards.forEach((hosts, i) => {
    const set = find('StatefulSet', `clickhouse-shard${i + 1}`);
    const expected = Array.from({ length: set?.spec.replicas ?? 0 }, (_, r) => `clickhouse-shard${i + 1}-${r}.${set?.spec.serviceName}`);
    if (JSON.stringify(hosts) !== JSON.stringify(expected))
      problems.push(`shard ${i + 1}: hosts ${hosts.join(',')}, StatefulSet pods ${expected.join(',')}`);
    const env = set?.spec.template.spec.containers[0].env ?? [];
    if (!env.some((e: { name: string; value?: string }) => e.name === 'CH_SHARD' && e.value === String(i + 1)))
      problems.push(`shard ${i + 1}: CH_SHARD is not ${i + 1}`);
  });
  for (const macro of ['shard', 'replica']) if (!new RegExp(`<${macro} from_env="\\w+"/>`).test(xml)) problems.push(`no {${macro}} macro`);
  const keeper = find('StatefulSet', 'clickhouse-keeper');
  const nodes = [...xml.matchAll(/<node><host>([^<]+)<\/host>/g)].map((m) => m[1]);
  const keepers = Array.from({ length: keeper?.spec.replicas ?? 0 }, (_, i) => `clickhouse-keeper-${i}.${keeper?.spec.serviceName}`);
  if (JSON.stringify(nodes) !== JSON.stringify(keepers))
    problems.push(`<zookeeper> nodes ${nodes.join(',')} are not the Keeper pods ${keepers.join(',')}`);
  return problems;
}

const loaded = flowwatchPods();
const ok = (problems: readonly string[]) => expect(problems, problems.join('\n')).toEqual([]);

describe('deploy/k8s manifests', () => {
  it('are valid Kubernetes objects (kubernetes-validate --strict)', () => {
    const files = manifestFiles();
    expect(files.length).toBeGreaterThan(8);
    const r = validate(files.map((f) => join(K8S, f)));
    expect(r.output, r.output).not.toMatch(/ERROR|WARN/);
    expect(r.status, r.output).toBe(0);
  });

  it('are all in kustomization.yaml (the secrets example excepted), with every generated ConfigMap present', () => {
    ok(
      manifestFiles()
        .filter((f) => f !== 'secrets.example.yaml' && !kustomization.resources.includes(f))
        .map((f) => `${f} is not a resource`),
    );
    expect(kustomization.resources).not.toContain('secrets.example.yaml');
    const generated = new Set(kustomization.configMapGenerator.map((g) => g.name));
    const problems: string[] = [];
    for (const g of kustomization.configMapGenerator)
      for (const f of g.files) if (!existsSync(join(K8S, f))) problems.push(`${g.name}: ${f} missing`);
    for (const { file, manifest } of applied) {
      const pod = manifest.spec?.template?.spec;
      for (const v of pod?.volumes ?? [])
        if (v.configMap && !generated.has(v.configMap.name)) problems.push(`${file}: ConfigMap ${v.configMap.name} is not generated`);
    }
    ok(problems);
  });

  it('hold no secret values: Secrets come from the cluster, referenced by name', () => {
    expect(applied.filter((d) => d.manifest.kind === 'Secret').map((d) => d.file)).toEqual([]);
    for (const s of secretsExample)
      for (const [k, v] of Object.entries(s.stringData ?? {}))
        if (/password|secret|tls\./.test(k)) expect(v, `${s.metadata.name}.${k}`).toBe('');
  });

  it('give every flowwatch container a configuration that loads, and a known command', () => {
    ok(loaded.problems);
    expect(loaded.pods.map((p) => p.config.services.join(',') || 'migrate').sort()).toEqual([
      'aggregator',
      'api',
      'collector',
      'detector',
      'migrate',
    ]);
  });

  it('expose the ports the processes listen on, with /readyz and /healthz probes', () => {
    ok(checkPortsAndProbes(loaded.pods));
  });

  it('run no more aggregators than flows partitions, and one detector', () => {
    ok(checkScale(loaded.pods));
  });

  it('point flowwatch at the Kafka and ClickHouse they deploy', () => {
    ok(checkDependencies(loaded.pods));
    ok(checkClickHouseCluster((loaded.pods[0] as FlowwatchPod).config));
    const pinned = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(read('deploy/kafka/pom.xml'))?.[1];
    expect(find('StatefulSet', 'kafka')?.spec.template.spec.containers[0].image).toBe(`apache/kafka:${pinned}`);
  });

  it('keep an exporter on one collector and its source address intact', () => {
    const udp = find('Service', 'flowwatch-collector-udp');
    expect(udp?.spec).toMatchObject({ externalTrafficPolicy: 'Local', sessionAffinity: 'ClientIP' });
    expect(udp?.spec.ports.every((p: { protocol: string }) => p.protocol === 'UDP')).toBe(true);
  });
});

describe('Prometheus config and rules', () => {
  const config = parse(read('deploy/k8s/prometheus/prometheus.yml')) as {
    scrape_configs: { job_name: string; dns_sd_configs?: { names: string[]; port: number }[] }[];
  };
  const rules = read('deploy/k8s/prometheus/flowwatch-rules.yml');

  it('pass promtool check config (which checks the rules too), for Kubernetes and for docker-compose', () => {
    for (const file of ['deploy/k8s/prometheus/prometheus.yml', 'deploy/prometheus/prometheus.yml']) {
      const r = run('promtool', ['check', 'config', join(ROOT, file)]);
      expect(r.status, r.output).toBe(0);
    }
    expect(run('promtool', ['check', 'config', join(ROOT, 'deploy/k8s/prometheus/prometheus.yml')]).output).toMatch(
      /SUCCESS: \d+ rules found/,
    );
  });

  it('fire as their unit tests expect (promtool test rules)', () => {
    const r = run('promtool', ['test', 'rules', join(ROOT, 'deploy/k8s/prometheus/flowwatch-rules.test.yml')]);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('scrape each flowwatch service through a headless Service of the manifests, on its HTTP port', () => {
    const problems: string[] = [];
    for (const pod of loaded.pods.filter((p) => p.config.services.length > 0)) {
      const service = pod.config.services[0] as string;
      const job = config.scrape_configs.find((j) => j.job_name === `flowwatch-${service}`);
      const sd = job?.dns_sd_configs?.[0];
      const svcName = sd?.names[0]?.split('.')[0];
      const svc = svcName ? find('Service', svcName) : undefined;
      if (svc?.spec.clusterIP !== 'None' || svc.spec.selector['app.kubernetes.io/component'] !== service)
        problems.push(`job flowwatch-${service}: ${sd?.names[0]} is not a headless Service selecting the ${service} pods`);
      if (sd?.port !== pod.config.http.port) problems.push(`job flowwatch-${service}: port ${sd?.port}, HTTP on ${pod.config.http.port}`);
    }
    ok(problems);
  });

  it('name only jobs that are scraped, and metrics named flowwatch_<service>_<thing>_<unit>', () => {
    const jobs = new Set(config.scrape_configs.map((j) => j.job_name));
    ok(
      [...rules.matchAll(/job="([^"]+)"/g)]
        .map((m) => m[1] as string)
        .filter((j) => !jobs.has(j))
        .map((j) => `rule names job ${j}, not scraped`),
    );
    const metrics = [...rules.matchAll(/\bflowwatch_[a-z0-9_]+/g)].map((m) => m[0]);
    expect(metrics.length).toBeGreaterThan(10);
    ok(
      metrics.filter(
        (m) =>
          !/^flowwatch_(collector|aggregator|detector|api|http|platform)_[a-z0-9_]+_(total|seconds|bytes|messages|count|ratio|info|entities|partitions|flows)$/.test(
            m,
          ),
      ),
    );
  });
});

describe('the checks themselves', () => {
  it('kubernetes-validate fails a broken manifest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-k8s-'));
    const broken = read('deploy/k8s/flowwatch/api.yaml').replace('      containers:', '      contaners:');
    writeFileSync(join(dir, 'api.yaml'), broken);
    const r = validate([join(dir, 'api.yaml')]);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/deployment\/flowwatch-api .*'containers' is a required property/);
  });

  it('promtool fails a rule with a broken expression', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-prom-'));
    writeFileSync(join(dir, 'rules.yml'), rulesWith('sum(rate(flowwatch_collector_records_total[5m])'));
    const r = run('promtool', ['check', 'rules', join(dir, 'rules.yml')]);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/unclosed left parenthesis/);
  });

  it('report a config the pods could not load, and too many aggregators', () => {
    const pods = flowwatchPods().pods;
    const agg = pods.find((p) => p.config.services.includes('aggregator')) as FlowwatchPod;
    expect(checkScale([{ ...agg, replicas: agg.config.kafka.topics.flows.partitions + 1 }]).join('\n')).toMatch(
      /partitions \(the rest would sit idle\)/,
    );
    const collector = pods.find((p) => p.config.services.includes('collector')) as FlowwatchPod;
    const moved = { ...collector, config: { ...collector.config, collector: { ...collector.config.collector, ipfixPort: 4740 } } };
    expect(checkPortsAndProbes([moved]).join('\n')).toMatch(/port ipfix must be 4740\/UDP/);
  });
});

function rulesWith(expr: string): string {
  return `groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: ${expr}\n`;
}
