import { z } from 'zod';

/**
 * The detector's section of the configuration. Every default runs on a new network without
 * tuning: thresholds are multiples of learned baselines, with absolute floors so that quiet
 * entities never alert on noise. Rules and defaults are explained in docs/detection.md.
 */

const ms = z.number().int().min(0);
const positive = z.number().positive();
const portNumber = z.number().int().min(0).max(65535);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const ALERT_TYPE_NAMES = [
  'volume_spike',
  'volume_drop',
  'telemetry_silence',
  'port_scan',
  'host_sweep',
  'flood',
  'syn_flood',
  'amplification',
  'lateral_movement',
  'exfiltration',
  'new_pair',
  'blocklist',
  'policy',
] as const;
const alertType = z.enum(ALERT_TYPE_NAMES);
const severity = z.enum(['low', 'medium', 'high', 'critical']);
const directionName = z.enum(['internal', 'cross_org', 'cross_supplier', 'to_internet', 'from_internet', 'external']);

/** `kind:id` of an entity, e.g. `organisation:RR8`, `supplier:supplier-b`, `host:10.1.2.3`; `*` as id matches any. */
const entityRef = z.string().regex(/^[a-z_]+:.+$/, 'kind:id, e.g. organisation:RR8');

/** Which alerts a suppression, maintenance window, severity rule or override applies to; empty lists match all. */
const selector = {
  types: z.array(alertType).default([]).describe('Alert types (empty: all)'),
  entities: z.array(entityRef).default([]).describe('Entities as kind:id, e.g. organisation:RR8 (empty: all)'),
  organisations: z.array(z.string()).default([]).describe('Organisation codes involved as source or destination (empty: all)'),
  groups: z.array(z.string()).default([]).describe('Groups whose organisations are involved (empty: all)'),
  suppliers: z.array(z.string()).default([]).describe('Suppliers named by the alert (empty: all)'),
};

/** A suppression: matching detections never become alerts. */
export const suppressionSchema = z.strictObject({ ...selector, reason: z.string().default('') });

const weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM (UTC)');

export const maintenanceSchema = z.strictObject({
  ...selector,
  reason: z.string().default('').describe('Why (shown in logs)'),
  start: z.iso.datetime().optional().describe('One-off window start (ISO-8601)'),
  end: z.iso.datetime().optional().describe('One-off window end (ISO-8601)'),
  weekly: z
    .strictObject({
      days: z.array(weekday).min(1).describe('Days of the week (UTC)'),
      from: clock.describe('Start time of day, UTC'),
      to: clock.describe('End time of day, UTC (before from: runs past midnight)'),
    })
    .optional()
    .describe('A recurring window'),
});

const policyRuleSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/)
    .describe('Rule id (part of the fingerprint)'),
  description: z.string().min(1).describe('What the rule forbids, in words an analyst reads in the alert'),
  severity: severity.default('medium'),
  match: z
    .strictObject({
      directions: z.array(directionName).default([]).describe('Enriched directions (empty: any)'),
      srcGroups: z.array(z.string()).default([]).describe('Source organisation in one of these groups'),
      dstGroups: z.array(z.string()).default([]),
      srcOrganisations: z.array(z.string()).default([]),
      dstOrganisations: z.array(z.string()).default([]),
      suppliers: z.array(z.string()).default([]).describe('Exporting supplier'),
      services: z.array(z.string()).default([]).describe('Service ids'),
      dstPorts: z.array(portNumber).default([]),
      protocols: z.array(z.number().int().min(0).max(255)).default([]).describe('IANA protocol numbers (6 TCP, 17 UDP)'),
    })
    .prefault({})
    .describe('Every non-empty list must match (AND); values within a list are alternatives (OR)'),
  threshold: z
    .strictObject({
      windowMs: ms
        .min(1000)
        .default(5 * MINUTE)
        .describe('Window the volumes are counted over'),
      bytes: z.number().min(0).default(0).describe('Fire when a source organisation sends more than this many bytes in the window'),
      flows: z.number().int().min(0).default(0).describe('... or more than this many flows'),
    })
    .optional()
    .describe('Unset: every matching flow is a violation'),
});
export type PolicyRuleConfig = z.infer<typeof policyRuleSchema>;

const detectorObject = z.strictObject({
  groupId: z.string().min(1).default('flowwatch-detector').describe('Kafka consumer group of the detectors'),
  detectedAt: z
    .enum(['clock', 'event'])
    .default('clock')
    .describe(
      "What alerts' detected_at records: 'clock' (this host's clock when the change is published), or 'event' (the event time the detector decided at: the sighting's own time, or the watermark when that is later). 'event' is for time-compressed simulations and replays (the evaluation), whose event time runs ahead of the clock",
    ),
  fromBeginning: z
    .boolean()
    .default(false)
    .describe('A new consumer group starts at the oldest retained flows (true) or at the live edge (false: no stale alerts)'),
  intervalMs: ms.min(10_000).default(MINUTE).describe('Interval of volume baselines (flows_1m rollups are per minute)'),
  allowedLatenessMs: ms
    .default(5_000)
    .describe('Watermark = latest event time seen minus this; flows later than that go into the oldest open interval (counted)'),
  maxPartitionSkewMs: ms
    .default(MINUTE)
    .describe(
      "How far the watermark waits for a partition of `flows` that is behind the others (a backlog after a restart, a flood's batch read ahead of the rest): it stays at the slowest active partition's reception time (minus the lateness) for at most this much event time; beyond it that partition's flows are late (counted). 0: the latest event time seen alone",
    ),
  partitionIdleMs: ms
    .min(50)
    .default(2_000)
    .describe(
      'Wall time a partition of `flows` read to its end may go without new flows, counted only while the detector waits for data, before it stops holding the watermark (a quiet exporter): a partition that goes quiet holds detection back this long',
    ),
  maxEntities: z
    .number()
    .int()
    .min(100)
    .default(200_000)
    .describe('Tracked entities per detector family at most; the least recently seen are evicted (counted)'),
  learningPeriodMs: ms
    .default(DAY)
    .describe('New-pair and learned lateral allowances: what is seen during this first period (or in the warm-start rollups) is normal'),
  warmStart: z
    .strictObject({
      enabled: z.boolean().default(true).describe('Warm baselines from the ClickHouse rollups at start'),
      profileDays: z.number().int().min(0).max(90).default(28).describe('Days of flows_1h read for the seasonal profiles'),
      recentMinutes: z.number().int().min(0).max(1440).default(120).describe('Minutes of flows_1m replayed for the recent level'),
    })
    .prefault({}),
  volume: z
    .strictObject({
      zThreshold: positive.default(6).describe('Robust z-score (MAD units, log scale) beyond which a volume is anomalous'),
      spikeRatio: positive.default(3).describe('A spike must also be at least this many times the expected value'),
      extremeRatio: z
        .number()
        .min(0)
        .default(100)
        .describe(
          'A rise to at least this many times the expected value is a spike from 2/3 of zThreshold on (sparse entities with a wide spread); 0: off',
        ),
      dropRatio: positive.max(1).default(0.25).describe('A drop must also be at most this fraction of the expected value'),
      minHistoryIntervals: z.number().int().min(1).default(60).describe('Intervals of history before an entity can alert'),
      minBytes: z
        .number()
        .min(0)
        .default(50_000_000)
        .describe('Per interval: spikes below this observed, drops below this expected, stay quiet'),
      minPackets: z.number().min(0).default(50_000),
      minFlows: z.number().min(0).default(2_000),
      dropWindowIntervals: z
        .number()
        .int()
        .min(0)
        .max(60)
        .default(10)
        .describe(
          'Drops are also judged over runs of up to this many recent intervals (0: one interval only): minFlows then applies to the run, so a sparse entity that falls to a few percent is seen within a few intervals',
        ),
      dropStepMs: z
        .number()
        .int()
        .min(0)
        .default(10_000)
        .describe(
          'Drops are also judged every this many ms of event time on runs of steps of this length over the last two intervals, and spikes on the interval so far, before an interval closes (0: off); must divide intervalMs',
        ),
      kinds: z
        .array(z.enum(['supplier', 'exporter', 'organisation_in', 'organisation_out', 'organisation_pair', 'service']))
        .default(['supplier', 'exporter', 'organisation_in', 'organisation_out', 'organisation_pair', 'service'])
        .describe('Entity kinds with volume baselines'),
    })
    .prefault({}),
  silence: z
    .strictObject({
      multiplier: positive.default(6).describe('Silent after this many times the usual gap between its flows'),
      minSilenceMs: ms.default(3 * MINUTE).describe('... and at least this long'),
      recentGapMultiplier: positive
        .default(3)
        .describe(
          "... and at least this many times the source's longest gap of the last hour (its cadence now: minutes at night for a sparse exporter)",
        ),
      minHistory: z.number().int().min(1).default(30).describe('Arrivals seen before an exporter can be reported silent'),
      minActiveMinutes: z
        .number()
        .int()
        .min(1)
        .default(10)
        .describe(
          '... in at least this many distinct minutes (a burst of arrivals is not a history); until then every gap up to an hour is learnt as its cadence',
        ),
    })
    .prefault({}),
  scan: z
    .strictObject({
      maxProbePackets: z.number().int().min(1).default(3).describe('Flows of at most this many packets (estimated) count as probes'),
      windowMs: ms.min(1000).default(MINUTE),
      ports: z.number().int().min(2).default(100).describe('Vertical scan: distinct ports of one host probed by one source in windowMs'),
      hosts: z.number().int().min(2).default(64).describe('Horizontal sweep: distinct hosts probed on one port by one source in windowMs'),
      slowWindowMs: ms.min(1000).default(HOUR).describe('Window for slow scans'),
      slowPorts: z.number().int().min(2).default(300),
      slowHosts: z.number().int().min(2).default(256),
      burstWindowMs: ms
        .min(1000)
        .default(5000)
        .describe('Early detection: a key whose window starts with a burst of probes is raised within this time'),
      burstPorts: z.number().int().min(2).default(20).describe('Vertical scan: distinct ports within burstWindowMs of the first probe'),
      burstHosts: z.number().int().min(2).default(20).describe('Horizontal sweep: distinct hosts within burstWindowMs of the first probe'),
    })
    .prefault({}),
  flood: z
    .strictObject({
      windowMs: ms.min(1000).default(10_000).describe('Rate window of destinations'),
      factor: positive.default(10).describe('Rate must be this many times the destination baseline'),
      minPps: positive.default(20_000).describe('Packets per second a flood must reach at least'),
      minBps: positive.default(1e9).describe('Or bits per second'),
      minSources: z.number().int().min(1).default(20).describe('Distinct sources a flood comes from at least'),
      synShare: positive.max(1).default(0.7).describe('SYN flood: share of TCP packets in SYN-only flows'),
      minSynPps: positive.default(2_000).describe('SYN flood: SYN-only packets per second at least'),
      amplificationPorts: z
        .array(portNumber)
        .default([17, 19, 53, 111, 123, 137, 161, 389, 1900, 3283, 3702, 5353, 11211])
        .describe('UDP source ports of reflectors (DNS, NTP, SSDP, memcached, CLDAP, ...)'),
      minAmplificationBps: positive.default(100e6).describe('Amplification: bits per second from reflector ports at least'),
      minReflectors: z.number().int().min(1).default(10),
      minAmplificationPacketBytes: positive.default(400).describe('Average response packet size at least'),
    })
    .prefault({}),
  lateral: z
    .strictObject({
      ports: z
        .array(portNumber)
        .default([22, 23, 135, 137, 138, 139, 445, 3389, 5985, 5986])
        .describe('Administrative and risky ports (SSH, Telnet, RPC, NetBIOS, SMB, RDP, WinRM)'),
      allow: z
        .array(
          z.strictObject({
            from: z.string().describe('Organisation code, group:<id>, or *'),
            to: z.string().describe('Organisation code, group:<id>, or *'),
            ports: z.array(portNumber).default([]).describe('Empty: every lateral port'),
          }),
        )
        .default([])
        .describe('Cross-organisation traffic on lateral ports that policy allows'),
      learnAllowed: z.boolean().default(true).describe('Organisation pairs and ports seen during the learning period are allowed'),
      wormWindowMs: ms.min(1000).default(2 * MINUTE),
      wormMinOrganisations: z
        .number()
        .int()
        .min(2)
        .default(5)
        .describe('A source reaching this many organisations on one port is spreading'),
    })
    .prefault({}),
  exfiltration: z
    .strictObject({
      zThreshold: positive.default(6),
      ratio: positive.default(5).describe('Outbound volume must be this many times its baseline'),
      minBytesOrganisation: z
        .number()
        .min(0)
        .default(500_000_000)
        .describe('Bytes per interval to the internet from one organisation, at least'),
      minBytesHost: z.number().min(0).default(100_000_000).describe('Bytes per interval to the internet from one host, at least'),
      minHistoryIntervals: z.number().int().min(1).default(60),
      sustained: z
        .strictObject({
          windowMs: z
            .number()
            .int()
            .min(60_000)
            .default(3_600_000)
            .describe('Sliding window of the sustained-upload rule (slides by a twelfth of it)'),
          minBytes: z
            .number()
            .min(0)
            .default(100_000_000)
            .describe('Bytes one host uploads to the internet within the window, at least (a slow leak below the per-interval floor)'),
          asymmetry: z
            .number()
            .min(0)
            .default(4)
            .describe('The upload must be this many times what the host received from the internet in the window'),
        })
        .prefault({})
        .describe('Slow, steady uploads from one host, over a window longer than an interval'),
      surge: z
        .strictObject({
          windowMs: z
            .number()
            .int()
            .min(60_000)
            .default(15 * 60_000)
            .describe('Window of the upload-surge rule, in whole buckets of the sustained window (a twelfth of it)'),
          minBytes: z
            .number()
            .min(0)
            .default(20_000_000)
            .describe(
              'Bytes one host uploads to the internet within the surge window, at least (and sustained.asymmetry times what it received)',
            ),
          ratio: positive
            .default(10)
            .describe(
              "... and this many times the host's own learnt level: the most it uploaded in such a window, halving every day, surges excluded",
            ),
        })
        .prefault({})
        .describe("Upload surge: a host uploading far above its own level over minutes (a leak too short for the sustained rule's hour)"),
    })
    .prefault({}),
  newPair: z
    .strictObject({
      enabled: z.boolean().default(true),
      minFlows: z.number().int().min(1).default(3).describe('Flows a new pair needs before it is reported'),
      peerOrganisations: z
        .number()
        .int()
        .min(0)
        .default(3)
        .describe(
          "Peer groups: a new pair is learnt without an alert when it is common for the organisations' kinds: the other organisation (or the service) already talks with this many organisations of one of the organisation's registry groups, or the organisation already talks with this many of one of the other's groups (0: report every new pair)",
        ),
    })
    .prefault({}),
  blocklists: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/),
        path: z.string().min(1).describe('Plain file: one IP or CIDR per line, # comments'),
        severity: severity.default('high'),
      }),
    )
    .default([])
    .describe('Threat-intelligence block lists; re-read on SIGHUP and when the file changes'),
  blocklistReloadMs: ms.min(1000).default(MINUTE).describe('How often block list files are checked for changes'),
  policies: z.array(policyRuleSchema).default([]).describe('Declarative rules over enriched fields'),
  alerts: z
    .strictObject({
      quietPeriodMs: ms.default(5 * MINUTE).describe('An alert resolves when its condition has not been seen for this long (event time)'),
      reopenWindowMs: ms.default(HOUR).describe('A recurrence within this time of resolving re-opens the same alert'),
      updateIntervalMs: ms.default(MINUTE).describe('A persisting alert is re-published at most this often (escalations at once)'),
      maxOpen: z.number().int().min(10).default(20_000).describe('Open and recently resolved alerts held at most'),
    })
    .prefault({}),
  suppressions: z
    .array(suppressionSchema)
    .default([])
    .describe('Alerts never raised (besides those analysts create through the API, read from ClickHouse)'),
  suppressionsReloadMs: ms
    .min(1000)
    .default(15_000)
    .describe("How often the API's suppressions (ClickHouse table suppressions) are re-read"),
  analystChangesReloadMs: ms
    .min(1000)
    .default(5000)
    .describe("How often analysts' acknowledgements and resolutions of the alerts held (ClickHouse alert_events) are read"),
  maintenance: z.array(maintenanceSchema).default([]).describe('Windows during which matching alerts are not raised'),
  severity: z
    .array(z.strictObject({ ...selector, severity }))
    .default([])
    .describe('Severity overrides; the last matching rule wins'),
  overrides: z
    .array(
      z.strictObject({
        ...selector,
        scale: positive.default(1).describe('Multiplies the thresholds (z-score, ratios, minimum volumes and counts)'),
        disabled: z.boolean().default(false).describe('No detection for matching entities'),
      }),
    )
    .default([])
    .describe('Per-entity or per-group threshold overrides; the last matching rule wins'),
  webhooks: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/),
        url: z.url({ protocol: /^https?$/ }),
        secret: z.string().min(16).describe('HMAC-SHA256 key; the signature is in X-Flowwatch-Signature: sha256=<hex>'),
        suppliers: z.array(z.string()).default([]).describe('Only alerts naming one of these suppliers (empty: all)'),
        minSeverity: severity.default('low'),
        types: z.array(alertType).default([]).describe('Alert types (empty: all)'),
      }),
    )
    .default([]),
  webhookQueue: z.number().int().min(1).default(10_000).describe('Deliveries waiting at most; beyond it the oldest are dropped (counted)'),
  webhookRetries: z.number().int().min(0).default(6).describe('Retries after a failed delivery (back-off doubles from 1 s, max 60 s)'),
  webhookTimeoutMs: ms.min(100).default(5000),
  alertmanager: z
    .strictObject({
      url: z
        .url({ protocol: /^https?$/ })
        .optional()
        .describe('Alertmanager base URL; alerts go to POST <url>/api/v2/alerts'),
      resendMs: ms.min(1000).default(MINUTE).describe('Open alerts are re-sent this often (Alertmanager expects it)'),
    })
    .prefault({}),
  checkpointIntervalMs: ms.min(1000).default(MINUTE).describe('How often detector state is checkpointed to the state topic'),
  repartition: z
    .strictObject({
      enabled: z
        .boolean()
        .default(false)
        .describe(
          'Several detector instances in one group: each instance also runs the repartition stage (flows -> kafka.topics.flowsByEntity, re-keyed by the entity owning the state), and keeps and checkpoints state per partition of that topic. Off: one instance per group consumes flows directly (docs/detection.md, "Horizontal scale")',
        ),
      groupId: z.string().min(1).optional().describe('Consumer group of the repartition stage on flows (default: `<groupId>.repartition`)'),
    })
    .prefault({})
    .describe('The repartition stage and per-partition state (horizontal scale of the detector)'),
});
export const detectorSchema = detectorObject.refine(
  (c) => c.volume.dropStepMs === 0 || (c.volume.dropStepMs <= c.intervalMs && c.intervalMs % c.volume.dropStepMs === 0),
  { message: 'volume.dropStepMs must be 0 or divide intervalMs', path: ['volume', 'dropStepMs'] },
);
export type DetectorConfig = z.infer<typeof detectorSchema>;
export type DetectorConfigInput = z.input<typeof detectorSchema>;
