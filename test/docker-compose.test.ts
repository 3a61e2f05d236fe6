import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CONFIG_FILE_ENV,
  type Config,
  ENV_ALIASES,
  ENV_PREFIX,
  envNameToPath,
  loadConfig,
  SERVICE_NAMES,
  schemaAt,
} from '@flowwatch/config';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * docker-compose.yml, the Dockerfile and deploy/prometheus/prometheus.yml against the code, without
 * Docker: a misspelt variable, a port that does not match the HTTP server, an unknown service name or
 * a scrape target nobody listens on would otherwise only show when someone runs the stack.
 * Every check returns its problems as sentences, so a failure says what to fix and where.
 */

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

interface PortLong {
  target: number | string;
  published?: number | string;
  host_ip?: string;
  protocol?: string;
}
interface Volume {
  type?: string;
  source?: string;
  target?: string;
}
interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | PortLong)[];
  expose?: (string | number)[];
  depends_on?: string[] | Record<string, { condition?: string } | null>;
  healthcheck?: { test?: unknown; disable?: boolean };
  volumes?: (string | Volume)[];
}
interface Compose {
  services: Record<string, ComposeService>;
}
interface Prometheus {
  scrape_configs?: {
    job_name: string;
    metrics_path?: string;
    scheme?: string;
    static_configs?: { targets?: string[] }[];
  }[];
}

function loadCompose(text: string): Compose {
  // Merge keys (<<: *flowwatch) share settings between the flowwatch containers; compose supports them.
  const compose = parse(text, { merge: true }) as Compose;
  if (!compose?.services || typeof compose.services !== 'object') throw new Error('docker-compose.yml has no services');
  return compose;
}

// ---------------------------------------------------------------------------------------------
// Reading compose the way `docker compose` does (the parts the checks need)

/** ${VAR:-default} and friends, with every variable unset so the result does not depend on this shell. */
function interpolate(value: string): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, _braced: string | undefined, op: string | undefined, arg: string | undefined) => {
      if (match === '$$') return '$';
      return op === '-' || op === ':-' ? (arg ?? '') : '';
    },
  );
}

/** The container's variables; a name without a value (passed through from the host) maps to undefined. */
function environmentOf(service: ComposeService): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  const raw = service.environment ?? {};
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      const eq = entry.indexOf('=');
      if (eq < 0) env[entry] = undefined;
      else env[entry.slice(0, eq)] = interpolate(entry.slice(eq + 1));
    }
  } else {
    for (const [name, value] of Object.entries(raw)) {
      env[name] = value === null || value === undefined ? undefined : interpolate(String(value));
    }
  }
  return env;
}

/** Services running the flowwatch image: built from this repository, or an image named flowwatch. */
function isFlowwatchService(service: ComposeService): boolean {
  const context = typeof service.build === 'string' ? service.build : service.build?.context;
  if (context !== undefined && resolve(ROOT, context) === resolve(ROOT)) return true;
  const repository = service.image?.split('@')[0]?.replace(/:[^/:]*$/, '');
  return repository?.split('/').pop() === 'flowwatch';
}

function flowwatchServices(compose: Compose): [string, ComposeService][] {
  return Object.entries(compose.services).filter(([, service]) => isFlowwatchService(service));
}

interface PortMapping {
  hostIp: string | undefined;
  published: string | undefined;
  target: number;
  protocol: string;
  text: string;
}

/** Short ("127.0.0.1:8080:8080/tcp", "[::1]:80:80") and long syntax. */
function parsePort(entry: string | number | PortLong): PortMapping | string {
  if (typeof entry === 'object') {
    return {
      hostIp: entry.host_ip,
      published: entry.published === undefined ? undefined : String(entry.published),
      target: Number(entry.target),
      protocol: entry.protocol ?? 'tcp',
      text: JSON.stringify(entry),
    };
  }
  const text = String(entry);
  const m = /^(?:(?:\[([^\]]+)\]|([^:[\]]+)):)??(?:([^:]*):)?(\d+)(?:\/(tcp|udp|sctp))?$/.exec(text);
  if (!m) return `cannot read port mapping "${text}" (ranges are not supported here)`;
  return { hostIp: m[1] ?? m[2], published: m[3] || undefined, target: Number(m[4]), protocol: m[5] ?? 'tcp', text };
}

/** The arguments after the image's ENTRYPOINT: compose's `command`, else the Dockerfile's CMD. */
function commandOf(service: ComposeService, dockerfile: DockerfileFinalStage): string[] {
  if (service.command === undefined) return dockerfile.cmd ?? [];
  return Array.isArray(service.command) ? service.command.map(String) : service.command.trim().split(/\s+/);
}

function cliOption(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === `--${name}`) return args[i + 1] ?? '';
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
  }
  return undefined;
}

/** A path inside the container, as a path in this repository (bind mounts, or the image's copy of it). */
function repoPathOf(service: ComposeService, containerPath: string, workdir: string): string | undefined {
  const absolute = posix.resolve(workdir, containerPath);
  for (const volume of service.volumes ?? []) {
    const [source, target] =
      typeof volume === 'string' ? volume.split(':') : volume.type === 'bind' ? [volume.source, volume.target] : [undefined, undefined];
    if (!source || !target || !/^[./]/.test(source)) continue;
    if (absolute === target || absolute.startsWith(`${target}/`)) return join(resolve(ROOT, source), absolute.slice(target.length));
  }
  if (absolute.startsWith(`${workdir}/`)) return join(ROOT, absolute.slice(workdir.length + 1));
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The Dockerfile

interface DockerfileFinalStage {
  workdir: string;
  entrypoint: string[] | undefined;
  cmd: string[] | undefined;
  user: string | undefined;
  expose: number[];
  healthcheck: string | undefined;
  /** Every RUN of every stage. */
  runs: string[];
}

function readDockerfile(text: string): DockerfileFinalStage {
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  let stage: DockerfileFinalStage = {
    workdir: '/',
    entrypoint: undefined,
    cmd: undefined,
    user: undefined,
    expose: [],
    healthcheck: undefined,
    runs: [],
  };
  const runs: string[] = [];
  const execForm = (rest: string): string[] => {
    const parsed: unknown = JSON.parse(rest);
    if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not an exec form: ${rest}`);
    return parsed;
  };
  for (const line of lines) {
    const [, instruction = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    switch (instruction.toUpperCase()) {
      case 'FROM':
        stage = { workdir: '/', entrypoint: undefined, cmd: undefined, user: undefined, expose: [], healthcheck: undefined, runs };
        break;
      case 'WORKDIR':
        stage.workdir = posix.resolve(stage.workdir, rest);
        break;
      case 'ENTRYPOINT':
        stage.entrypoint = execForm(rest);
        break;
      case 'CMD':
        stage.cmd = execForm(rest);
        break;
      case 'USER':
        stage.user = rest;
        break;
      case 'EXPOSE':
        stage.expose.push(...rest.split(/\s+/).map((p) => Number.parseInt(p, 10)));
        break;
      case 'HEALTHCHECK':
        stage.healthcheck = rest;
        break;
      case 'RUN':
        runs.push(rest);
        break;
    }
  }
  return stage;
}

// ---------------------------------------------------------------------------------------------
// The checks

/** Variables a flowwatch process does not read (the process would refuse to start on a FLOWWATCH__ one). */
function unknownEnvVars(names: readonly string[]): string[] {
  const problems: string[] = [];
  for (const name of names) {
    if (name in ENV_ALIASES || name === CONFIG_FILE_ENV) continue;
    if (name.startsWith(ENV_PREFIX)) {
      const path = envNameToPath(name);
      if (schemaAt(path) === undefined) problems.push(`${name}: no configuration field ${path.join('.')}`);
      continue;
    }
    problems.push(
      `${name}: not a flowwatch variable (use one of ${Object.keys(ENV_ALIASES).join(', ')}, ${CONFIG_FILE_ENV} or ${ENV_PREFIX}SECTION__FIELD)`,
    );
  }
  return problems;
}

interface FlowwatchContainer {
  name: string;
  service: ComposeService;
  env: Record<string, string | undefined>;
  args: string[];
  config: Config;
}

/** Loads each flowwatch container's configuration as its process would, with --services and --config applied. */
function flowwatchContainers(compose: Compose, dockerfile: DockerfileFinalStage): { containers: FlowwatchContainer[]; problems: string[] } {
  const containers: FlowwatchContainer[] = [];
  const problems: string[] = [];
  for (const [name, service] of flowwatchServices(compose)) {
    const env = environmentOf(service);
    const args = commandOf(service, dockerfile);
    problems.push(...unknownEnvVars(Object.keys(env)).map((p) => `${name}: environment ${p}`));

    // `flowwatch start --services a,b` replaces the configured list; each name must be known.
    const servicesArg = cliOption(args, 'services');
    const names = servicesArg
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const unknown = names?.filter((n) => !SERVICE_NAMES.includes(n)) ?? [];
    if (names && (names.length === 0 || unknown.length > 0)) {
      const known = SERVICE_NAMES.join(', ') || 'none yet';
      problems.push(`${name}: --services ${servicesArg}: not a service: ${unknown.join(', ') || '(empty)'} (known: ${known})`);
      continue;
    }

    const configArg = cliOption(args, 'config') ?? env[CONFIG_FILE_ENV];
    let file: string | undefined;
    if (configArg) {
      file = repoPathOf(service, configArg, dockerfile.workdir);
      if (!file || !existsSync(file)) {
        problems.push(`${name}: config file ${configArg} is neither bind-mounted from this repository nor in the image`);
        continue;
      }
    }
    const loaded = loadConfig({ file, env: { ...env, [CONFIG_FILE_ENV]: undefined } });
    if (!loaded.ok) {
      problems.push(`${name}: ${loaded.error}`);
      continue;
    }
    if (names) loaded.config.services = names;
    containers.push({ name, service, env, args, config: loaded.config });
  }
  return { containers, problems };
}

interface Listener {
  port: number;
  protocol: 'tcp' | 'udp';
  host: string;
  what: string;
}

/** What a flowwatch process listens on: its HTTP server, plus the collector's sockets when it runs the collector. */
function listenersOf(config: Config): Listener[] {
  const listeners: Listener[] = [{ port: config.http.port, protocol: 'tcp', host: config.http.host, what: 'http.port' }];
  if (config.services.includes('collector')) {
    const c = config.collector;
    for (const key of ['netflowPort', 'ipfixPort', 'sflowPort'] as const) {
      listeners.push({ port: c[key], protocol: 'udp', host: c.host, what: `collector.${key}` });
    }
    if (c.push.enabled) listeners.push({ port: c.push.port, protocol: 'tcp', host: c.push.host, what: 'collector.push.port' });
  }
  return listeners;
}

const LOOPBACK = /^(127\.|localhost$|::1$|::ffff:127\.)/;
const HOST_ENV_OF: Record<string, string> = {
  'http.port': 'FLOWWATCH__HTTP__HOST',
  'collector.push.port': 'FLOWWATCH__COLLECTOR__PUSH__HOST',
};

function checkPorts(compose: Compose, containers: readonly FlowwatchContainer[]): string[] {
  const problems: string[] = [];
  const published = new Map<string, string>();
  for (const [name, service] of Object.entries(compose.services)) {
    for (const entry of service.ports ?? []) {
      const mapping = parsePort(entry);
      if (typeof mapping === 'string') {
        problems.push(`${name}: ${mapping}`);
        continue;
      }
      if (mapping.hostIp !== '127.0.0.1') {
        problems.push(
          `${name}: port "${mapping.text}" must be published on 127.0.0.1 only (127.0.0.1:${mapping.published ?? mapping.target}:${mapping.target})`,
        );
      }
      const key = `${mapping.hostIp}:${mapping.published ?? mapping.target}/${mapping.protocol}`;
      const other = published.get(key);
      if (other) problems.push(`${name}: host port ${key} is already published by ${other}`);
      published.set(key, name);
    }
  }
  for (const { name, service, env, config } of containers) {
    const listeners = listenersOf(config);
    const seen = new Map<string, string>();
    for (const l of listeners) {
      const other = seen.get(`${l.port}/${l.protocol}`);
      if (other) problems.push(`${name}: ${l.what} and ${other} are both ${l.port}/${l.protocol} in the same container`);
      seen.set(`${l.port}/${l.protocol}`, l.what);
    }
    for (const entry of service.ports ?? []) {
      const mapping = parsePort(entry);
      if (typeof mapping === 'string') continue;
      const listener = listeners.find((l) => l.port === mapping.target && l.protocol === mapping.protocol);
      if (!listener) {
        problems.push(
          `${name}: port "${mapping.text}" maps to container port ${mapping.target}/${mapping.protocol}, but the HTTP server listens on ` +
            `${config.http.port} (FLOWWATCH__HTTP__PORT ${env.FLOWWATCH__HTTP__PORT ?? 'unset: the default'})`,
        );
      } else if (LOOPBACK.test(listener.host)) {
        const hostVar = HOST_ENV_OF[listener.what] ?? 'FLOWWATCH__COLLECTOR__HOST';
        problems.push(
          `${name}: publishes ${mapping.target}/${mapping.protocol}, but ${listener.what} listens on ${listener.host} in the container; set ${hostVar}=0.0.0.0`,
        );
      }
    }
  }
  return problems;
}

function checkPrometheus(compose: Compose, prometheus: Prometheus, containers: readonly FlowwatchContainer[]): string[] {
  const problems: string[] = [];
  const scraped = new Set<string>();
  for (const job of prometheus.scrape_configs ?? []) {
    if (job.metrics_path !== undefined && job.metrics_path !== '/metrics')
      problems.push(`job ${job.job_name}: metrics_path must be /metrics`);
    if (job.scheme !== undefined && job.scheme !== 'http') problems.push(`job ${job.job_name}: flowwatch serves /metrics over plain http`);
    for (const target of (job.static_configs ?? []).flatMap((s) => s.targets ?? [])) {
      const [, host = '', portText = ''] = /^([^:]+):(\d+)$/.exec(target) ?? [];
      const service = compose.services[host];
      if (!service) {
        problems.push(
          `job ${job.job_name}: target ${target} is not <compose service>:<port> (services: ${Object.keys(compose.services).join(', ')})`,
        );
        continue;
      }
      const port = Number(portText);
      const container = containers.find((c) => c.name === host);
      if (isFlowwatchService(service)) {
        scraped.add(host);
        if (job.job_name !== host)
          problems.push(`job ${job.job_name}: scrapes ${host}; name the job after the service (one job per service)`);
        // A container whose configuration does not load is reported by the configuration check.
        if (container && port !== container.config.http.port) {
          problems.push(`job ${job.job_name}: target ${target}, but ${host}'s HTTP server listens on ${container.config.http.port}`);
        }
      } else {
        const ports = [
          ...(service.ports ?? []).map(parsePort).flatMap((p) => (typeof p === 'string' ? [] : [p.target])),
          ...(service.expose ?? []).map(Number),
        ];
        if (!ports.includes(port))
          problems.push(`job ${job.job_name}: target ${target}, but ${host} neither publishes nor exposes ${port}`);
      }
    }
  }
  for (const [name] of flowwatchServices(compose)) {
    const port = containers.find((c) => c.name === name)?.config.http.port ?? '<FLOWWATCH__HTTP__PORT>';
    if (!scraped.has(name)) problems.push(`${name}: not scraped by Prometheus (add a job ${name} with target ${name}:${port})`);
  }
  return problems;
}

function hasHealthcheck(service: ComposeService, dockerfile: DockerfileFinalStage): boolean {
  if (service.healthcheck?.disable) return false;
  if (service.healthcheck?.test !== undefined) return true;
  return isFlowwatchService(service) && dockerfile.healthcheck !== undefined;
}

function checkDependsOn(compose: Compose, dockerfile: DockerfileFinalStage): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(compose.services)) {
    const deps = service.depends_on ?? [];
    const entries: [string, string][] = Array.isArray(deps)
      ? deps.map((d) => [d, 'service_started'])
      : Object.entries(deps).map(([d, v]) => [d, v?.condition ?? 'service_started']);
    for (const [dep, condition] of entries) {
      const target = compose.services[dep];
      if (!target) {
        problems.push(`${name}: depends_on ${dep}, which is not a service`);
      } else if (condition === 'service_healthy' && !hasHealthcheck(target, dockerfile)) {
        problems.push(`${name}: waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
      } else if (!['service_started', 'service_healthy', 'service_completed_successfully'].includes(condition)) {
        problems.push(`${name}: depends_on ${dep}: unknown condition ${condition}`);
      }
    }
  }
  return problems;
}

/** The brokers and ClickHouse each flowwatch container is given are services it waits for, with matching settings. */
function checkDependencies(compose: Compose, containers: readonly FlowwatchContainer[]): string[] {
  const problems: string[] = [];
  for (const { name, service, config } of containers) {
    const deps = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
    if (config.kafka.brokers.length === 0)
      problems.push(`${name}: no KAFKA_BROKERS, so it would try to run its own broker (no Java in the image)`);
    for (const broker of config.kafka.brokers) {
      const [host] = broker.split(':') as [string];
      const kafka = compose.services[host];
      if (!kafka) {
        problems.push(`${name}: broker ${broker} is not a compose service`);
        continue;
      }
      if (!deps.includes(host)) problems.push(`${name}: uses broker ${broker} but does not depend_on ${host}`);
      const advertised = environmentOf(kafka).KAFKA_ADVERTISED_LISTENERS ?? '';
      if (!advertised.split(',').some((l) => l.endsWith(`//${broker}`))) {
        problems.push(`${name}: broker ${broker} is not in ${host}'s KAFKA_ADVERTISED_LISTENERS (${advertised})`);
      }
    }
    if (config.clickhouse.url === undefined) {
      problems.push(`${name}: no CLICKHOUSE_URL, so it would use the embedded engine, which the image leaves out`);
      continue;
    }
    const host = new URL(config.clickhouse.url).hostname;
    const clickhouse = compose.services[host];
    if (!clickhouse) {
      problems.push(`${name}: CLICKHOUSE_URL ${config.clickhouse.url} is not a compose service`);
      continue;
    }
    if (!deps.includes(host)) problems.push(`${name}: uses ClickHouse at ${host} but does not depend_on ${host}`);
    const server = environmentOf(clickhouse);
    const user = server.CLICKHOUSE_USER ?? 'default';
    const password = server.CLICKHOUSE_PASSWORD ?? '';
    if (config.clickhouse.username !== user)
      problems.push(`${name}: ClickHouse user ${config.clickhouse.username}, but ${host} creates ${user}`);
    if (config.clickhouse.password !== password)
      problems.push(`${name}: its ClickHouse password differs from ${host}'s CLICKHOUSE_PASSWORD`);
  }
  return problems;
}

function checkDockerfile(dockerfile: DockerfileFinalStage, defaultHttpPort: number): string[] {
  const problems: string[] = [];
  const [runtime, script, ...rest] = dockerfile.entrypoint ?? [];
  const cli = 'services/cli';
  if (runtime !== 'node' || !script || rest.length > 0) {
    problems.push(`ENTRYPOINT must be ["node", "${cli}/dist/main.js"], not ${JSON.stringify(dockerfile.entrypoint)}`);
  } else {
    // The image holds this repository at WORKDIR, built: the script must be what `pnpm build` emits for the CLI.
    const inRepo = posix.relative(dockerfile.workdir, posix.resolve(dockerfile.workdir, script));
    if (inRepo !== `${cli}/dist/main.js`) problems.push(`ENTRYPOINT runs ${inRepo}, not ${cli}/dist/main.js (the CLI's build output)`);
  }
  if (!existsSync(join(ROOT, cli, 'src/main.ts'))) problems.push(`${cli}/src/main.ts does not exist`);
  const pkg = JSON.parse(read(`${cli}/package.json`)) as { bin?: string | Record<string, string> };
  const bins = typeof pkg.bin === 'string' ? [pkg.bin] : Object.values(pkg.bin ?? {});
  if (!bins.some((b) => posix.normalize(b) === 'dist/main.js'))
    problems.push(`${cli}/package.json bin does not point to ./dist/main.js (${JSON.stringify(pkg.bin)})`);
  const tsconfig = JSON.parse(read(`${cli}/tsconfig.json`)) as { compilerOptions?: { rootDir?: string; outDir?: string } };
  if (tsconfig.compilerOptions?.rootDir !== 'src' || tsconfig.compilerOptions?.outDir !== 'dist') {
    problems.push(`${cli}/tsconfig.json must compile src/ to dist/ so src/main.ts becomes dist/main.js`);
  }
  const build = JSON.parse(read('tsconfig.build.json')) as { references?: { path: string }[] };
  if (!build.references?.some((r) => posix.normalize(r.path) === cli)) problems.push(`tsconfig.build.json does not build ${cli}`);

  if (JSON.stringify(dockerfile.cmd) !== '["start"]') problems.push(`CMD must be ["start"], not ${JSON.stringify(dockerfile.cmd)}`);
  if (!dockerfile.user || /^(root|0)(:|$)/.test(dockerfile.user))
    problems.push(`the runtime stage must run as a non-root USER (${dockerfile.user ?? 'none'})`);
  if (!dockerfile.expose.includes(defaultHttpPort)) problems.push(`EXPOSE ${defaultHttpPort} (the default http.port) is missing`);
  if (!dockerfile.healthcheck?.includes('/healthz')) problems.push('HEALTHCHECK must probe /healthz');

  const packageManager = (JSON.parse(read('package.json')) as { packageManager?: string }).packageManager;
  if (!dockerfile.runs.some((r) => packageManager && r.includes(` ${packageManager}`))) {
    problems.push(`no RUN installs ${packageManager} (package.json packageManager)`);
  }
  if (!dockerfile.runs.some((r) => /pnpm install[^&]*--frozen-lockfile/.test(r)))
    problems.push('the build must use pnpm install --frozen-lockfile');
  return problems;
}

// ---------------------------------------------------------------------------------------------

const compose = loadCompose(read('docker-compose.yml'));
const dockerfile = readDockerfile(read('Dockerfile'));
const prometheus = parse(read('deploy/prometheus/prometheus.yml')) as Prometheus;
const loaded = flowwatchContainers(compose, dockerfile);
const containers = loaded.containers;

const ok = (problems: readonly string[]) => expect(problems, problems.join('\n')).toEqual([]);

describe('docker-compose.yml', () => {
  it('has a flowwatch container', () => {
    expect(flowwatchServices(compose).map(([name]) => name)).not.toEqual([]);
  });

  it('gives flowwatch containers only configuration variables, and a configuration that loads', () => {
    ok(loaded.problems.filter((p) => !p.includes('--services')));
  });

  it(`names only known services after --services (${SERVICE_NAMES.join(', ') || 'none yet'})`, () => {
    ok(loaded.problems.filter((p) => p.includes('--services')));
  });

  it('publishes on 127.0.0.1 only, and maps container ports the process listens on', () => {
    ok(checkPorts(compose, containers));
  });

  it('depends only on existing services, with healthchecks where it waits for health', () => {
    ok(checkDependsOn(compose, dockerfile));
  });

  it('points flowwatch at the Kafka and ClickHouse containers, with matching credentials', () => {
    ok(checkDependencies(compose, containers));
  });

  it('runs the Kafka version pinned in deploy/kafka/pom.xml', () => {
    const pinned = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(read('deploy/kafka/pom.xml'))?.[1];
    const kafkaImages = Object.entries(compose.services).filter(([, s]) => s.image?.startsWith('apache/kafka:'));
    expect(kafkaImages.length, 'no apache/kafka service').toBeGreaterThan(0);
    for (const [name, service] of kafkaImages) {
      expect(service.image, `${name}: image tag must equal <kafka.version> in deploy/kafka/pom.xml`).toBe(`apache/kafka:${pinned}`);
    }
  });
});

describe('deploy/prometheus/prometheus.yml', () => {
  it('scrapes every flowwatch container on its HTTP port, and only existing services', () => {
    ok(checkPrometheus(compose, prometheus, containers));
  });
});

describe('Dockerfile', () => {
  it("runs the CLI's build output as a non-root user", () => {
    const defaults = loadConfig({ env: {} });
    if (!defaults.ok) throw new Error(defaults.error);
    ok(checkDockerfile(dockerfile, defaults.config.http.port));
  });

  it('leaves build output, dependencies and local data out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim().replace(/^\*\*\//, ''));
    const missing = ['node_modules', 'dist', 'data', '.git', 'test/e2e/screenshots'].filter((p) => !ignored.includes(p));
    ok(missing.map((p) => `.dockerignore does not exclude ${p}`));
  });

  it('HEALTHCHECK passes on 200 from /healthz and fails otherwise', async () => {
    const [, probe] = /CMD\s+(\[.*\])\s*$/.exec(dockerfile.healthcheck ?? '') ?? [];
    expect(probe, 'HEALTHCHECK must use the exec form CMD [...]').toBeDefined();
    const [command, ...args] = JSON.parse(probe as string) as string[];
    expect(command).toBe('node');
    let status = 200;
    const server = createServer((req, res) => {
      res.statusCode = req.url === '/healthz' ? status : 404;
      res.end();
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as AddressInfo).port;
    const run = () =>
      new Promise<number>((done) => {
        execFile(process.execPath, args, { env: { ...process.env, FLOWWATCH__HTTP__PORT: String(port) }, timeout: 10_000 }, (err) =>
          done(err ? ((err as { code?: number }).code ?? 1) : 0),
        );
      });
    try {
      expect(await run()).toBe(0);
      status = 503;
      expect(await run()).toBe(1);
    } finally {
      server.close();
    }
  });
});

describe('the checks themselves', () => {
  it('report a misspelt or foreign variable', () => {
    expect(unknownEnvVars(['FLOWWATCH__HTTP__PORT', 'KAFKA_BROKERS', CONFIG_FILE_ENV])).toEqual([]);
    const problems = unknownEnvVars(['FLOWWATCH__HTTP__PROT', 'KAFKA_BROKER', 'FLOWWATCH_HTTP__PORT']);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toContain('FLOWWATCH__HTTP__PROT: no configuration field http.prot');
    expect(problems[1]).toMatch(/^KAFKA_BROKER: not a flowwatch variable/);
    expect(problems[2]).toMatch(/^FLOWWATCH_HTTP__PORT: not a flowwatch variable/);
  });

  /** The compose file with one change to its first flowwatch container. */
  function broken(change: (service: ComposeService) => void): { compose: Compose; name: string } {
    const copy = loadCompose(read('docker-compose.yml'));
    const [name, service] = flowwatchServices(copy)[0] as [string, ComposeService];
    change(service);
    return { compose: copy, name };
  }
  const setEnv = (service: ComposeService, name: string, value: string) => {
    service.environment = { ...(environmentOf(service) as Record<string, string>), [name]: value };
  };

  it('report a misspelt variable in a container', () => {
    const { compose: c, name } = broken((s) => setEnv(s, 'FLOWWATCH__HTTP__PROT', '9000'));
    expect(flowwatchContainers(c, dockerfile).problems.join('\n')).toContain(
      `${name}: environment FLOWWATCH__HTTP__PROT: no configuration field`,
    );
  });

  it('report an invalid value', () => {
    const { compose: c, name } = broken((s) => setEnv(s, 'FLOWWATCH__HTTP__PORT', '70000'));
    expect(flowwatchContainers(c, dockerfile).problems.join('\n')).toContain(`${name}: invalid configuration: http.port`);
  });

  it('report an unknown --services name', () => {
    const { compose: c, name } = broken((s) => {
      s.command = ['start', '--services', 'nosuch'];
    });
    expect(flowwatchContainers(c, dockerfile).problems.join('\n')).toContain(`${name}: --services nosuch: not a service: nosuch`);
  });

  it('report ports and scrape targets that miss the HTTP port', () => {
    const { compose: c, name } = broken((s) => setEnv(s, 'FLOWWATCH__HTTP__PORT', '9000'));
    const moved = flowwatchContainers(c, dockerfile).containers;
    expect(checkPorts(c, moved).join('\n')).toContain('but the HTTP server listens on 9000 (FLOWWATCH__HTTP__PORT 9000)');
    expect(checkPrometheus(c, prometheus, moved).join('\n')).toContain(`${name}'s HTTP server listens on 9000`);
  });

  it('report a port published beyond 127.0.0.1, or to a loopback-bound server', () => {
    const wide = broken((s) => {
      s.ports = ['8080:8080'];
    });
    expect(checkPorts(wide.compose, flowwatchContainers(wide.compose, dockerfile).containers).join('\n')).toContain(
      'must be published on 127.0.0.1 only',
    );
    const loopback = broken((s) => setEnv(s, 'FLOWWATCH__HTTP__HOST', '127.0.0.1'));
    expect(checkPorts(loopback.compose, flowwatchContainers(loopback.compose, dockerfile).containers).join('\n')).toContain(
      'set FLOWWATCH__HTTP__HOST=0.0.0.0',
    );
  });

  it('report a missing dependency and mismatched credentials', () => {
    const { compose: c, name } = broken((s) => {
      s.depends_on = ['kafak'];
      setEnv(s, 'CLICKHOUSE_PASSWORD', 'other');
    });
    expect(checkDependsOn(c, dockerfile).join('\n')).toContain(`${name}: depends_on kafak, which is not a service`);
    const problems = checkDependencies(c, flowwatchContainers(c, dockerfile).containers).join('\n');
    expect(problems).toContain(`${name}: uses broker kafka:9092 but does not depend_on kafka`);
    expect(problems).toContain(`${name}: its ClickHouse password differs`);
  });
});
