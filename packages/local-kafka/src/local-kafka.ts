import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';

/** deploy/kafka in this checkout: the pom that pins the version, log4j config, the watchdog. */
export const DEPLOY_DIR = fileURLToPath(new URL('../../../deploy/kafka/', import.meta.url));

export function pinnedKafkaVersion(deployDir = DEPLOY_DIR): string {
  const pom = readFileSync(join(deployDir, 'pom.xml'), 'utf8');
  const m = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom);
  if (!m?.[1]) throw new Error(`no <kafka.version> in ${join(deployDir, 'pom.xml')}`);
  return m[1];
}

export interface LocalKafkaOptions {
  runtime: 'auto' | 'jvm' | 'docker';
  host: string;
  port: number;
  controllerPort: number;
  dataDir: string;
  cacheDir: string;
  heapMb: number;
  startTimeoutMs: number;
  /** Progress lines for a person watching the first run (jar downloads, formatting, start). */
  progress?: (line: string) => void;
  /**
   * A second listener with SASL/SCRAM-SHA-512 over TLS, as production brokers run, for tests of
   * flowwatch's own security settings (JVM runtime only). The users are created at format time.
   */
  saslSsl?: { port: number; users: { username: string; password: string }[]; keystorePemFile: string } | undefined;
}

/**
 * A single-node Apache Kafka in KRaft mode for machines with no Kafka of their own: from the
 * official image where a Docker engine answers, otherwise from the broker's jars on Maven
 * Central run with the machine's Java. Internal topics use replication factor 1; without that a
 * single broker never elects a group coordinator and consumer groups hang.
 */
export class LocalKafka {
  readonly version: string;
  private child: ChildProcess | undefined;
  private container: string | undefined;
  private exited: Promise<number | null> | undefined;
  private readonly progress: (line: string) => void;
  private readonly dataDir: string;

  constructor(private readonly options: LocalKafkaOptions) {
    this.version = pinnedKafkaVersion();
    this.progress = options.progress ?? (() => {});
    this.dataDir = resolve(options.dataDir);
  }

  get brokers(): string[] {
    return [`${this.options.host}:${this.options.port}`];
  }

  get runtime(): 'jvm' | 'docker' {
    if (this.options.runtime !== 'auto') return this.options.runtime;
    return dockerEngineAnswers() ? 'docker' : 'jvm';
  }

  get libsDir(): string {
    return join(resolve(this.options.cacheDir), this.version, 'libs');
  }

  /** Fetches the broker's jars into the cache once (mvn), printing each download as progress. */
  async fetchJars(): Promise<string> {
    const libs = this.libsDir;
    if (existsSync(join(libs, '.complete'))) return libs;
    const staging = `${libs}.partial-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    this.progress(`fetching Apache Kafka ${this.version} from Maven Central into ${libs} (once, about 50 MB)`);
    const args = [
      '-B',
      '-f',
      join(DEPLOY_DIR, 'pom.xml'),
      'dependency:copy-dependencies',
      `-DoutputDirectory=${staging}`,
      '-DincludeScope=runtime',
    ];
    const mvn = spawn('mvn', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let count = 0;
    const tail: string[] = [];
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > 30) tail.shift();
      const m = /Downloaded from \S+: \S+\/([^/\s]+\.jar) \(([^)]*)\)/.exec(line);
      if (m) this.progress(`  [${++count}] ${m[1]} (${m[2]})`);
    };
    createInterface({ input: mvn.stdout }).on('line', onLine);
    createInterface({ input: mvn.stderr }).on('line', onLine);
    const code = await new Promise<number | null>((res, rej) => {
      mvn.on('error', (err) => rej(new Error(`cannot run mvn (is Maven installed?): ${err.message}`)));
      mvn.on('close', res);
    });
    if (code !== 0) {
      rmSync(staging, { recursive: true, force: true });
      throw new Error(`mvn failed (exit ${code}) fetching Kafka ${this.version}:\n${tail.join('\n')}`);
    }
    writeFileSync(join(staging, '.complete'), `${this.version}\n`);
    rmSync(libs, { recursive: true, force: true });
    mkdirSync(resolve(libs, '..'), { recursive: true });
    renameSync(staging, libs);
    this.progress(`Kafka ${this.version} jars cached`);
    return libs;
  }

  /** Starts the broker and resolves once it answers; throws with the broker's last log lines if not. */
  async start(): Promise<void> {
    if (this.child || this.container) return;
    if (await portOpen(this.options.host, this.options.port)) {
      throw new Error(
        `${this.options.host}:${this.options.port} is already in use; if a Kafka broker runs there, set KAFKA_BROKERS=${this.options.host}:${this.options.port} to use it, or choose another kafka.local.port`,
      );
    }
    if (this.runtime === 'docker') await this.startDocker();
    else await this.startJvm();
    await this.waitReady();
    this.progress(`Kafka ${this.version} ready on ${this.brokers[0]} (${this.runtime})`);
  }

  private serverProperties(): string {
    const { host, port, controllerPort, saslSsl } = this.options;
    const secure = saslSsl ? `,SASL_SSL://${host}:${saslSsl.port}` : '';
    return [
      '# Written by flowwatch at each start; edit kafka.local in the flowwatch config instead.',
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@${host}:${controllerPort}`,
      `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}${secure}`,
      `advertised.listeners=PLAINTEXT://${host}:${port}${secure}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      `listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${saslSsl ? ',SASL_SSL:SASL_SSL' : ''}`,
      ...(saslSsl
        ? [
            'sasl.enabled.mechanisms=SCRAM-SHA-512',
            'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
            // A PEM file with the private key (unencrypted) and the certificate chain.
            'ssl.keystore.type=PEM',
            `ssl.keystore.location=${saslSsl.keystorePemFile}`,
          ]
        : []),
      `log.dirs=${join(this.dataDir, 'log')}`,
      'num.partitions=1',
      'auto.create.topics.enable=false',
      // One broker: every internal topic at replication factor 1 or group coordination never starts.
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=10',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'log.retention.check.interval.ms=60000',
      'log.segment.bytes=268435456',
      '',
    ].join('\n');
  }

  private async startJvm(): Promise<void> {
    const libs = await this.fetchJars();
    mkdirSync(this.dataDir, { recursive: true });
    const props = join(this.dataDir, 'server.properties');
    writeFileSync(props, this.serverProperties());
    const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
    const classpath = `${libs}/*`;
    const log4j = `-Dlog4j.configuration=file:${join(DEPLOY_DIR, 'log4j.properties')}`;

    if (!existsSync(join(this.dataDir, 'log', 'meta.properties'))) {
      this.progress(`formatting Kafka storage in ${join(this.dataDir, 'log')}`);
      const clusterId = randomBytes(16).toString('base64url');
      const scram = (this.options.saslSsl?.users ?? []).flatMap((u) => [
        '--add-scram',
        `SCRAM-SHA-512=[name=${u.username},password=${u.password}]`,
      ]);
      const r = spawnSync(
        java,
        ['-cp', classpath, log4j, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', props, ...scram],
        { encoding: 'utf8' },
      );
      if (r.error) throw new Error(`cannot run ${java} (is Java 17 installed?): ${r.error.message}`);
      if (r.status !== 0) throw new Error(`formatting Kafka storage failed: ${(r.stderr || r.stdout).trim()}`);
    }

    const logFile = join(this.dataDir, 'broker.log');
    const fd = openSync(logFile, 'a');
    this.progress(`starting Kafka ${this.version} (JVM, log ${logFile})`);
    // Own process group, so a Ctrl-C in the terminal reaches flowwatch (which drains its services
    // into Kafka first) and not the broker. stdin is a pipe the watchdog watches.
    this.child = spawn(
      'bash',
      [
        join(DEPLOY_DIR, 'run-broker.sh'),
        java,
        `-Xms${Math.min(256, this.options.heapMb)}m`,
        `-Xmx${this.options.heapMb}m`,
        '-XX:+UseG1GC',
        '-Djava.awt.headless=true',
        `-Dkafka.logs.dir=${this.dataDir}`,
        log4j,
        '-cp',
        classpath,
        'kafka.Kafka',
        props,
      ],
      { detached: true, stdio: ['pipe', fd, fd] },
    );
    closeSync(fd);
    const child = this.child;
    this.exited = new Promise((res) => child.on('exit', (code) => res(code)));
  }

  private async startDocker(): Promise<void> {
    const name = `flowwatch-kafka-${this.options.port}`;
    this.progress(`starting apache/kafka:${this.version} in Docker as ${name}`);
    const r = spawnSync('docker', dockerRunArgs(name, this.version, this.options), { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`docker run failed: ${(r.stderr || r.stdout).trim()}`);
    this.container = name;
    this.exited = new Promise(() => {});
  }

  private async waitReady(): Promise<void> {
    const deadline = Date.now() + this.options.startTimeoutMs;
    const kafka = new Kafka({
      clientId: 'flowwatch-local-kafka-probe',
      brokers: this.brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      retry: { retries: 0 },
    });
    let exitCode: number | null | undefined;
    void this.exited?.then((c) => {
      exitCode = c;
    });
    let lastError = '';
    while (Date.now() < deadline) {
      if (exitCode !== undefined) {
        this.child = undefined;
        throw new Error(`Kafka exited during start (code ${exitCode}); last log lines:\n${this.logTail()}`);
      }
      if (await portOpen(this.options.host, this.options.port)) {
        const admin = kafka.admin();
        try {
          await admin.connect();
          const cluster = await admin.describeCluster();
          if (cluster.brokers.length > 0 && cluster.controller !== null) return;
        } catch (err) {
          lastError = (err as Error).message;
        } finally {
          await admin.disconnect().catch(() => {});
        }
      }
      await sleep(300);
    }
    await this.stop();
    throw new Error(
      `Kafka did not become ready within ${this.options.startTimeoutMs} ms (${lastError || 'port closed'}); last log lines:\n${this.logTail()}`,
    );
  }

  private logTail(lines = 20): string {
    try {
      return readFileSync(join(this.dataDir, 'broker.log'), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no broker log)';
    }
  }

  /** Stops the broker gracefully (controlled shutdown), killing it after `timeoutMs`. Idempotent. */
  async stop(timeoutMs = 8000): Promise<void> {
    if (this.container) {
      spawnSync('docker', ['stop', '-t', String(Math.ceil(timeoutMs / 1000)), this.container], { stdio: 'ignore' });
      this.container = undefined;
      return;
    }
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.child = undefined;
      return;
    }
    const exited = this.exited ?? Promise.resolve(null);
    try {
      process.kill(-(child.pid as number), 'SIGTERM');
    } catch {
      // already gone
    }
    const done = await Promise.race([exited.then(() => true), timeout(timeoutMs).then(() => false)]);
    if (!done) {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
      await Promise.race([exited, timeout(2000)]);
    }
    child.stdin?.destroy();
    this.child = undefined;
  }
}

export function dockerRunArgs(name: string, version: string, o: Pick<LocalKafkaOptions, 'host' | 'port'>): string[] {
  const env = {
    KAFKA_NODE_ID: '1',
    KAFKA_PROCESS_ROLES: 'broker,controller',
    KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
    KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://${o.host}:${o.port}`,
    KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
    KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
    KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
    KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
    KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
    KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
    KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
  };
  return [
    'run',
    '-d',
    '--rm',
    '--name',
    name,
    '-p',
    `${o.host}:${o.port}:9092`,
    ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    `apache/kafka:${version}`,
  ];
}

/** True when a Docker engine (not just the client) answers within two seconds. */
export function dockerEngineAnswers(): boolean {
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 2000, stdio: 'ignore' });
  return r.status === 0;
}

export function portOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((res) => {
    const socket = createConnection({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      res(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A time-out for Promise.race that does not keep the process alive once the race is decided. */
function timeout(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
