import type { DetectorConfig, RegistryConfig } from '@flowwatch/config';
import { type EnrichedFlow, Enricher } from '@flowwatch/enrichment';
import type { FlowRecord } from '@flowwatch/flow-schema';
import { type AlertChange, AlertTracker, type TrackerSnapshot } from './alert-tracker.js';
import type { DetectorContext, DetectorFamily } from './context.js';
import type { Detection } from './detection.js';
import { BlocklistDetector, type BlocklistTable } from './detectors/blocklist.js';
import { ExfiltrationDetector, type UploadSnapshot } from './detectors/exfiltration.js';
import { FloodDetector } from './detectors/flood.js';
import { LateralDetector } from './detectors/lateral.js';
import { NewPairDetector } from './detectors/new-pair.js';
import { PolicyDetector } from './detectors/policy.js';
import { ScanDetector } from './detectors/scan.js';
import { SilenceDetector } from './detectors/silence.js';
import { VolumeDetector, type VolumeKind, type VolumeRow } from './detectors/volume.js';
import { Directory } from './directory.js';
import { EventClock } from './event-clock.js';
import { eventMs, RecentFlows } from './evidence.js';
import { INCIDENT_HOLD_MS, IncidentAddresses, incidentAddress } from './incident-addresses.js';
import { Overrides } from './rules.js';

export interface EngineOptions {
  config: DetectorConfig;
  registry: RegistryConfig;
  /**
   * Wall clock (ms) for alerts' `detected_at`; without it, and with `config.detectedAt: event`, the
   * event time of the decision: max(sighting's event time, watermark). An interval's volume is
   * decided when the watermark passes its end, a scan on the probe that completes it.
   */
  now?: () => number;
}

export interface EngineStats {
  flows: number;
  lateFlows: number;
  watermarkMs: number;
  /** Tracked entities per detector family. */
  entities: Record<string, number>;
  /** Evictions per detector family since start. */
  evictions: Record<string, number>;
  openAlerts: number;
  suppressed: number;
  maintenance: number;
  /** Volume spikes not raised because an ongoing flow-level incident's flows explain them. */
  explained: number;
  /** New pairs learnt without an alert because they are common for the organisations' peer groups. */
  peerCommon: number;
  /** Volume spikes of services, suppliers and exporters not raised because the rise was broad (many organisations). */
  broadSpikes: number;
  /** Volume spikes of suppliers and exporters not raised because the rest of the network rose as much (a shared surge of demand). */
  networkSpikes: number;
  /** Volume drops not raised because the telemetry that would show them is missing (a silent supplier or exporter). */
  blindDrops: number;
  /** Volume drops not yet raised because the exporter carrying the entity had not delivered that far (its flows may still come). */
  behindDrops: number;
  /** Volume drops raised on steps their exporters had delivered by the stream (their usual lag behind it), past their own latest flow. */
  streamDrops: number;
  /** Volume spikes raised before their interval closed (judged at a step boundary on the interval so far). */
  earlySpikes: number;
  droppedAlerts: number;
}

/** What a checkpoint holds: the long-lived state (baselines, learnt pairs, alerts). */
export interface EngineSnapshot {
  version: 1;
  maxEventMs: number;
  oldestOpenMs: number;
  maxReceivedMs: number;
  learningStartMs: number;
  volume: ReturnType<VolumeDetector['snapshot']>;
  exfiltration: ReturnType<ExfiltrationDetector['snapshot']>;
  /** Hosts' learnt upload peaks and surge levels (absent in checkpoints written before 2026-11-23). */
  uploads?: UploadSnapshot[];
  silence: ReturnType<SilenceDetector['snapshot']>;
  lateral: string[];
  newPairs: string[];
  alerts: TrackerSnapshot;
}

/** Rollup data for a warm start (the service reads it from flows_1h and flows_1m). */
export interface WarmStart {
  /** Hourly volumes per entity (teach the seasonal profiles). */
  hourly: readonly VolumeRow[];
  /** Minute volumes per entity in [minutesFromMs, minutesToMs) (replayed for level and spread). */
  minutes: readonly VolumeRow[];
  minutesFromMs: number;
  minutesToMs: number;
  /** Hourly bytes to the internet per organisation (exfiltration profiles). */
  internetHourly: readonly { org: string; ts: number; bytes: number }[];
  /** Traffic seen in the rollups: organisation pairs, services and lateral ports become known. */
  pairs: readonly { srcOrg: string; dstOrg: string; service: string; dstPort: number }[];
  /** Earliest time the rollups cover, ms: the learning period counts from there. */
  earliestMs: number;
}

const TICK_MS = 1000;
const EXPIRE_MS = 60_000;

/**
 * Detector families as bits, for `processEnriched(flow, families)`: a detector instance fed by the
 * repartition stage runs on a copy of a flow only the families whose entities its partition owns.
 */
export const FAMILY = {
  volume: 1,
  silence: 2,
  scan: 4,
  flood: 8,
  lateral: 16,
  exfiltration: 32,
  newPair: 64,
  blocklist: 128,
  policy: 256,
} as const;
export const ALL_FAMILIES = 511;

/**
 * The streaming detector: feed it flow records (or enriched flows) in roughly arrival order; it
 * keeps event time (EventClock), runs every detector family on each flow, closes intervals when
 * the watermark passes them, and turns detections into alert changes (AlertTracker) to `drain()`.
 * Pure: no I/O, no timers; time comes only from the records and from `advanceTo`.
 */
export class DetectionEngine {
  readonly clock: EventClock;
  readonly recent = new RecentFlows();
  readonly tracker: AlertTracker;
  readonly volume: VolumeDetector;
  readonly silence: SilenceDetector;
  readonly scan: ScanDetector;
  readonly flood: FloodDetector;
  readonly lateral: LateralDetector;
  readonly exfiltration: ExfiltrationDetector;
  readonly newPair: NewPairDetector;
  readonly blocklist: BlocklistDetector;
  readonly policy: PolicyDetector;
  readonly families: DetectorFamily[];
  readonly incidents: IncidentAddresses;
  #enricher: Enricher;
  readonly #ctx: DetectorContext;
  #flows = 0;
  #maxReceivedMs = Number.NEGATIVE_INFINITY;
  #nextTickMs = Number.NEGATIVE_INFINITY;
  #nextExpireMs = Number.NEGATIVE_INFINITY;
  /** Next step boundary at which drops are judged (volume.dropStepMs). */
  #nextStepMs = Number.NEGATIVE_INFINITY;
  #learningStartMs = Number.NaN;
  readonly #closeInterval = (start: number) => {
    this.volume.explainPending();
    this.volume.onIntervalClose(start);
    this.exfiltration.onIntervalClose(start);
  };

  constructor(private readonly options: EngineOptions) {
    const { config, registry } = options;
    this.clock = new EventClock(config.intervalMs, config.allowedLatenessMs, undefined, config.maxPartitionSkewMs);
    this.#enricher = new Enricher(registry);
    const directory = new Directory(registry);
    const engine = this;
    const decidedAt = (lastSeenMs: number) => Math.max(lastSeenMs, this.clock.watermarkMs);
    this.tracker = new AlertTracker(config, directory, (d) => this.#evidence(d), config.detectedAt === 'event' ? decidedAt : options.now);
    const incidents = new IncidentAddresses(Math.min(config.maxEntities, 100_000));
    this.incidents = incidents;
    const tracker = this.tracker;
    this.#ctx = {
      config,
      directory,
      overrides: new Overrides(config.overrides, directory),
      sink: {
        raise(d) {
          // The flows of a flow-level incident read before it was known (its first seconds) were
          // counted as its carriers' own traffic: those still in the ring become the incident's.
          const addr = incidentAddress(d);
          if (addr !== undefined) {
            if (incidents.heldUntil(addr) < engine.clock.maxEventMs) engine.volume.explainLater(addr);
            incidents.mark(addr, d.atMs + INCIDENT_HOLD_MS);
          }
          tracker.raise(d);
        },
      },
      incidents,
      recent: this.recent,
      clock: this.clock,
      learning(t: number): boolean {
        return Number.isNaN(engine.#learningStartMs) || t < engine.#learningStartMs + config.learningPeriodMs;
      },
      serviceAtDestination: (f: EnrichedFlow) => {
        const enricher = this.#enricher;
        // The flow being processed was enriched by this enricher just now: its answer is known.
        if (f === enricher.lastEnriched && f.service !== '') return enricher.lastServiceAtDestination;
        return enricher.serviceFor(f.dst_addr, f.dst_port) === f.service;
      },
    };
    this.volume = new VolumeDetector(this.#ctx);
    this.silence = new SilenceDetector(this.#ctx);
    this.volume.isSilent = (kind, id) => this.silence.isSilent(kind, id);
    this.volume.anySupplierSilent = () => this.silence.anySupplierSilent();
    this.scan = new ScanDetector(this.#ctx);
    this.flood = new FloodDetector(this.#ctx);
    this.lateral = new LateralDetector(this.#ctx);
    this.exfiltration = new ExfiltrationDetector(this.#ctx);
    this.newPair = new NewPairDetector(this.#ctx);
    this.blocklist = new BlocklistDetector(this.#ctx);
    this.policy = new PolicyDetector(this.#ctx);
    this.families = [
      this.volume,
      this.silence,
      this.scan,
      this.flood,
      this.lateral,
      this.exfiltration,
      this.newPair,
      this.blocklist,
      this.policy,
    ];
  }

  /** Enriches a flow record from the registry and detects on it. */
  process(flow: FlowRecord): void {
    const t = eventMs(flow);
    if (!(t > 0)) return;
    const start = this.#arrive(t, flow.time_received_ns);
    // Enriched straight into the ring of recent flows: no record allocated per flow.
    const enricher = this.#enricher;
    const f = enricher.enrichInto(flow, this.recent.claim(t));
    this.#detect(f, start, t, ALL_FAMILIES);
    // The ring's record is rewritten later by another flow.
    enricher.lastEnriched = undefined;
  }

  /** `families`: a mask of FAMILY bits (default all): the families this flow is fed to. */
  processEnriched(f: EnrichedFlow, families: number = ALL_FAMILIES): void {
    const t = eventMs(f);
    if (!(t > 0)) return;
    const start = this.#arrive(t, f.time_received_ns);
    this.#enricher.lastEnriched = undefined;
    this.recent.push(f, t);
    this.#detect(f, start, t, families);
  }

  /** Event time moves on with a flow of event time `t`: returns the start of the interval it counts in. */
  #arrive(t: number, receivedNs: number): number {
    this.#flows++;
    if (Number.isNaN(this.#learningStartMs)) this.#learningStartMs = t;
    const received = receivedNs / 1e6;
    if (received > this.#maxReceivedMs) this.#maxReceivedMs = received;
    if (t > this.clock.maxEventMs) {
      this.clock.advance(t, this.#closeInterval);
      if (this.clock.watermarkMs >= this.#nextStepMs) this.#closeSteps();
    }
    return this.clock.assign(t);
  }

  #detect(f: EnrichedFlow, start: number, t: number, families: number): void {
    if (families === ALL_FAMILIES) {
      this.volume.onFlow(f, start, t);
      this.exfiltration.onFlow(f, start, t);
      this.silence.onFlow(f);
      this.scan.onFlow(f, t);
      this.flood.onFlow(f, t);
      this.lateral.onFlow(f, t);
      this.newPair.onFlow(f, t);
      this.blocklist.onFlow(f, t);
      this.policy.onFlow(f, t);
    } else {
      if (families & FAMILY.volume) this.volume.onFlow(f, start, t);
      if (families & FAMILY.exfiltration) this.exfiltration.onFlow(f, start, t);
      if (families & FAMILY.silence) this.silence.onFlow(f);
      if (families & FAMILY.scan) this.scan.onFlow(f, t);
      if (families & FAMILY.flood) this.flood.onFlow(f, t);
      if (families & FAMILY.lateral) this.lateral.onFlow(f, t);
      if (families & FAMILY.newPair) this.newPair.onFlow(f, t);
      if (families & FAMILY.blocklist) this.blocklist.onFlow(f, t);
      if (families & FAMILY.policy) this.policy.onFlow(f, t);
    }
    if (t >= this.#nextTickMs) this.#tick();
  }

  /**
   * An exporter's telemetry without flow records, received up to `receivedMs` (a heartbeat on
   * `flows`, see @flowwatch/flow-schema): it is not silent, and has delivered up to there (the
   * volume drops of what it carries are judged up to it). Reception time moves on as with a flow.
   * `families`: as for a flow, the families this instance keeps for it (silence, volume).
   */
  seeTelemetry(supplierId: string, exporterId: string, receivedMs: number, families: number = ALL_FAMILIES): void {
    if (families & FAMILY.silence) this.silence.onTelemetry(supplierId, exporterId, receivedMs);
    if (families & FAMILY.volume) this.volume.onTelemetry(supplierId, exporterId, receivedMs);
    if (receivedMs > this.#maxReceivedMs) this.#maxReceivedMs = receivedMs;
  }

  /**
   * Moves time on while no flows arrive (the service calls it when idle, with the event time the
   * stream would have reached): closes intervals, checks silence, resolves quiet alerts.
   */
  advanceTo(eventTimeMs: number, receivedMs = eventTimeMs): void {
    if (receivedMs > this.#maxReceivedMs) this.#maxReceivedMs = receivedMs;
    if (eventTimeMs > this.clock.maxEventMs) {
      this.clock.advance(eventTimeMs, this.#closeInterval);
      if (this.clock.watermarkMs >= this.#nextStepMs) this.#closeSteps();
    }
    this.#tick();
  }

  /**
   * Holds the watermark at the event time the slowest input (a Kafka partition) has reached, for
   * at most `maxPartitionSkewMs` (Infinity: no hold); closes what a raised hold lets through.
   */
  holdWatermark(eventTimeMs: number): void {
    const before = this.clock.watermarkMs;
    this.clock.holdMs = eventTimeMs;
    if (!(this.clock.watermarkMs > before) || !Number.isFinite(this.clock.maxEventMs)) return;
    this.clock.advance(this.clock.maxEventMs, this.#closeInterval);
    if (this.clock.watermarkMs >= this.#nextStepMs) this.#closeSteps();
    this.#tick();
  }

  /** Judges drops on the steps the watermark has passed (only the latest boundary: the runs end there). */
  #closeSteps(): void {
    const stepMs = this.options.config.volume.dropStepMs;
    if (stepMs <= 0) {
      this.#nextStepMs = Number.POSITIVE_INFINITY;
      return;
    }
    const end = Math.floor(this.clock.watermarkMs / stepMs) * stepMs;
    this.#nextStepMs = end + stepMs;
    this.volume.explainPending();
    this.volume.onStep(end);
  }

  #tick(): void {
    const watermark = this.clock.watermarkMs;
    this.#nextTickMs = this.clock.maxEventMs + TICK_MS;
    // Silence is judged at what every input has delivered: an exporter read from a partition held
    // back by a backlog is not silent.
    const received = this.#maxReceivedMs;
    const hold = this.clock.holdMs;
    if (Number.isFinite(received)) this.silence.check(hold < received ? Math.max(hold, received - this.clock.maxHoldMs) : received);
    this.volume.explainPending();
    this.volume.retryWaiting();
    this.tracker.sweep(watermark);
    if (watermark >= this.#nextExpireMs) {
      this.#nextExpireMs = watermark + EXPIRE_MS;
      this.scan.expire(watermark);
      this.incidents.expire(watermark);
    }
  }

  /** Alert changes since the last call, oldest first. */
  drain(): AlertChange[] {
    return this.tracker.drain();
  }

  /** Latest event time seen, ms. */
  get maxEventMs(): number {
    return this.clock.maxEventMs;
  }

  /** A new registry: names, groups and enrichment change; baselines are kept. */
  setRegistry(registry: RegistryConfig): void {
    this.#enricher = new Enricher(registry);
    const directory = new Directory(registry);
    this.#ctx.directory = directory;
    this.#ctx.overrides = new Overrides(this.options.config.overrides, directory);
  }

  /** Suppressions made at run time (the API's), in addition to `config.suppressions`. */
  setSuppressions(rules: DetectorConfig['suppressions']): void {
    this.tracker.setSuppressions(rules);
  }

  setBlocklists(lists: BlocklistTable): void {
    this.blocklist.lists = lists;
  }

  #evidence(d: Detection) {
    return this.recent.evidence(d.match, d.details);
  }

  stats(): EngineStats {
    const entities: Record<string, number> = {};
    const evictions: Record<string, number> = {};
    for (const f of this.families) {
      entities[f.name] = f.size;
      evictions[f.name] = f.evictions;
    }
    return {
      flows: this.#flows,
      lateFlows: this.clock.lateFlows,
      watermarkMs: this.clock.watermarkMs,
      entities,
      evictions,
      openAlerts: this.tracker.open().length,
      suppressed: this.tracker.counters.suppressed,
      maintenance: this.tracker.counters.maintenance,
      explained: this.incidents.explainedSpikes,
      peerCommon: this.newPair.peerCommon,
      broadSpikes: this.volume.broadSpikes,
      networkSpikes: this.volume.networkSpikes,
      blindDrops: this.volume.blindDrops,
      behindDrops: this.volume.behindDrops,
      streamDrops: this.volume.streamDrops,
      earlySpikes: this.volume.earlySpikes,
      droppedAlerts: this.tracker.counters.dropped,
    };
  }

  snapshot(): EngineSnapshot {
    return {
      version: 1,
      maxEventMs: this.clock.maxEventMs,
      oldestOpenMs: this.clock.oldestOpenMs,
      maxReceivedMs: this.#maxReceivedMs,
      learningStartMs: this.#learningStartMs,
      volume: this.volume.snapshot(),
      exfiltration: this.exfiltration.snapshot(),
      uploads: this.exfiltration.snapshotUploads(),
      silence: this.silence.snapshot(),
      lateral: this.lateral.snapshot(),
      newPairs: this.newPair.snapshot(),
      alerts: this.tracker.snapshot(),
    };
  }

  /** Restores a snapshot into a fresh engine (before any flow). */
  restore(s: EngineSnapshot): void {
    if (s.version !== 1) throw new Error(`unknown detector snapshot version ${String(s.version)}`);
    const num = (v: number | null) => (v === null ? Number.NaN : v);
    if (Number.isFinite(num(s.maxEventMs)) && s.maxEventMs > this.clock.maxEventMs) this.clock.maxEventMs = s.maxEventMs;
    if (Number.isNaN(this.clock.oldestOpenMs) && Number.isFinite(num(s.oldestOpenMs))) this.clock.oldestOpenMs = s.oldestOpenMs;
    if (Number.isFinite(num(s.maxReceivedMs))) this.#maxReceivedMs = Math.max(this.#maxReceivedMs, s.maxReceivedMs);
    const learning = num(s.learningStartMs);
    if (Number.isFinite(learning) && (Number.isNaN(this.#learningStartMs) || learning < this.#learningStartMs))
      this.#learningStartMs = learning;
    this.volume.restore(s.volume);
    this.exfiltration.restore(s.exfiltration);
    if (s.uploads !== undefined) this.exfiltration.restoreUploads(s.uploads);
    this.silence.restore(s.silence);
    this.lateral.restore(s.lateral);
    this.newPair.restore(s.newPairs);
    this.tracker.restore(s.alerts);
  }

  /** Warm start from the rollups (call before the first flow). */
  warm(w: WarmStart): void {
    const intervalsPerHour = 3_600_000 / this.clock.intervalMs;
    this.volume.warmHourly(w.hourly, intervalsPerHour);
    for (const r of w.internetHourly) this.exfiltration.warmOrganisation(r.org, r.ts, r.bytes, intervalsPerHour);
    const byEntity = new Map<string, VolumeRow[]>();
    for (const r of w.minutes) {
      const key = `${r.kind}|${r.id}`;
      const list = byEntity.get(key);
      if (list === undefined) byEntity.set(key, [r]);
      else list.push(r);
    }
    for (const rows of byEntity.values()) {
      rows.sort((a, b) => a.ts - b.ts);
      const first = rows[0]!;
      this.volume.warmIntervals(first.kind as VolumeKind, first.id, rows, w.minutesFromMs, w.minutesToMs);
    }
    for (const p of w.pairs) {
      if (p.srcOrg !== '' && p.dstOrg !== '' && p.srcOrg !== p.dstOrg) {
        this.newPair.learn(NewPairDetector.orgPairKey(p.srcOrg, p.dstOrg));
        if (this.options.config.lateral.learnAllowed && this.options.config.lateral.ports.includes(p.dstPort))
          this.lateral.learn(`${p.srcOrg}>${p.dstOrg}:${p.dstPort}`);
      }
      if (p.service !== '') {
        if (p.srcOrg !== '') this.newPair.learn(`s|${p.srcOrg}|${p.service}`);
        if (p.dstOrg !== '') this.newPair.learn(`s|${p.dstOrg}|${p.service}`);
      }
    }
    if (Number.isFinite(w.earliestMs) && (Number.isNaN(this.#learningStartMs) || w.earliestMs < this.#learningStartMs))
      this.#learningStartMs = w.earliestMs;
  }

  /** Approximate bytes of state per family (benchmark figure). */
  approximateBytes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const f of this.families) if (f.approximateBytes) out[f.name] = f.approximateBytes();
    return out;
  }
}
