import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { detectorSchema } from './detector-schema.js';

/**
 * The one configuration schema for every flowwatch service. Each section belongs to one
 * component; every field has a default that runs out of the box on a single machine.
 * Objects are strict so a misspelt key is an error, not a silently ignored setting.
 */

/**
 * Pipeline services `flowwatch start` can run, in start order. Each issue that adds a service
 * (collector, aggregator, detector, api, simulator) adds its name here and its factory to the CLI.
 * The infrastructure every process needs (local Kafka when no brokers are configured, topics,
 * ClickHouse migrations, the HTTP server with /healthz, /readyz and /metrics) is not a service:
 * it always runs.
 */
export const SERVICE_NAMES: readonly string[] = ['collector', 'aggregator', 'detector', 'api', 'simulator'];

/** What `flowwatch start` runs by default: every service but the simulator (`--demo` or `services` adds it). */
export const DEFAULT_SERVICES: readonly string[] = SERVICE_NAMES.filter((name) => name !== 'simulator');

const port = z.number().int().min(1).max(65535);
const durationMs = z.number().int().min(0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A topic's settings, each field defaulting on its own so one can be overridden alone. */
function topicSchema(defaults: { name: string; partitions: number; retentionMs: number; cleanupPolicy?: 'delete' | 'compact' }) {
  return z
    .strictObject({
      name: z
        .string()
        .regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name')
        .default(defaults.name)
        .describe('Topic name'),
      partitions: z.number().int().min(1).max(10_000).default(defaults.partitions).describe('Partitions created at start-up'),
      replicationFactor: z.number().int().min(1).max(16).default(1).describe('Replication factor for a new topic (1 on a single broker)'),
      retentionMs: durationMs.default(defaults.retentionMs).describe('retention.ms of the topic; 0 keeps forever'),
      cleanupPolicy: z
        .enum(['delete', 'compact'])
        .default(defaults.cleanupPolicy ?? 'delete')
        .describe('cleanup.policy'),
    })
    .prefault({});
}
export type TopicConfig = z.infer<ReturnType<typeof topicSchema>>;

export const kafkaSchema = z.strictObject({
  brokers: z
    .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'host:port'))
    .default([])
    .describe('Bootstrap brokers (host:port). Empty: flowwatch runs its own local broker (deploy/kafka)'),
  clientId: z.string().min(1).default('flowwatch').describe('Kafka client id prefix'),
  ssl: z.boolean().default(false).describe('Connect to the brokers with TLS (system CAs; see tls for your own)'),
  tls: z
    .strictObject({
      caFile: z.string().optional().describe("PEM CA bundle that signs the brokers' certificates"),
      certFile: z.string().optional().describe('PEM client certificate, for brokers that require one (mutual TLS)'),
      keyFile: z.string().optional().describe('PEM private key of certFile'),
    })
    .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), {
      message: 'certFile and keyFile go together',
      path: ['keyFile'],
    })
    .optional()
    .describe('TLS to the brokers with files of your own (implies ssl)'),
  sasl: z
    .strictObject({
      mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
      username: z.string().min(1),
      password: z.string().min(1),
    })
    .optional()
    .describe('SASL authentication (use with ssl)'),
  connectionTimeoutMs: durationMs.default(3000).describe('Broker connection timeout'),
  local: z
    .strictObject({
      runtime: z
        .enum(['auto', 'jvm', 'docker'])
        .default('auto')
        .describe('How to run the local broker: docker when an engine answers, else the JVM jars (auto)'),
      host: z.string().default('127.0.0.1').describe('Address the local broker listens on'),
      port: port.default(9092).describe('Client port of the local broker'),
      controllerPort: port.default(9093).describe('KRaft controller port of the local broker'),
      dataDir: z.string().default('./data/kafka').describe('Log directory of the local broker'),
      cacheDir: z
        .string()
        .default(join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'flowwatch', 'kafka'))
        .describe("Where the broker's jars from Maven Central are cached"),
      heapMb: z.number().int().min(128).default(512).describe('JVM heap of the local broker in MiB'),
      startTimeoutMs: durationMs.default(90_000).describe('How long to wait for the local broker to be ready'),
    })
    .prefault({})
    .describe('The local single-node broker used when no brokers are configured'),
  topics: z
    .strictObject({
      flows: topicSchema({ name: 'flows', partitions: 8, retentionMs: DAY }),
      flowsDlq: topicSchema({ name: 'flows.dlq', partitions: 1, retentionMs: 14 * DAY }),
      alerts: topicSchema({ name: 'alerts', partitions: 3, retentionMs: 30 * DAY }),
      detectorState: topicSchema({ name: 'detector.state', partitions: 8, retentionMs: 0, cleanupPolicy: 'compact' }),
      // Only with detector.repartition.enabled: flows re-keyed by entity; changing its partitions moves state (docs/detection.md).
      flowsByEntity: topicSchema({ name: 'flows.by-entity', partitions: 8, retentionMs: 6 * HOUR }),
    })
    .prefault({})
    .describe('Topics created at start-up'),
  producer: z
    .strictObject({
      maxBufferedMessages: z
        .number()
        .int()
        .min(1)
        .default(100_000)
        .describe('Messages held in memory while Kafka is slow or down; beyond it sends are refused and counted'),
      maxBufferedBytes: z
        .number()
        .int()
        .min(1024)
        .default(256 * 1024 * 1024)
        .describe('Bytes held in memory while Kafka is slow or down'),
      lingerMs: durationMs.default(20).describe('How long a batch waits to fill before it is sent'),
      batchMaxMessages: z.number().int().min(1).default(2000).describe('Messages per produce request at most'),
      batchMaxBytes: z
        .number()
        .int()
        .min(1024)
        .default(1024 * 1024)
        .describe(
          "Uncompressed bytes per produce request at most. The broker's message.max.bytes (1 MiB by default) applies to the compressed batch of each partition; a batch the broker refuses as too large is split automatically.",
        ),
      compression: z
        .enum(['none', 'gzip', 'lz4', 'snappy'])
        .default('lz4')
        .describe(
          'Compression of produced batches. Every flowwatch client reads all four, and so does kcat. lz4: about a third of the CPU of gzip for both the producer and the broker, at a ratio of 19 against 24 on flow NDJSON',
        ),
      acks: z
        .union([z.literal(-1), z.literal(0), z.literal(1)])
        .default(-1)
        .describe('-1: all in-sync replicas'),
      retryBackoffMs: durationMs.default(500).describe('First back-off after a failed send (doubles, max 10 s)'),
    })
    .prefault({}),
});
export type KafkaConfig = z.infer<typeof kafkaSchema>;

export const clickhouseSchema = z
  .strictObject({
    url: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('ClickHouse server (http:// or https://). Unset: embedded chDB in this process'),
    username: z.string().default('default').describe('User for the ClickHouse server'),
    password: z.string().default('').describe('Password for the ClickHouse server'),
    database: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an identifier')
      .default('flowwatch')
      .describe('Database holding flowwatch tables'),
    path: z.string().default('./data/clickhouse').describe('Data directory of the embedded engine'),
    requestTimeoutMs: durationMs.default(60_000).describe('Timeout of one request to ClickHouse'),
    // Cluster mode (issue 8): packages/clickhouse/src/cluster.ts, docs/storage.md "On a cluster".
    cluster: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'a cluster name from remote_servers')
      .optional()
      .describe(
        'ClickHouse cluster (a remote_servers name) to create the schema on: migrations run ON CLUSTER, tables are Replicated*MergeTree `<name>_local` behind Distributed tables named as the code queries them. Needs url; each server must define the {shard} and {replica} macros. Unset: single-node tables',
      ),
  })
  .refine((c) => c.cluster === undefined || c.url !== undefined, {
    message: 'a cluster needs url (a ClickHouse server): the embedded engine has no cluster',
    path: ['cluster'],
  });
export type ClickHouseConfig = z.infer<typeof clickhouseSchema>;

export const storageSchema = z.strictObject({
  rawTtlDays: z.number().int().min(1).max(36_500).default(7).describe('How long raw enriched flows are kept'),
  minuteTtlDays: z.number().int().min(1).max(36_500).default(90).describe('How long the 1-minute rollup is kept'),
  hourTtlDays: z.number().int().min(1).max(36_500).default(730).describe('How long the 1-hour rollup is kept'),
});

/** Against slow clients (slow-loris): a connection that dribbles its request is cut off. */
export const httpTimeoutsSchema = z
  .strictObject({
    headersMs: durationMs
      .min(100)
      .default(10_000)
      .describe('A client must have sent its request headers within this (408 and the connection closed beyond)'),
    requestMs: durationMs
      .min(100)
      .default(60_000)
      .describe('A client must have sent its whole request, body included, within this (408 and the connection closed beyond)'),
    idleMs: durationMs.min(100).default(30_000).describe('A connection with no bytes in either direction for this long is closed'),
  })
  .refine((t) => t.headersMs <= t.requestMs, { message: 'headersMs must not exceed requestMs', path: ['headersMs'] });
export type HttpTimeouts = z.infer<typeof httpTimeoutsSchema>;

export const httpSchema = z.strictObject({
  host: z.string().default('127.0.0.1').describe('Address of the HTTP server (health, metrics, API, dashboard)'),
  port: port.default(8080).describe('Port of the HTTP server'),
  timeouts: httpTimeoutsSchema.prefault({}).describe('Slow-client time-outs of the HTTP server (and of the API when it shares it)'),
});

export const logSchema = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  pretty: z.enum(['auto', 'always', 'never']).default('auto').describe('Human-readable logs: auto means on a TTY'),
});

const slug = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'lower-case letters, digits, . _ - (max 64)');
const ipAddress = z.union([z.ipv4(), z.ipv6()], { error: 'an IPv4 or IPv6 address' });

export const exporterSchema = z.strictObject({
  id: slug.describe('Exporter id, unique within its supplier (e.g. a router name)'),
  address: ipAddress.describe('Source address its datagrams come from'),
  samplingRate: z.number().int().min(0).default(0).describe('Sampling rate to assume when the exporter does not say (0: unknown)'),
});

export const supplierSchema = z.strictObject({
  id: slug.describe('Supplier id, used in records, metrics and routing'),
  name: z.string().min(1).max(200).describe('Display name'),
  exporters: z.array(exporterSchema).default([]).describe('Routers and probes exporting flows for this supplier'),
  pushTokens: z
    .array(z.string().regex(/^sha256:[0-9a-f]{64}$/, 'sha256:<64 hex digits> (the hash of the token, never the token)'))
    .default([])
    .describe('SHA-256 hashes of the bearer tokens this supplier pushes JSON with'),
  clientCertFingerprints: z
    .array(z.string().regex(/^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/, 'an upper-case SHA-256 fingerprint AA:BB:...'))
    .default([])
    .describe('With mutual TLS: fingerprints of client certificates allowed to push as this supplier'),
});
export type SupplierConfig = z.infer<typeof supplierSchema>;

const cidr = z
  .string()
  .refine((s) => z.cidrv4().safeParse(s).success || z.cidrv6().safeParse(s).success, 'an IPv4 or IPv6 prefix like 10.12.0.0/16');

export const organisationSchema = z.strictObject({
  code: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/, 'a code such as an ODS code (letters, digits, . _ -)')
    .describe('Organisation code, such as its ODS code'),
  name: z.string().min(1).max(200),
  type: z.string().max(64).default('').describe('Kind of organisation (acute trust, GP practice, ...)'),
  supplier: slug.describe('Supplier whose network the organisation is on'),
  prefixes: z.array(cidr).default([]).describe('IPv4 and IPv6 prefixes of the organisation'),
});

export const serviceSchema = z.strictObject({
  id: slug.describe('Service id'),
  name: z.string().min(1).max(200),
  supplier: slug.optional().describe('Supplier hosting the service, if any'),
  prefixes: z.array(cidr).min(1).describe('Prefixes the service answers on'),
  ports: z.array(z.number().int().min(0).max(65535)).default([]).describe('Destination ports; empty means any'),
});

export const groupSchema = z.strictObject({
  id: slug,
  name: z.string().max(200).default(''),
  organisations: z.array(z.string()).default([]).describe('Organisation codes in the group'),
});

export const registrySchema = z
  .strictObject({
    suppliers: z.array(supplierSchema).default([]).describe('Supplier networks and their exporters'),
    organisations: z.array(organisationSchema).default([]).describe('Health and care organisations and their prefixes'),
    services: z.array(serviceSchema).default([]).describe('National and shared services (prefix and ports)'),
    groups: z.array(groupSchema).default([]).describe('Named groups of organisations, for policies'),
  })
  .superRefine((registry, ctx) => {
    const orgCodes = new Set<string>();
    registry.organisations.forEach((org, i) => {
      if (orgCodes.has(org.code))
        ctx.addIssue({ code: 'custom', path: ['organisations', i, 'code'], message: `duplicate organisation code ${org.code}` });
      orgCodes.add(org.code);
      if (!registry.suppliers.some((s) => s.id === org.supplier)) {
        ctx.addIssue({ code: 'custom', path: ['organisations', i, 'supplier'], message: `no supplier ${org.supplier}` });
      }
    });
    registry.groups.forEach((group, i) => {
      group.organisations.forEach((code, j) => {
        if (!orgCodes.has(code))
          ctx.addIssue({ code: 'custom', path: ['groups', i, 'organisations', j], message: `no organisation ${code}` });
      });
    });
    const serviceIds = new Set<string>();
    registry.services.forEach((service, i) => {
      if (serviceIds.has(service.id))
        ctx.addIssue({ code: 'custom', path: ['services', i, 'id'], message: `duplicate service id ${service.id}` });
      serviceIds.add(service.id);
    });
    const ids = new Set<string>();
    const addresses = new Map<string, string>();
    registry.suppliers.forEach((supplier, i) => {
      if (ids.has(supplier.id))
        ctx.addIssue({ code: 'custom', path: ['suppliers', i, 'id'], message: `duplicate supplier id ${supplier.id}` });
      ids.add(supplier.id);
      supplier.exporters.forEach((exporter, j) => {
        const owner = addresses.get(exporter.address);
        if (owner !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['suppliers', i, 'exporters', j, 'address'],
            message: `${exporter.address} is already an exporter of ${owner}`,
          });
        }
        addresses.set(exporter.address, supplier.id);
      });
    });
  });
export type RegistryConfig = z.infer<typeof registrySchema>;
export type OrganisationConfig = z.infer<typeof organisationSchema>;
export type ServiceConfig = z.infer<typeof serviceSchema>;
export type GroupConfig = z.infer<typeof groupSchema>;

export const collectorSchema = z.strictObject({
  host: z.string().default('127.0.0.1').describe('Address the UDP listeners bind (0.0.0.0 or :: to receive from the network)'),
  netflowPort: port.default(2055).describe('UDP port for NetFlow v5/v9 (any port accepts any protocol)'),
  ipfixPort: port.default(4739).describe('UDP port for IPFIX'),
  sflowPort: port.default(6343).describe('UDP port for sFlow v5'),
  receiveBufferBytes: z
    .number()
    .int()
    .min(65_536)
    .default(32 * 1024 * 1024)
    .describe('SO_RCVBUF asked for each UDP socket (the kernel caps it at net.core.rmem_max)'),
  flowsPerMessage: z
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(100)
    .describe('Flow records per Kafka message at most (about 700 bytes of JSON each; keep messages well under 1 MiB)'),
  flowsEncoding: z
    .enum(['ndjson', 'binary'])
    .default('binary')
    .describe(
      "How records are written to `flows`: binary (flowwatch.flows.bin.v1, a column-wise layout 11 times smaller before compression that takes about a third of the CPU to write and to read, and which the aggregator stores without an object per flow) or ndjson (schema flowwatch.flows.v1, one goflow2-style JSON record per line, for other tools tapping the topic, kcat included; the aggregator stores at most about 42,000 flows/s of it on 2 cores). Every flowwatch consumer reads both, so it can be changed at any time. docs/foundation.md, 'Flow messages'",
    ),
  heartbeatMs: z
    .number()
    .int()
    .min(0)
    .default(10_000)
    .describe(
      'How often an exporter that sent telemetry without flow records (sFlow counter samples, template refreshes) is reported alive on `flows` (an empty message with a heartbeat header), so a quiet sampled link is not taken for a silent exporter; 0: never',
    ),
  workers: z
    .number()
    .int()
    .min(0)
    .max(64)
    .default(1)
    .describe(
      "Worker threads that decode datagrams and encode their records (every exporter's datagrams go to one worker, chosen by a hash of its address, so its templates and order stay together); 0 decodes in the main thread. The main thread keeps receiving, checking exporters and producing to Kafka (docs/collector.md)",
    ),
  workerQueueDatagrams: z
    .number()
    .int()
    .min(16)
    .default(4096)
    .describe(
      'Datagrams waiting for or inside one worker at most; beyond it datagrams are dropped and counted (flowwatch_collector_rejected_total{reason="worker_queue_full"}, one per datagram)',
    ),
  templates: z
    .strictObject({
      maxTemplatesPerDomain: z.number().int().min(1).default(1024),
      maxDomains: z.number().int().min(1).default(10_000),
      maxTemplateBytes: z
        .number()
        .int()
        .min(65_536)
        .default(128 * 1024 * 1024)
        .describe(
          'Estimated heap bytes the templates of each of the NetFlow v9 and IPFIX decoders may take (about 1.5 KB per 20-field template); beyond it the least recently used exporter domains are forgotten',
        ),
      maxPendingSets: z.number().int().min(0).default(1024).describe('Data sets held while their template has not arrived'),
      pendingTtlMs: durationMs.default(30_000).describe('How long a data set waits for its template'),
    })
    .prefault({}),
  timeReceivedFrom: z
    .enum(['clock', 'export'])
    .default('clock')
    .describe(
      "Where records' time_received_ns comes from: 'clock' (this host's clock at reception), or 'export' (the export time in the datagram header: NetFlow v5/v9, IPFIX; sFlow, which has none, gets the latest export time seen; pushed records keep a time_received_ns they carry). 'export' is for time-compressed simulations and replays, whose event time runs ahead of the clock",
    ),
  push: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: z.string().default('127.0.0.1'),
      port: port.default(8081),
      bodyLimitBytes: z
        .number()
        .int()
        .min(1024)
        .default(16 * 1024 * 1024)
        .describe('Largest request body (413 beyond)'),
      maxRecordsPerRequest: z.number().int().min(1).default(100_000),
      rateLimitRecordsPerSecond: z.number().min(1).default(50_000).describe('Per supplier, sustained (429 beyond)'),
      rateLimitBurst: z.number().min(1).default(200_000).describe('Per supplier, burst'),
      maxDepth: z
        .number()
        .int()
        .min(2)
        .max(1000)
        .default(16)
        .describe('Deepest nesting of arrays and objects in a body (400 beyond; records are flat objects in an array)'),
      replayWindowMs: durationMs
        .default(600_000)
        .describe(
          'A body byte-for-byte equal to one this supplier pushed (and had accepted) within this window is refused as a replay (409) and counted; 0 turns it off',
        ),
      replayCacheEntries: z
        .number()
        .int()
        .min(1)
        .default(100_000)
        .describe('Bodies remembered for replay detection, across suppliers (32-byte hashes; the oldest are forgotten beyond it)'),
      timeouts: httpTimeoutsSchema.prefault({}).describe('Slow-client time-outs of the push endpoint'),
      tls: z
        .strictObject({
          certFile: z.string(),
          keyFile: z.string(),
          caFile: z.string().optional().describe('CA for client certificates (mutual TLS)'),
          requireClientCert: z
            .boolean()
            .default(false)
            .describe(
              'Refuse connections without a client certificate signed by caFile (suppliers pinned by fingerprint need theirs anyway)',
            ),
        })
        .refine((t) => !t.requireClientCert || t.caFile !== undefined, {
          message: 'requireClientCert needs caFile, the CA that signs the client certificates',
          path: ['caFile'],
        })
        .optional()
        .describe('HTTPS for the push endpoint; unset serves plain HTTP (behind a TLS proxy)'),
    })
    .prefault({}),
});
export type CollectorConfig = z.infer<typeof collectorSchema>;

export const aggregatorSchema = z.strictObject({
  groupId: z.string().min(1).default('flowwatch-aggregator').describe('Kafka consumer group of the aggregators'),
  maxBytesPerPartition: z
    .number()
    .int()
    .min(65_536)
    .default(8 * 1024 * 1024)
    .describe('Bytes fetched per partition per batch at most (bounds memory and insert size)'),
  minBytes: z
    .number()
    .int()
    .min(1)
    .default(4 * 1024 * 1024)
    .describe(
      'A batch is written when this many bytes have arrived in Kafka (compressed: about 80 bytes per flow with lz4), or after maxWaitMs. 4 MiB lets the time bound govern below about 25,000 flows/s',
    ),
  maxWaitMs: durationMs
    .default(2000)
    .describe(
      'The time bound of a batch: rows reach ClickHouse up to this much later. Larger, rarer inserts cost chDB far less (docs/benchmarks.md, "Aggregator batch size": 173-207 µs per flow at 1 s, 113-125 at 2 s, 95-97 at 5 s). A stop waits up to this long for the fetch in flight, and the consumer heart-beats between fetches: keep it well under shutdownTimeoutMs and the 10 s session timeout',
    ),
  partitionsConcurrently: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(2)
    .describe(
      "Partitions handled at once: one partition's records are read and enriched while another's insert is in flight (each partition's batches stay in order). 2 keeps the JavaScript thread busy during inserts (docs/benchmarks.md, Aggregator); memory is bounded by maxBytesPerPartition per assigned partition either way",
    ),
  insertsInFlight: z
    .number()
    .int()
    .min(0)
    .max(16)
    .default(2)
    .describe(
      "Inserts that may run while the next fetch is read (a partition's next batch still waits for its previous insert; offsets are committed when an insert lands). 0: every batch of a fetch is inserted before the next fetch. Each holds its batch's rows in memory",
    ),
});
export type AggregatorConfig = z.infer<typeof aggregatorSchema>;

const durationText = z.string().regex(/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/, 'a duration such as 90s, 10m, 1h30m, 7d');

export const scenarioScheduleSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,63}$/, 'a scenario name')
    .describe('worm-smb, ddos, port-scan, host-sweep, exfiltration, exporter-silence, logon-surge, blocklist or policy-breach'),
  at: z
    .string()
    .regex(/^(\+(\d+(\.\d+)?(ms|s|m|h|d|w))+|\d{4}-\d{2}-\d{2}.*)$/, '+DURATION (e.g. +2m) or an ISO-8601 time')
    .describe('When it starts: +DURATION after the simulation starts, in event time, or an ISO-8601 instant'),
  duration: durationText.optional().describe('How long it runs, in event time (default: per scenario, docs/simulator.md)'),
  params: z
    .record(z.string(), z.union([z.string(), z.number()]))
    .default({})
    .describe('Scenario parameters (rate, organisation, service, ...; docs/simulator.md)'),
});
export type ScenarioScheduleConfig = z.infer<typeof scenarioScheduleSchema>;

export const simulatorSchema = z.strictObject({
  seed: z
    .number()
    .int()
    .min(0)
    .max(0xffff_ffff)
    .default(1)
    .describe('Same seed and options, same network, traffic and scenarios (tokens and exporters included)'),
  rate: z
    .number()
    .min(1)
    .max(1_000_000)
    .default(1000)
    .describe(
      'Background flow records per wall-clock second at the busiest moment of the simulated week; nights and weekends are quieter, scenarios add their own',
    ),
  maxRate: z
    .number()
    .min(1)
    .max(10_000_000)
    .default(50_000)
    .describe('Most records sent per wall-clock second; beyond it sending falls behind the simulated clock (nothing is dropped)'),
  speed: z
    .number()
    .min(1)
    .max(1_000_000)
    .default(1)
    .describe('Simulated seconds per wall-clock second (600: a week in 17 minutes); set collector.timeReceivedFrom to export when above 1'),
  start: z
    .string()
    .regex(/^$|^\d{4}-\d{2}-\d{2}/, 'an ISO-8601 time, or empty')
    .default('')
    .describe('Event time the simulation starts at (ISO-8601); empty: now'),
  duration: z
    .union([z.literal(''), durationText])
    .default('')
    .describe('How long to run, in event time (e.g. 7d); empty: until stopped'),
  background: z.boolean().default(true).describe('Generate background traffic; false sends only the scenarios (next to another simulator)'),
  network: z
    .strictObject({
      suppliers: z.number().int().min(1).max(200).default(8).describe('Supplier networks (protocols in turn: v9, IPFIX, sFlow, v5, JSON)'),
      organisations: z.number().int().min(1).max(2000).default(300).describe('Health and care organisations'),
      exporterOctet: z
        .number()
        .int()
        .min(1)
        .max(254)
        .default(42)
        .describe('Exporters send from 127.<exporterOctet>.<supplier>.<exporter>, so the collector tells them apart'),
      sflowSamplingRate: z.number().int().min(1).max(1_000_000).default(1024).describe('sFlow agents sample 1 packet in N'),
    })
    .prefault({})
    .describe('The generated network of networks'),
  scenarios: z.array(scenarioScheduleSchema).default([]).describe('Scenarios to run, with their start times'),
  randomScenarios: z
    .number()
    .int()
    .min(0)
    .max(1000)
    .default(0)
    .describe('Add this many scenarios of random kinds at random times over `duration` (evaluation runs)'),
  demoScenarios: z
    .array(scenarioScheduleSchema)
    .default(() => [{ name: 'port-scan', at: '+90s', params: {} }])
    .describe('Scenarios `flowwatch start --demo` schedules when `scenarios` is empty'),
  labelsFile: z.string().default('').describe('JSONL file the ground truth of each scenario is appended to when it ends; empty: none'),
  metricsPort: z
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(0)
    .describe('`flowwatch simulate` serves /metrics on http.host at this port; 0: not at all (start --demo uses the process HTTP server)'),
  tickMs: z
    .number()
    .int()
    .min(10)
    .max(10_000)
    .default(100)
    .describe('How often the sender wakes up to send what the simulated clock has reached'),
  pushBatchRecords: z.number().int().min(1).max(100_000).default(5000).describe('Records per push request at most'),
});
export type SimulatorConfig = z.infer<typeof simulatorSchema>;
const GIB = 1024 ** 3;
/** One role's limits on a traffic question (ClickHouse settings of its queries; 0: none). */
const queryBudget = (seconds: number, rows: number, memoryBytes: number) =>
  z
    .strictObject({
      maxSeconds: z.number().min(0).default(seconds).describe('Time one query may run (ClickHouse max_execution_time)'),
      maxRowsRead: z.number().int().min(0).default(rows).describe('Rows one query may read (max_rows_to_read)'),
      maxMemoryBytes: z.number().int().min(0).default(memoryBytes).describe('Memory one query may use (max_memory_usage)'),
    })
    .prefault({});

export const apiSchema = z.strictObject({
  host: z
    .string()
    .optional()
    .describe(
      "Address of the API and dashboard when they listen on their own. Unset (with port unset): they share the process's HTTP server (http.host and http.port: 127.0.0.1:8080 by default) with /healthz, /readyz and /metrics",
    ),
  port: port
    .optional()
    .describe(
      "Port of the API and dashboard when they listen on their own (with host, or http.host). Unset: the HTTP server's port (http.port, 8080)",
    ),
  trustProxy: z
    .boolean()
    .default(false)
    .describe('Behind a TLS-terminating reverse proxy: take the client address and protocol from X-Forwarded-For and X-Forwarded-Proto'),
  bodyLimitBytes: z
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(64 * 1024)
    .describe('Largest request body (413 beyond); API bodies are small JSON documents'),
  timeouts: httpTimeoutsSchema.prefault({}).describe('Slow-client time-outs when the API listens on its own (otherwise http.timeouts)'),
  rateLimit: z
    .strictObject({
      requestsPerSecond: z.number().min(0.1).default(20).describe('Per token (or session), sustained (429 beyond)'),
      burst: z.number().int().min(1).default(200).describe('Per token (or session), burst'),
      authFailuresPerMinute: z
        .number()
        .int()
        .min(1)
        .default(30)
        .describe('Failed logins and bad tokens per client address per minute before its requests get 429'),
    })
    .prefault({}),
  session: z
    .strictObject({
      idleTimeoutMs: durationMs
        .min(60_000)
        .default(8 * HOUR)
        .describe('A dashboard session ends after this long without a request'),
      maxAgeMs: durationMs.min(60_000).default(DAY).describe('A dashboard session ends this long after login, active or not'),
      secureCookie: z
        .boolean()
        .default(true)
        .describe('Mark the session cookie Secure: browsers then send it over HTTPS and to http://localhost or 127.0.0.1 only'),
      maxSessions: z.number().int().min(1).default(10_000).describe('Sessions held in memory at most (the oldest is dropped beyond)'),
    })
    .prefault({}),
  tokenCacheMs: durationMs
    .max(HOUR)
    .default(30_000)
    .describe(
      'How long a token read from ClickHouse is trusted before it is read again: the longest a token revoked by another process keeps working',
    ),
  stream: z
    .strictObject({
      heartbeatMs: durationMs
        .min(1000)
        .default(15_000)
        .describe('Comment line sent to idle event streams (keeps proxies from closing them)'),
      trafficIntervalMs: durationMs.min(1000).default(5000).describe('How often live traffic counters are computed and sent'),
      pollMs: durationMs.min(500).default(5000).describe('How often ClickHouse `alerts` is polled for changes (besides the Kafka topic)'),
      maxClients: z.number().int().min(1).default(500).describe('Open event streams at most (503 beyond)'),
      groupIdPrefix: z
        .string()
        .min(1)
        .default('flowwatch-api')
        .describe('Prefix of the Kafka consumer group reading `alerts` (each API process has its own group, from the latest offset)'),
    })
    .prefault({}),
  queryBudgets: z
    .strictObject({
      admin: queryBudget(60, 10_000_000_000, 8 * GIB),
      analyst: queryBudget(30, 5_000_000_000, 4 * GIB),
      viewer: queryBudget(30, 5_000_000_000, 4 * GIB),
      supplier: queryBudget(15, 1_000_000_000, 2 * GIB),
    })
    .prefault({})
    .describe(
      "Limits of one traffic question (series, top-N, matrix, flows search) per role: beyond them it gets 422 query_budget, so that one caller's question cannot hold the ClickHouse every service shares",
    ),
  exporterSilenceMs: durationMs
    .min(10_000)
    .default(120_000)
    .describe('An exporter is shown silent when flows_raw has nothing from it for this long'),
  webRoot: z.string().optional().describe('Directory of the built dashboard (index.html, assets/); default: services/web/dist'),
  demoLogin: z
    .boolean()
    .default(false)
    .describe(
      'At start, make an analyst token valid for a day and print it, so a first look needs no token command (start --demo sets it)',
    ),
});
export type ApiConfig = z.infer<typeof apiSchema>;

export const configSchema = z.strictObject({
  services: z
    .array(
      z.string().refine((name) => SERVICE_NAMES.includes(name), {
        message: `not a service (known: ${SERVICE_NAMES.join(', ') || 'none yet'})`,
      }),
    )
    .default([...DEFAULT_SERVICES])
    .describe('Services run by `flowwatch start` in this process (all but the simulator by default; `start --demo` adds it)'),
  shutdownTimeoutMs: durationMs.default(8000).describe('Longest graceful drain on SIGTERM before exiting'),
  log: logSchema.prefault({}),
  http: httpSchema.prefault({}),
  kafka: kafkaSchema.prefault({}),
  clickhouse: clickhouseSchema.prefault({}),
  storage: storageSchema.prefault({}),
  registry: registrySchema.prefault({}),
  collector: collectorSchema.prefault({}),
  aggregator: aggregatorSchema.prefault({}),
  detector: detectorSchema.prefault({}),
  simulator: simulatorSchema.prefault({}),
  api: apiSchema.prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
