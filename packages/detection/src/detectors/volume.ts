import type { EnrichedFlow } from '@flowwatch/enrichment';
import type { EntityKind, Severity } from '@flowwatch/flow-schema';
import { type Expectation, hourOfWeek, LevelBaseline, type LevelSnapshot, SeasonalBaseline } from '../baseline.js';
import type { DetectorContext, DetectorFamily } from '../context.js';
import { escalate } from '../detection.js';
import { formatBytes, formatCount, formatDuration, suppliersOf } from '../directory.js';
import { DropSteps, DropWindow, dropZ, type StepCriteria, type StepDrop } from '../drop-window.js';
import { EntityTable, HeldEntity } from '../entity-table.js';
import { IntervalSums } from '../event-clock.js';
import { largestSum } from '../evidence.js';
import { conversationOf, hashNumber, hashString } from '../hash.js';
import { IntervalConversations } from '../interval-conversations.js';
import { KeyCache } from '../key-cache.js';

export const VOLUME_KINDS = ['supplier', 'exporter', 'organisation_in', 'organisation_out', 'organisation_pair', 'service'] as const;
export type VolumeKind = (typeof VOLUME_KINDS)[number];
const METRICS = ['bytes', 'packets', 'flows'] as const;

export interface VolumeEntity {
  touched: boolean;
  kind: VolumeKind;
  id: string;
  baseline: SeasonalBaseline;
  /**
   * The level of its bytes and packets without the interval's three largest conversations (#restZ):
   * steadier than the whole for a sparse entity whose minutes are one large flow or none.
   */
  rest: [LevelBaseline, LevelBaseline];
  /**
   * The recent peak of its bytes and packets a minute (incidents' flows out), decaying by PEAK_DECAY
   * an interval, not learnt from an interval judged a spike: what it has itself done lately.
   */
  peak: [number, number];
  /**
   * The run of consecutive closed intervals whose rest was extreme (#restRun): for bytes, then
   * packets, how many, the sum of their rest and the peak before the run began. Undefined until
   * one begins (most entities never have one).
   */
  restRun: Float64Array | undefined;
  sums: IntervalSums;
  /** Threshold multipliers from overrides (0: disabled), resolved at creation. */
  spikeScale: number;
  dropScale: number;
  /** Latest collector reception time of its flows, ns (latency metric). */
  receivedNs: number;
  /** Recent intervals for drops judged over several (not for organisation pairs: too many, too sparse). */
  dropWindow: DropWindow | undefined;
  /** Flows and bytes per step of the last two intervals, for drops seen before an interval closes (with dropWindow, when dropStepMs > 0). */
  dropSteps: DropSteps | undefined;
  /** EWMA of intervals without flows (1 until learnt): whether its traffic is continuous. */
  emptyRate: number;
  /** `emptyRate` before the latest interval close learnt its interval. */
  emptyRateBefore: number;
  /**
   * `emptyRate` before the last two closes: the gate of drops on steps, whose runs span up to the
   * last two intervals. The current rate had learnt the drop itself: an organisation of 30 flows a
   * minute falling to 5 % has empty minutes, and one of them (0.05) closed the gate of 0.02 on the
   * drop it was meant to let through (evaluation seed 15: RU7 seen at 171 s, by the drops over
   * several intervals, which already took the rate from before their run).
   */
  stepEmptyRate: number;
  /** The exporter of its latest flow (the fast path of `carriers`). */
  carrier: Carrier | undefined;
  /**
   * The exporters that carried its flows (undefined: not tracked, an entity without drops), each
   * with the start of the latest interval it carried one in: its drops wait for the delivery of
   * those of the last two intervals (VolumeDetector.#behind). At most MAX_ENTITY_CARRIERS; an
   * entity carried by more (a national service, a supplier of many routers) waits for every
   * exporter's delivery instead, until `wideUntil` (the network's floor, #networkDelivered).
   */
  carriers: Carrier[] | undefined;
  carriersAt: number[] | undefined;
  /** The interval `carrier` was last noted for (the fast path). */
  carrierStart: number;
  wideUntil: number;
  /** Usual share of its flows carried by its three largest organisations (services, suppliers, exporters; NaN until learnt): #broad. */
  topShare: number;
  /** Start of the open interval whose sums so far were a spike at the latest step (NaN: none): raised at a later step if it holds. */
  earlySeenStart: number;
  /** The latest event time read when that was first seen: raised once the watermark has passed it (#earlySpikes). */
  earlySeenMs: number;
  /** Start of the open interval whose spike was raised before it closed (NaN: none): raised once, then judged at its close. */
  earlySpikeStart: number;
}

/** Learning rate of the level of what the three largest conversations leave (`rest`): about the last 20 intervals. */
const REST_ALPHA = 0.05;
/** Intervals of that level learnt before it judges (as the baseline's 16 residuals). */
const REST_HISTORY = 16;
/** How the recent peak (`peak`) decays each interval: halved in about 35 intervals. */
const PEAK_DECAY = 0.98;

/** Learning rate of `topShare`: about the last 10 intervals without a spike. */
const TOP_SHARE_ALPHA = 0.1;

/** A run of drop steps to judge at boundary `end` (a step number): an entity's, or an organisation's two directions. */
interface StepJudgement {
  end: number;
  entity: VolumeEntity;
  inbound: VolumeEntity | undefined;
  criteria: StepCriteria;
}

/** How far one exporter's flows have been delivered to this detector. */
interface Carrier {
  /** Latest event time of its flows read, ms. */
  latestMs: number;
  /** Latest reception time of its telemetry without flows (a heartbeat: alive, nothing to report), ms. */
  aliveMs: number;
  /**
   * How far behind its latest flow its flows still arrive (ms, at most the watermark hold): the
   * largest such lag of this reordering window and the last. An exporter's records are not in
   * event-time order (a flow is exported when it ends or times out; a push gateway with several
   * requests in flight lands a later batch first), so its latest flow is no proof that all
   * before it has arrived: it has delivered up to its latest flow less this.
   */
  reorderMs: number;
  /** The largest lag of the current reordering window. */
  reorderNowMs: number;
  /** End (event time of its latest flow) of the current reordering window. */
  reorderUntilMs: number;
  /**
   * How far behind the stream its flows arrive (ms, at most the watermark hold): the largest lag
   * of a flow's event time behind the event time every input had reached when it was read (the
   * watermark plus the allowed lateness), of this reordering window and the last. A working
   * exporter has delivered up to there less this, whether or not it had a flow to send: a sparse
   * one's latest flow may be 20 s old (#streamDelivered).
   */
  lagMs: number;
  /** The largest lag behind the stream of the current reordering window. */
  lagNowMs: number;
}

/** A volume entity's object without its baseline, sums, windows, carriers and id (21 fields and the header). */
const ENTITY_BYTES = 192;
/** `rest` and `peak`: two LevelBaselines (objects of four numbers) and an array of two numbers. */
const REST_BYTES = 2 * 56 + 48;
/** A carrier's object and its map entry, without the key. */
const CARRIER_BYTES = 104;
/** An exporter's reordering is the largest of this window of its event time and the last. */
const REORDER_WINDOW_MS = 5 * 60_000;

/** Exporters whose delivery is tracked at most (exporter ids of pushed records are the suppliers' own strings). */
const MAX_CARRIERS = 65_536;
/** Addresses newly held as incidents' between two passes over the ring (beyond: their earlier flows stay counted). */
const MAX_PENDING_EXPLAINED = 100_000;
/** Exporters an entity's drops wait for each of; carried by more, it waits for the network's delivery. */
const MAX_ENTITY_CARRIERS = 8;
/** Slot 0 of an entity's carriers: delivered everywhere (its time is the latest interval seen). */
const NO_CARRIER: Carrier = {
  latestMs: Number.POSITIVE_INFINITY,
  aliveMs: Number.POSITIVE_INFINITY,
  reorderMs: 0,
  reorderNowMs: 0,
  reorderUntilMs: Number.POSITIVE_INFINITY,
  lagMs: 0,
  lagNowMs: 0,
};

/** How far exporter `c` has delivered (event time, ms): its latest flow less its reordering, or its latest heartbeat. */
function deliveryOf(c: Carrier): number {
  return Math.max(c.latestMs - c.reorderMs, c.aliveMs);
}

/** The supplier of an exporter entity's id (`supplier/exporter`). */
function supplierOfExporter(id: string): string {
  return id.slice(0, id.indexOf('/'));
}

/**
 * The rest of the network's rise (#restRise) that is taken as shared demand: up by half or more.
 * Below it a minute's shared noise (5-10 %) would weaken every spike: at 1.03, seed 1's supplier
 * spike during the SMB worm (3.7 times its expectation without the worm's known flows) was lost.
 */
const MIN_NETWORK_RISE = 1.5;

/** Learning rate of `emptyRate`: about the last 20 intervals. */
const EMPTY_ALPHA = 0.05;
/** Drops over several intervals are judged for entities whose intervals are this rarely empty: none of about the last 20. */
const MAX_EMPTY_RATE = 0.02;

/** How far `c` has delivered for a drop judged up to `atMs`: `atMs`, its delivery within `holdMs` short of it, else NaN. */
function deliveredOf(c: Carrier, atMs: number, holdMs: number): number {
  const d = deliveryOf(c);
  if (d >= atMs) return atMs;
  return atMs - d <= holdMs ? d : Number.NaN;
}

/** Starts the reordering window of `c` that its latest flow, at `t`, falls in; the last one's lag stays counted. */
function nextReorderWindow(c: Carrier, t: number): void {
  const next = t < c.reorderUntilMs + REORDER_WINDOW_MS;
  c.reorderMs = next ? c.reorderNowMs : 0;
  c.reorderNowMs = 0;
  c.lagMs = next ? c.lagNowMs : 0;
  c.lagNowMs = 0;
  c.reorderUntilMs = t - (t % REORDER_WINDOW_MS) + REORDER_WINDOW_MS;
}

function learnEmpty(entity: VolumeEntity, flows: number): void {
  entity.stepEmptyRate = entity.emptyRateBefore;
  entity.emptyRateBefore = entity.emptyRate;
  entity.emptyRate += EMPTY_ALPHA * ((flows > 0 ? 0 : 1) - entity.emptyRate);
}

/**
 * The least spread of an entity's bytes and packets in `slot` (log scale): sums over flows, their
 * noise is at least the flow count's, 1 / sqrt of the expected flows (Poisson).
 */
function countFloor(b: SeasonalBaseline, slot: number): number {
  return 1 / Math.sqrt(1 + Math.max(0, Math.expm1(b.expectedLog(2, slot))));
}

/** Bytes (m 0) or packets (m 1) of the interval's three largest conversations (not an incident's): IntervalSums.add3max's layout. */
function largestFlows(values: Float64Array, m: number): number {
  return m < 2 ? values[3 + m]! + values[8 + 2 * m]! + values[9 + 2 * m]! : 0;
}

/** How an entity is named in an alert, and which flows are its (evidence, samples). */
interface Described {
  name: string;
  label: string;
  fields: { srcOrg?: string; dstOrg?: string; service?: string };
  match: (f: EnrichedFlow) => boolean;
}

/** A volume row read from the rollups at start (warm start). */
export interface VolumeRow {
  kind: VolumeKind;
  id: string;
  /** Start of the minute or hour, ms. */
  ts: number;
  bytes: number;
  packets: number;
  flows: number;
}

/**
 * Volume anomalies: bytes, packets and flows per interval of every supplier, exporter,
 * organisation (in and out), organisation pair and service, against a seasonal baseline
 * (baseline.ts). At each interval close an entity is scored on each metric and then learns it:
 * - spike: z >= zThreshold, observed >= spikeRatio x expected and observed >= the metric's minimum;
 * - drop: z <= -zThreshold, observed <= dropRatio x expected and expected >= the minimum.
 * Nothing alerts before minHistoryIntervals intervals (warm start counts) and 16 residuals.
 */
export class VolumeDetector implements DetectorFamily {
  readonly name = 'volume';
  /** One table per kind, keyed by the entity id itself: registry strings hash once, no key building. */
  readonly tables: Record<VolumeKind, EntityTable<VolumeEntity>>;
  readonly #enabled: Record<VolumeKind, boolean>;
  readonly #mins: number[];
  readonly #out = new Float64Array(12);
  /** Suppliers and exporters known to be silent: their drops are the silence alert's business. */
  isSilent: (kind: 'supplier' | 'exporter', id: string) => boolean = () => false;
  /** Whether any supplier is silent now. */
  anySupplierSilent: () => boolean = () => false;
  /** Drops not raised because of missing telemetry (a silent supplier or exporter: see #raise). */
  blindDrops = 0;

  constructor(private readonly ctx: DetectorContext) {
    this.tables = Object.fromEntries(VOLUME_KINDS.map((k) => [k, new EntityTable<VolumeEntity>(ctx.config.maxEntities)])) as Record<
      VolumeKind,
      EntityTable<VolumeEntity>
    >;
    const kinds = new Set<string>(ctx.config.volume.kinds);
    this.#enabled = Object.fromEntries(VOLUME_KINDS.map((k) => [k, kinds.has(k)])) as Record<VolumeKind, boolean>;
    const v = ctx.config.volume;
    this.#mins = [v.minBytes, v.minPackets, v.minFlows];
    this.#stepMs = v.dropStepMs;
    this.#seen = new IntervalConversations(ctx.clock.slots, ctx.clock.intervalMs);
    this.#runSupplierEntity = new HeldEntity(this.tables.supplier);
    this.#runExporterEntity = new HeldEntity(this.tables.exporter);
  }

  /**
   * The conversations (per exporter) of each open interval with their bytes and packets so far:
   * the flows metric counts a conversation once per interval, however many records carry it (an
   * sFlow agent's samples, a short active timeout's records), so it means the same for every
   * export protocol; the three largest are taken on conversations' totals.
   */
  readonly #seen: IntervalConversations;

  /** Length of a drop step, ms (0: no drops judged before an interval closes). */
  readonly #stepMs: number;
  /** The step of the flow being added. */
  #step = 0;

  get size(): number {
    let n = 0;
    for (const k of VOLUME_KINDS) n += this.tables[k].size;
    return n;
  }
  get evictions(): number {
    let n = 0;
    for (const k of VOLUME_KINDS) n += this.tables[k].evictions;
    return n;
  }

  *#entities(): Generator<VolumeEntity> {
    for (const k of VOLUME_KINDS) yield* this.tables[k].values();
  }

  /** Counts flow `f` of event time `t` (ms) in interval `start` of each of its entities. */
  onFlow(f: EnrichedFlow, start: number, t: number): void {
    const b = f.bytes_est;
    const p = f.packets_est;
    const e = this.#enabled;
    const rx = f.time_received_ns;
    this.#explained = this.ctx.incidents.explains(f.src_addr, f.dst_addr, start);
    // The ring's record of this flow (the engine put it there) counts as its entities' own, until
    // an incident it belongs to is known (explainPending).
    if (!this.#explained) this.ctx.recent.countLatest(f, start);
    if (f.supplier_id !== this.#runSupplier || f.exporter_id !== this.#runExporter) this.#newRun(f.supplier_id, f.exporter_id);
    const carrier = this.#carrier;
    if (carrier !== undefined) {
      if (t > carrier.latestMs) {
        carrier.latestMs = t;
        if (t >= carrier.reorderUntilMs) nextReorderWindow(carrier, t);
        this.#networkAtMs = Number.NaN;
      } else if (carrier.latestMs - t > carrier.reorderNowMs) this.#reordered(carrier, carrier.latestMs - t);
      const clock = this.ctx.clock;
      const lag = clock.watermarkMs + clock.latenessMs - t;
      if (lag > carrier.lagNowMs) this.#lagged(carrier, lag);
    }
    // One exporter's records of one 5-tuple: two exporters on its path each report it whole.
    this.#conversation = hashNumber(conversationOf(f), this.#exporterHash) || 1;
    this.#flows = this.#seen.add(start, this.#conversation, b, p) ? 1 : 0;
    if (this.#stepMs > 0) this.#step = Math.floor(t / this.#stepMs);
    // The run's supplier and exporter are looked up once a run (HeldEntity).
    if (e.supplier && f.supplier_id !== '') this.#count(this.#held(this.#runSupplierEntity, 'supplier', f.supplier_id), start, b, p, rx);
    if (e.exporter && f.exporter_id !== '')
      this.#count(this.#held(this.#runExporterEntity, 'exporter', this.#exporterKey), start, b, p, rx);
    const src = f.src_org;
    const dst = f.dst_org;
    if (src !== dst) {
      if (e.organisation_out && src !== '') this.#add('organisation_out', src, start, b, p, rx);
      if (e.organisation_in && dst !== '') this.#add('organisation_in', dst, start, b, p, rx);
      if (e.organisation_pair && src !== '' && dst !== '') this.#add('organisation_pair', this.#pairKeys.key(src, dst), start, b, p, rx);
    }
    if (e.service && f.service !== '') this.#add('service', f.service, start, b, p, rx);
  }

  /** Addresses newly held as an ongoing incident's, whose earlier flows are yet to be taken (#explainPending). */
  readonly #pending = new Set<string>();

  /**
   * `addr` has just become an ongoing incident's: its flows still in the ring of recent flows that
   * were counted as their entities' own traffic are to become the incident's (`explainPending`).
   */
  explainLater(addr: string): void {
    if (this.#pending.size < MAX_PENDING_EXPLAINED) this.#pending.add(addr);
  }

  /**
   * Moves the flows of the addresses newly held as an ongoing incident's (`explainLater`) that
   * are still in the ring of recent flows and were counted as their entities' own traffic into the
   * incident's part of their intervals (metrics 5-7), when these are still open, as if the incident
   * had been known when they were read. A flood is called seconds after it starts, and by then its
   * flows have raised every exporter and supplier carrying it; when the interval closes long after
   * (the watermark held by a partition read behind), the ring no longer holds them to be sampled
   * (#sampleExplains). One pass over the ring for every address held since the last (the engine
   * calls it every second of event time and before intervals and steps are judged), on the ring's
   * address hashes: a storm of new incidents (thousands of scanners) costs one pass a second.
   */
  explainPending(): void {
    const pending = this.#pending;
    if (pending.size === 0) return;
    const conversations = new Set<number>();
    const e = this.#enabled;
    this.ctx.recent.takeCounted(pending, (f, start) => {
      // The flows metric counts a conversation once an interval.
      const conversation = hashNumber(hashNumber(conversationOf(f), hashString(f.exporter_id)) || 1, start);
      const flows = conversations.has(conversation) ? 0 : 1;
      conversations.add(conversation);
      const b = f.bytes_est;
      const p = f.packets_est;
      if (e.supplier && f.supplier_id !== '') this.tables.supplier.peek(f.supplier_id)?.sums.explain3(start, b, p, flows);
      if (e.exporter && f.exporter_id !== '')
        this.tables.exporter.peek(this.#exporterKeys.key(f.supplier_id, f.exporter_id))?.sums.explain3(start, b, p, flows);
      const src = f.src_org;
      const dst = f.dst_org;
      if (src !== dst) {
        if (e.organisation_out && src !== '') this.tables.organisation_out.peek(src)?.sums.explain3(start, b, p, flows);
        if (e.organisation_in && dst !== '') this.tables.organisation_in.peek(dst)?.sums.explain3(start, b, p, flows);
        if (e.organisation_pair && src !== '' && dst !== '')
          this.tables.organisation_pair.peek(this.#pairKeys.key(src, dst))?.sums.explain3(start, b, p, flows);
      }
      if (e.service && f.service !== '') this.tables.service.peek(f.service)?.sums.explain3(start, b, p, flows);
    });
    pending.clear();
  }

  /** Whether the flow being added involves an ongoing incident's address. */
  #explained = false;
  /**
   * The supplier and exporter of the current run of flows (batches are per exporter): its key
   * `supplier/exporter`, hash and delivery record are looked up once a run.
   */
  #runSupplier = '';
  #runExporter = '';
  #exporterKey = '';
  #exporterHash = hashString('');
  /** The delivery record of the current flow's exporter (undefined: none, or past MAX_CARRIERS). */
  #carrier: Carrier | undefined;
  readonly #carriers = new Map<string, Carrier>();

  /** The current run's supplier and exporter entities. */
  readonly #runSupplierEntity: HeldEntity<VolumeEntity>;
  readonly #runExporterEntity: HeldEntity<VolumeEntity>;

  #newRun(supplier: string, exporter: string): void {
    this.#runSupplierEntity.release();
    this.#runExporterEntity.release();
    this.#runSupplier = supplier;
    this.#runExporter = exporter;
    this.#exporterHash = hashString(exporter);
    this.#exporterKey = exporter === '' ? '' : this.#exporterKeys.key(supplier, exporter);
    let c = exporter === '' ? undefined : this.#carriers.get(this.#exporterKey);
    if (c === undefined && exporter !== '') c = this.#newCarrier(this.#exporterKey);
    this.#carrier = c;
  }

  #newCarrier(key: string): Carrier | undefined {
    if (this.#carriers.size >= MAX_CARRIERS) return undefined;
    const c: Carrier = {
      latestMs: Number.NEGATIVE_INFINITY,
      aliveMs: Number.NEGATIVE_INFINITY,
      reorderMs: 0,
      reorderNowMs: 0,
      reorderUntilMs: Number.NEGATIVE_INFINITY,
      lagMs: 0,
      lagNowMs: 0,
    };
    this.#carriers.set(key, c);
    return c;
  }

  /** A flow of `c` arrived `lagMs` behind the stream: its lag is at least that, up to the hold. */
  #lagged(c: Carrier, lagMs: number): void {
    c.lagNowMs = Math.min(lagMs, this.ctx.clock.maxHoldMs);
    if (c.lagNowMs > c.lagMs) c.lagMs = c.lagNowMs;
  }

  /** A flow of `c` arrived `lagMs` behind its latest: its reordering is at least that, up to the hold. */
  #reordered(c: Carrier, lagMs: number): void {
    c.reorderNowMs = Math.min(lagMs, this.ctx.clock.maxHoldMs);
    if (c.reorderNowMs > c.reorderMs) {
      c.reorderMs = c.reorderNowMs;
      this.#networkAtMs = Number.NaN;
    }
  }

  /**
   * Telemetry of an exporter without flow records up to reception time `atMs` (a heartbeat): it
   * is alive and has nothing to report, so the steps up to there are as complete as they look.
   */
  onTelemetry(supplier: string, exporter: string, atMs: number): void {
    if (supplier === '' || exporter === '' || !(atMs > 0)) return;
    const key = this.#exporterKeys.key(supplier, exporter);
    const c = this.#carriers.get(key) ?? this.#newCarrier(key);
    if (c !== undefined && atMs > c.aliveMs) {
      c.aliveMs = atMs;
      this.#networkAtMs = Number.NaN;
    }
  }

  /** The current flow's conversation (hash of its exporter and 5-tuple), for the largest transfers. */
  #conversation = 0;
  /** 1 when the current flow's conversation is new in its interval (the flows metric), else 0. */
  #flows = 1;
  readonly #exporterKeys = new KeyCache('/');
  readonly #pairKeys = new KeyCache('>');

  #add(kind: VolumeKind, id: string, start: number, bytes: number, packets: number, receivedNs: number): void {
    this.#count(this.#entityOf(kind, id), start, bytes, packets, receivedNs);
  }

  /** The entity of `kind` `id`, marked as seen (created when new). */
  #entityOf(kind: VolumeKind, id: string): VolumeEntity {
    const table = this.tables[kind];
    let entity = table.get(id);
    if (entity === undefined) {
      entity = this.#create(kind, id);
      table.set(id, entity);
    }
    return entity;
  }

  /** The entity `held` holds, else the entity of `kind` `id`, held from now on. */
  #held(held: HeldEntity<VolumeEntity>, kind: VolumeKind, id: string): VolumeEntity {
    return held.get() ?? held.hold(this.#entityOf(kind, id));
  }

  /** Counts the current flow in interval `start` of `entity`. */
  #count(entity: VolumeEntity, start: number, bytes: number, packets: number, receivedNs: number): void {
    const seen = this.#seen;
    if (seen.tracked)
      entity.sums.add3max(start, bytes, packets, this.#flows, this.#explained, this.#conversation, seen.bytes, seen.packets);
    else entity.sums.add3max(start, bytes, packets, this.#flows, this.#explained, this.#conversation);
    // As in the drop window, an ongoing incident's flows are not the entity's own traffic.
    if (entity.dropSteps !== undefined && !this.#explained) entity.dropSteps.add(this.#step, bytes);
    if (receivedNs > entity.receivedNs) entity.receivedNs = receivedNs;
    const carrier = this.#carrier;
    if (carrier !== undefined && entity.carriers !== undefined && (entity.carrier !== carrier || entity.carrierStart < start)) {
      this.#carriedBy(entity, carrier, start);
      entity.carrierStart = start;
    }
    entity.carrier = carrier;
  }

  /** Notes that `carrier` carried a flow of `entity` in interval `start`. */
  #carriedBy(entity: VolumeEntity, carrier: Carrier, start: number): void {
    const carriers = entity.carriers!;
    const at = entity.carriersAt!;
    // Slot 0 holds the latest interval seen (the fast path's test above).
    if (start > at[0]!) at[0] = start;
    const i = carriers.indexOf(carrier);
    if (i >= 0) {
      if (start > at[i]!) at[i] = start;
      return;
    }
    const recent = start - this.ctx.clock.intervalMs;
    if (carriers.length < MAX_ENTITY_CARRIERS) {
      carriers.push(carrier);
      at.push(start);
      return;
    }
    // Full: the slot of one no longer recent, else carried by too many to wait for each.
    for (let k = 1; k < carriers.length; k++) {
      if (at[k]! < recent) {
        carriers[k] = carrier;
        at[k] = start;
        return;
      }
    }
    entity.wideUntil = start + 2 * this.ctx.clock.intervalMs;
  }

  #create(kind: VolumeKind, id: string): VolumeEntity {
    const { overrides, clock } = this.ctx;
    const windowSize = this.ctx.config.volume.dropWindowIntervals;
    const withWindow = windowSize > 0 && kind !== 'organisation_pair';
    const orgs = kind === 'organisation_pair' ? id.split('>') : kind.startsWith('organisation') ? [id] : [];
    const suppliers = this.#suppliersOf(kind, id);
    return {
      touched: false,
      kind,
      id,
      baseline: new SeasonalBaseline(3),
      rest: [new LevelBaseline(REST_ALPHA), new LevelBaseline(REST_ALPHA)],
      peak: [0, 0],
      restRun: undefined,
      // bytes, packets, flows; the largest conversation's bytes and packets; bytes, packets, flows of
      // incident flows; the second and third largest conversation's bytes, then packets; the
      // conversations of the three largest by bytes, then by packets (IntervalSums.add3max)
      sums: new IntervalSums(18, clock.slots, clock.intervalMs),
      spikeScale: overrides.scaleFor('volume_spike', kind, id, orgs, suppliers),
      dropScale: overrides.scaleFor('volume_drop', kind, id, orgs, suppliers),
      receivedNs: 0,
      dropWindow: withWindow ? new DropWindow(windowSize) : undefined,
      dropSteps:
        withWindow && this.#stepMs > 0
          ? // Steps ahead of the watermark (lateness and its hold), and a run judged up to a
            // carrier behind it by up to the hold (#judgedStep).
            new DropSteps((2 * clock.intervalMs) / this.#stepMs, (clock.latenessMs + 2 * clock.maxHoldMs) / this.#stepMs)
          : undefined,
      emptyRate: 1,
      emptyRateBefore: 1,
      stepEmptyRate: 1,
      carrier: undefined,
      // Slot 0 is not a carrier but the latest interval any carried a flow in (a sentinel).
      carriers: withWindow ? [NO_CARRIER] : undefined,
      carriersAt: withWindow ? [Number.NEGATIVE_INFINITY] : undefined,
      carrierStart: Number.NEGATIVE_INFINITY,
      wideUntil: Number.NEGATIVE_INFINITY,
      topShare: Number.NaN,
      earlySeenStart: Number.NaN,
      earlySeenMs: Number.NaN,
      earlySpikeStart: Number.NaN,
    };
  }

  #suppliersOf(kind: VolumeKind, id: string): string[] {
    const d = this.ctx.directory;
    switch (kind) {
      case 'supplier':
        return [id];
      case 'exporter':
        return [supplierOfExporter(id)];
      case 'organisation_in':
      case 'organisation_out':
        return suppliersOf(d.orgSupplier(id));
      case 'organisation_pair': {
        const [a = '', b = ''] = id.split('>');
        return suppliersOf(d.orgSupplier(a), d.orgSupplier(b));
      }
      case 'service':
        return suppliersOf(d.serviceSupplier(id));
    }
  }

  /** Scores and learns interval `start` for every tracked entity. */
  onIntervalClose(start: number): void {
    const slot = hourOfWeek(start);
    const v = this.ctx.config.volume;
    const out = this.#out;
    this.#spiking.clear();
    this.#measureNetwork(start, slot);
    for (const entity of this.#entities()) {
      const values = entity.sums.take(start, out);
      const b = entity.baseline;
      // What this interval was expected to be, before it is learnt (incident flows left out).
      const flows = values[2]! - values[7]!;
      entity.dropWindow?.push(
        flows,
        Math.expm1(b.dropExpectedLog(2, slot)),
        values[0]! - values[5]!,
        Math.expm1(b.dropExpectedLog(0, slot)),
        entity.emptyRate,
      );
      learnEmpty(entity, flows);
      if (entity.spikeScale + entity.dropScale > 0 && b.history >= v.minHistoryIntervals && b.residuals >= 16)
        this.#evaluate(entity, slot, start, values);
      // An ongoing flow-level incident's flows (a flood, a scan, a policy breach) do not teach the
      // baseline: within 4 spreads of a sparse entity they would be learnt at the full rate, and
      // the expectation they leave behind reads as a volume drop once the incident ends.
      if (values[7]! > 0) for (let m = 0; m < 3; m++) values[m] = Math.max(0, values[m]! - values[5 + m]!);
      // Against the expectation it was judged by, before the baseline learns it.
      for (let m = 0; m < 2; m++) this.#restRun(entity, m, slot, Math.max(0, values[m]! - largestFlows(values, m)), values[m]!);
      b.observe(slot, values);
      const spiking = this.#spiking.has(entity);
      for (let m = 0; m < 2; m++) {
        entity.rest[m]!.observe(Math.max(0, values[m]! - largestFlows(values, m)));
        entity.peak[m] = spiking ? entity.peak[m]! * PEAK_DECAY : Math.max(values[m]!, entity.peak[m]! * PEAK_DECAY);
      }
    }
    this.#learnTopShares(start);
  }

  /**
   * Judges `values`, the sums of interval `start`, of `entity`: a spike or a drop at its close, or
   * (with `earlyEndMs`, the step boundary the watermark has just passed inside the interval) a
   * spike of what it holds so far, before it closes (#earlySpikes).
   */
  #evaluate(entity: VolumeEntity, slot: number, start: number, values: Float64Array, earlyEndMs = Number.NaN): void {
    const v = this.ctx.config.volume;
    const early = !Number.isNaN(earlyEndMs);
    // The sums hold what has been read, up to the latest event time (ahead of the watermark by the lateness).
    const intervalMs = this.ctx.clock.intervalMs;
    const elapsedMs = early ? Math.min(intervalMs, Math.max(earlyEndMs, this.ctx.clock.maxEventMs + 1) - start) : intervalMs;
    let best = -1;
    let explained = false;
    let common = false;
    let bestZ = 0;
    let bestExpected = 0;
    // Bytes and packets are sums over flows (countFloor), and a drop needs enough expected flows
    // that an empty interval is not just chance.
    const floor = countFloor(entity.baseline, slot);
    const dropExpectedFlows = Math.max(0, Math.expm1(entity.baseline.dropExpectedLog(2, slot)));
    for (let m = 0; m < 3; m++) {
      const observed = values[m]!;
      const scored = entity.baseline.score(m, slot, observed, floor);
      const { expected, z } = scored;
      if (Number.isNaN(expected)) continue;
      const down = entity.dropScale;
      // A spike of bytes or packets must hold without its three largest flows (of those not an
      // ongoing incident's): a few large transfers (a backup, a study of images, an update) are
      // not a change in the entity's volume, and at a few flows an interval they would otherwise
      // dominate every sparse entity's baseline. Uploads to the internet have their own rules
      // (exfiltration).
      const largest = largestFlows(values, m);
      const spikeZ = this.#spikeZ(entity, m, slot, observed, largest, floor, scored);
      let spike = !Number.isNaN(spikeZ);
      if (spike && values[5 + m]! > 0) {
        // Flows of an ongoing flow-level incident (a flood's victim, a scanner, a spreading host)
        // raise every exporter, supplier and organisation they cross; that incident has its alert.
        // The rest must be a spike on its own, without its largest flows either.
        if (Number.isNaN(this.#spikeZ(entity, m, slot, Math.max(0, observed - values[5 + m]!), largest, floor))) {
          spike = false;
          explained = true;
        }
      }
      if (spike && (entity.kind === 'supplier' || entity.kind === 'exporter')) {
        // A rise the rest of the network shares (everyone logging on at once) is demand: the
        // supplier or exporter must rise that much more than the others to be a spike.
        const rise = this.#restRise(entity, m, elapsedMs);
        if (rise >= MIN_NETWORK_RISE) {
          if (Number.isNaN(this.#spikeZ(entity, m, slot, Math.max(0, observed - values[5 + m]!) / rise, largest / rise, floor))) {
            spike = false;
            common = true;
          }
        }
      }
      // A drop is judged against the lower of the expectation and the seasonal profile (baseline.ts).
      // Of flows, a count: its z is also judged on the square-root scale (dropZ).
      const low = down > 0 && !spike && !early ? entity.baseline.score(m, slot, observed, floor, true) : undefined;
      if (low !== undefined && m === 2 && !Number.isNaN(low.expected)) low.z = dropZ(observed, low.expected, low.spread);
      const drop =
        low !== undefined &&
        low.z <= -v.zThreshold * down &&
        observed <= low.expected * v.dropRatio &&
        low.expected >= this.#mins[m]! * down &&
        dropExpectedFlows >= v.minFlows * down;
      const [mz, mExpected] = drop && low !== undefined ? [low.z, low.expected] : [spike ? spikeZ : z, expected];
      if ((spike || drop) && Math.abs(mz) > Math.abs(bestZ)) {
        best = m;
        bestZ = mz;
        bestExpected = mExpected;
      }
    }
    if (
      best >= 0 &&
      bestZ > 0 &&
      this.ctx.incidents.size > 0 &&
      this.#sampleExplains(entity, start, slot, best, values[best]!, floor, largestFlows(values, best))
    ) {
      best = -1;
      explained = true;
    }
    if (best >= 0 && bestZ > 0 && !early) this.#spiking.add(entity);
    // The broad rule compares the shares of what has come with the expected of the same time.
    if (best >= 0 && bestZ > 0 && this.#broad(entity, start, best, values[best]!, (bestExpected * elapsedMs) / intervalMs)) {
      // Counted once, at the close.
      if (!early) this.broadSpikes++;
      return;
    }
    if (early) {
      // Raised when it still holds once the watermark has passed every flow it was first seen
      // on: those include flows read ahead of the watermark (its lateness, partitions read
      // unevenly), and a flow-level incident starting there (a flood) may not be known yet when
      // the first step is judged; once the watermark has passed them it is, and its share is left
      // out (#sampleExplains).
      if (best < 0) {
        entity.earlySeenStart = Number.NaN;
        return;
      }
      if (entity.earlySeenStart !== start) {
        entity.earlySeenStart = start;
        entity.earlySeenMs = this.ctx.clock.maxEventMs;
        return;
      }
      if (earlyEndMs < entity.earlySeenMs) return;
      entity.earlySpikeStart = start;
      this.earlySpikes++;
      this.#raiseJudged(entity, earlyEndMs, elapsedMs, best, bestZ, values, bestExpected);
      return;
    }
    if (best < 0) {
      if (common) this.networkSpikes++;
      if (explained) this.ctx.incidents.countExplained();
      else this.#windowDrop(entity, slot, start, floor);
      return;
    }
    this.#raiseJudged(entity, start + intervalMs, intervalMs, best, bestZ, values, bestExpected);
  }

  /**
   * Raises what #evaluate found in metric `best` of `values`: sums of `elapsedMs` of an interval
   * (all of it at its close; so far, for a spike before it closes), decided when the watermark
   * passed `endMs`.
   */
  #raiseJudged(
    entity: VolumeEntity,
    endMs: number,
    elapsedMs: number,
    best: number,
    z: number,
    values: Float64Array,
    expectedValue: number,
  ): void {
    const spike = z > 0;
    const observed = values[best]!;
    const metric = METRICS[best]!;
    const intervalMs = this.ctx.clock.intervalMs;
    const fmt = (x: number) => (metric === 'bytes' ? formatBytes(x) : `${formatCount(x)} ${metric}`);
    const what = this.#describe(entity);
    const expected = Math.max(0, expectedValue);
    const ratio = expected > 0 ? observed / expected : Number.POSITIVE_INFINITY;
    const during =
      elapsedMs < intervalMs
        ? `in the first ${formatDuration(elapsedMs)} of ${formatDuration(intervalMs)}`
        : `in ${formatDuration(intervalMs)}`;
    const summary = spike
      ? expected < 1
        ? `${what.label}: ${fmt(observed)} ${during}, where almost none is expected`
        : `${what.label}: ${fmt(observed)} ${during}, ${ratio >= 10 ? Math.round(ratio) : ratio.toFixed(1)}x the expected ${fmt(expected)}${elapsedMs < intervalMs ? ` for all of it` : ''}`
      : `${what.label}: only ${fmt(observed)} ${during}, ${Math.round(ratio * 100)}% of the expected ${fmt(expected)}`;
    this.#raise(entity, what, endMs - 1, z, observed, expected, summary, {
      metric,
      interval_ms: intervalMs,
      ...(elapsedMs < intervalMs ? { elapsed_ms: elapsedMs } : {}),
      z: Number(z.toFixed(2)),
      ...(Number.isFinite(ratio) ? { ratio: Number(ratio.toFixed(3)) } : {}),
      unit: metric,
      ...(best < 2
        ? {
            largest_flow: values[3 + best]!,
            // What the three largest conversations leave, and its usual level (#restZ).
            without_largest: Math.max(0, observed - largestFlows(values, best)),
            ...(entity.rest[best]!.history > 0 ? { usual_without_largest: Math.round(Math.max(0, entity.rest[best]!.expected)) } : {}),
          }
        : {}),
    });
  }

  /**
   * Raises a spike (z > 0) or a drop of `entity`, decided at event time `atMs`: a supplier's drop is high, the
   * rest medium, one level up at twice the z threshold. A silent supplier's or exporter's drop, and
   * the drop of anything a silent supplier carries, is left to the silence alert.
   */
  #raise(
    entity: VolumeEntity,
    what: Described,
    atMs: number,
    z: number,
    observed: number,
    expected: number,
    summary: string,
    details: Record<string, string | number | boolean>,
    kind: EntityKind = entity.kind as EntityKind,
  ): void {
    const spike = z > 0;
    if (!spike && this.#blind(entity)) {
      this.blindDrops++;
      return;
    }
    if (!spike && !this.#byStream && this.#behind(entity, atMs)) {
      this.behindDrops++;
      return;
    }
    let severity: Severity = entity.kind === 'supplier' && !spike ? 'high' : 'medium';
    if (Math.abs(z) >= 2 * this.ctx.config.volume.zThreshold * (spike ? entity.spikeScale : entity.dropScale))
      severity = escalate(severity);
    this.ctx.sink.raise({
      type: spike ? 'volume_spike' : 'volume_drop',
      entity: { kind, id: entity.id, name: what.name },
      supplierIds: this.#suppliersOf(entity.kind, entity.id),
      ...what.fields,
      atMs,
      observed,
      expected,
      score: z,
      severity,
      summary,
      details,
      match: what.match,
      receivedNs: entity.receivedNs,
    });
  }

  /**
   * Whether a drop of `entity` may be missing telemetry rather than missing traffic: the entity is
   * a silent supplier or exporter, or carried by a silent supplier (its organisations, the services
   * it hosts), or a service while any supplier is silent (national services are reached across
   * every supplier: a silent one takes its share of their flows out of view; a service's drop of
   * 83 % while northgate was silent was the evaluation's seed 5). The silence alert names the
   * blind spot.
   */
  #blind(entity: VolumeEntity): boolean {
    if ((entity.kind === 'supplier' || entity.kind === 'exporter') && this.isSilent(entity.kind, entity.id)) return true;
    if (entity.kind === 'service' && this.anySupplierSilent()) return true;
    return this.#suppliersOf(entity.kind, entity.id).some((s) => this.isSilent('supplier', s));
  }

  /** Drops not raised because the exporter carrying the entity had not delivered that far yet (see #behind and #judgedStep). */
  behindDrops = 0;

  /**
   * Whether a drop of `entity` judged up to event time `atMs` may be flows not delivered yet: the
   * exporter of its latest flow has delivered nothing at or after `atMs` (no flow, no heartbeat).
   * The watermark runs on the whole stream, so an exporter whose telemetry reaches us later than
   * the rest (a supplier pushing its flows over HTTPS in batches, a collector or a partition
   * falling behind, a machine overloaded by a flood's records) has its last steps judged before
   * they arrive: they read as empty, and an exporter, its supplier and its organisations all
   * "drop" together. Its flows, when they come, count in their own steps and interval (late flows
   * are folded into the oldest open interval: the interval's drop is not raised, the next one
   * holds them). Drops on steps are judged up to what the exporter has delivered instead, while
   * that is within the watermark hold (#judgedStep); an exporter further behind is not judged at
   * all until it delivers again: it is either late (judging it is judging the delay, the false
   * drops of the 20x pipeline runs after a flood) or gone, and then the silence alert follows and
   * names the blind spot, whose drops are left to it (#blind). An exporter alive without flows
   * (an sFlow agent's counter samples, a template refresh: the collector's heartbeats) has
   * delivered up to its heartbeat; an entity's drop while its exporter keeps delivering (an
   * organisation cut off behind a working router) is judged as before.
   */
  #behind(entity: VolumeEntity, atMs: number): boolean {
    return !(this.#deliveredTo(entity, atMs) >= atMs);
  }

  /**
   * How far (event time, ms) the exporters that carried `entity`'s flows in the last two intervals
   * have delivered, as far as a drop judged up to `atMs` is concerned: `atMs` when all have
   * reached it (or none is tracked), else the least delivered (its latest flow less its
   * reordering, or its latest heartbeat) when that is short of `atMs` by at most the watermark
   * hold, else NaN (one is too far behind to be judged). Only the exporter of its latest flow
   * when its carriers are not tracked; the network's delivery when it is carried by too many
   * (#networkDelivered).
   */
  #deliveredTo(entity: VolumeEntity, atMs: number): number {
    const hold = this.ctx.clock.maxHoldMs;
    const carriers = entity.carriers;
    if (carriers === undefined) {
      const c = entity.carrier;
      if (c === undefined) return atMs;
      return deliveredOf(c, atMs, hold);
    }
    if (entity.wideUntil >= atMs - this.ctx.clock.intervalMs) return this.#networkDelivered(atMs);
    const at = entity.carriersAt!;
    const recent = at[0]! - this.ctx.clock.intervalMs;
    let to = atMs;
    for (let i = 1; i < carriers.length; i++) {
      if (at[i]! < recent) continue;
      const d = deliveredOf(carriers[i]!, atMs, hold);
      if (!(d >= to)) to = d;
      if (Number.isNaN(to)) return to;
    }
    return to;
  }

  /**
   * How far (event time, ms) the exporters that carried `entity`'s flows in the last two intervals
   * have delivered by the stream: each up to the later of its own delivery (#deliveredTo) and the
   * event time every input has reached less its usual lag behind it, the least of them; NaN when
   * it is carried by too many (the network's delivery has no stream bound) or by none tracked.
   */
  #streamDelivered(entity: VolumeEntity, atMs: number): number {
    const clock = this.ctx.clock;
    const head = clock.watermarkMs + clock.latenessMs;
    const carriers = entity.carriers;
    if (carriers === undefined) {
      const c = entity.carrier;
      return c === undefined ? Number.NaN : Math.min(atMs, Math.max(deliveryOf(c), head - c.lagMs));
    }
    if (entity.wideUntil >= atMs - clock.intervalMs) return Number.NaN;
    const at = entity.carriersAt!;
    const recent = at[0]! - clock.intervalMs;
    let to = atMs;
    for (let i = 1; i < carriers.length; i++) {
      if (at[i]! < recent) continue;
      const c = carriers[i]!;
      to = Math.min(to, Math.max(deliveryOf(c), head - c.lagMs));
    }
    return to;
  }

  /** The network's delivery for drops judged up to `atMs`, computed once per time: see #deliveredTo. */
  #networkAtMs = Number.NaN;
  #networkTo = Number.NaN;

  /**
   * How far every exporter that is not far behind has delivered, for drops judged up to `atMs`:
   * the least delivery within the watermark hold of `atMs`; exporters further behind are late or
   * gone (the silence alert), and an entity carried by the whole network is judged without them.
   */
  #networkDelivered(atMs: number): number {
    if (this.#networkAtMs === atMs) return this.#networkTo;
    const hold = this.ctx.clock.maxHoldMs;
    let to = atMs;
    for (const c of this.#carriers.values()) {
      const d = deliveryOf(c);
      if (d < to && atMs - d <= hold) to = d;
    }
    this.#networkAtMs = atMs;
    this.#networkTo = to;
    return to;
  }

  /** Aggregates (services, suppliers, exporters) whose interval being closed rose: their usual top share is not learnt from it. */
  readonly #spiking = new Set<VolumeEntity>();

  /**
   * Learns, for each service, supplier and exporter with flows from at least 10 organisations in
   * the ring of recent flows of interval `start` (one pass over the ring), the share of its flows
   * (conversations) carried by its three largest organisations, unless the interval rose (a rise
   * of one organisation must not become the usual).
   */
  #learnTopShares(start: number): void {
    const e = this.#enabled;
    if (!e.service && !e.supplier && !e.exporter) return;
    const counts = new Map<VolumeEntity, Map<string, number>>();
    const count = (entity: VolumeEntity | undefined, org: string) => {
      if (entity === undefined || org === '' || this.#spiking.has(entity)) return;
      let by = counts.get(entity);
      if (by === undefined) counts.set(entity, (by = new Map()));
      by.set(org, (by.get(org) ?? 0) + 1);
    };
    this.ctx.recent.eachConversation(start, start + this.ctx.clock.intervalMs, (f) => {
      const org = this.#carrierOrg(f);
      if (e.supplier && f.supplier_id !== '') count(this.tables.supplier.peek(f.supplier_id), org);
      if (e.exporter && f.exporter_id !== '') count(this.tables.exporter.peek(this.#exporterKeys.key(f.supplier_id, f.exporter_id)), org);
      if (e.service && f.service !== '') count(this.tables.service.peek(f.service), this.#userOrg(f));
    });
    for (const [entity, by] of counts) {
      if (by.size < 10) continue;
      let total = 0;
      for (const x of by.values()) total += x;
      const share = largestSum(by.values(), 3) / total;
      entity.topShare = Number.isNaN(entity.topShare) ? share : entity.topShare + TOP_SHARE_ALPHA * (share - entity.topShare);
    }
  }

  /** The organisation a flow of a service is from or to (the service's user), as #broad counts them. */
  readonly #userOrg = (f: EnrichedFlow): string => (this.ctx.serviceAtDestination(f) ? f.src_org : f.dst_org);
  /** The organisation a flow of a supplier or exporter is counted for, as #broad counts them: its source's, else its destination's. */
  readonly #carrierOrg = (f: EnrichedFlow): string => (f.src_org !== '' ? f.src_org : f.dst_org);

  /** Spikes of services, suppliers and exporters not raised because they were broad (see #broad). */
  broadSpikes = 0;
  /** Spikes of suppliers and exporters not raised because the rest of the network rose as much (#restRise), at the close. */
  networkSpikes = 0;

  /** Per supplier with a learnt baseline, its observed (incidents' left out) and whole-interval expected bytes, packets and flows (#measureNetwork). */
  readonly #network = new Map<string, Float64Array>();
  /** The sums of #network's rows. */
  readonly #networkSum = new Float64Array(6);

  /**
   * Measures, for #restRise, what each supplier with a learnt baseline has carried of interval
   * `start` so far (an ongoing incident's flows left out) and was expected to carry in all of it.
   */
  #measureNetwork(start: number, slot: number): void {
    const network = this.#network;
    const sum = this.#networkSum;
    network.clear();
    sum.fill(0);
    if (!this.#enabled.supplier) return;
    const v = this.ctx.config.volume;
    const out = this.#out;
    for (const s of this.tables.supplier.values()) {
      const b = s.baseline;
      if (b.history < v.minHistoryIntervals || b.residuals < 16) continue;
      const values = s.sums.peek(start, out);
      const row = new Float64Array(6);
      for (let m = 0; m < 3; m++) {
        row[m] = Math.max(0, values[m]! - values[5 + m]!);
        row[3 + m] = Math.max(0, Math.expm1(b.expectedLog(m, slot)));
      }
      if (row.some(Number.isNaN)) continue;
      network.set(s.id, row);
      for (let i = 0; i < 6; i++) sum[i]! += row[i]!;
    }
  }

  /**
   * How much the rest of the network rose in metric `m` over the first `elapsedMs` of the interval
   * being judged: what the suppliers other than `entity`'s (a supplier, or an exporter's own)
   * carried, over what they were expected to; 1 when fewer than two others are learnt or they
   * were expected less than the metric's minimum. A log-on surge raised every supplier's flows
   * about three times in the evaluation (seed 7: 1,200 flows a minute to 3,448) and, with it,
   * suppliers and exporters carrying few organisations, which the broad rule (at least 20) cannot
   * judge. Its own supplier is left out, so a rise of one supplier's network is not its own excuse.
   */
  #restRise(entity: VolumeEntity, m: number, elapsedMs: number): number {
    const network = this.#network;
    const id = entity.kind === 'exporter' ? supplierOfExporter(entity.id) : entity.id;
    const own = network.get(id);
    if (network.size - (own === undefined ? 0 : 1) < 2) return 1;
    const sum = this.#networkSum;
    const fraction = elapsedMs / this.ctx.clock.intervalMs;
    const expected = (sum[3 + m]! - (own?.[3 + m] ?? 0)) * fraction;
    if (!(expected >= this.#mins[m]! * fraction)) return 1;
    return (sum[m]! - (own?.[m] ?? 0)) / expected;
  }

  /**
   * Whether a spike of an aggregate (a service, a supplier, an exporter) is broad: the rise is
   * spread over many organisations. The three organisations carrying most now, less what they
   * usually carry (their usual share of the flows, `topShare`, of the expected; none for bytes
   * and packets or before it is learnt), carry less of the excess over the expected than halfway
   * from their usual share to all of it: with no usual share, under half of it. That is demand
   * (everyone logging on after an outage, a national campaign), not a host or an organisation
   * doing something new; what a host or an organisation does has its own entities (organisation
   * in/out and pair volumes, floods, scans, exfiltration), which still alert. Without the usual
   * share, a service whose three largest users carry a third of its flows (the identity service
   * of the evaluation: 28-50 % a minute) could never rise broadly by three times: the three's
   * part of a rise shared by everyone is their usual share of it. Judged on the ring of recent
   * flows as a sample of the interval; a sample of fewer than 20 organisations is never called
   * broad.
   */
  #broad(entity: VolumeEntity, start: number, m: number, observed: number, expected: number): boolean {
    const kind = entity.kind;
    if (kind !== 'service' && kind !== 'supplier' && kind !== 'exporter') return false;
    const match = this.#describe(entity).match;
    const c = this.ctx.recent.concentration(
      match,
      start,
      start + this.ctx.clock.intervalMs,
      m,
      kind === 'service' ? this.#userOrg : this.#carrierOrg,
      3,
    );
    if (c.total <= 0 || c.keys < 20) return false;
    const topPart = (observed * c.top) / c.total;
    const usual = m === 2 && !Number.isNaN(entity.topShare) ? Math.min(0.9, entity.topShare) : 0;
    const exp = Math.max(0, expected);
    return topPart - usual * exp < (usual + 0.5 * (1 - usual)) * (observed - exp);
  }

  /** A drop over the last few intervals (drop-window.ts), raised when no single interval is one. */
  #windowDrop(entity: VolumeEntity, slot: number, start: number, floor: number): void {
    const window = entity.dropWindow;
    const down = entity.dropScale;
    if (window === undefined || down <= 0) return;
    const v = this.ctx.config.volume;
    const expectedLog = entity.baseline.dropExpectedLog(2, slot);
    if (Number.isNaN(expectedLog)) return;
    const drop = window.judge({
      minExpectedFlows: v.minFlows * down,
      ratio: v.dropRatio,
      zThreshold: v.zThreshold * down,
      spread: entity.baseline.spread(2, expectedLog, floor),
      maxEmptyRate: MAX_EMPTY_RATE,
    });
    if (drop === undefined) return;
    const intervalMs = this.ctx.clock.intervalMs;
    const what = this.#describe(entity);
    const ratio = drop.observedFlows / drop.expectedFlows;
    const summary = `${what.label}: only ${formatCount(drop.observedFlows)} flows in ${formatDuration(drop.intervals * intervalMs)}, ${Math.round(ratio * 100)}% of the expected ${formatCount(drop.expectedFlows)} (${formatBytes(drop.observedBytes)} of ${formatBytes(drop.expectedBytes)})`;
    this.#raise(entity, what, start + intervalMs - 1, drop.z, drop.observedFlows, drop.expectedFlows, summary, {
      metric: 'flows',
      interval_ms: intervalMs,
      window_intervals: drop.intervals,
      z: Number(drop.z.toFixed(2)),
      ratio: Number(ratio.toFixed(3)),
      unit: 'flows',
      observed_bytes: drop.observedBytes,
      expected_bytes: drop.expectedBytes,
    });
  }

  /**
   * Drops seen before their interval closes (drop-window.ts, DropSteps): called when the watermark
   * passes `endMs`, a multiple of dropStepMs; judges the runs of steps ending there of every
   * continuously active entity that may alert, against the expectation of the interval `endMs`
   * closes or falls in.
   */
  onStep(endMs: number): void {
    if (this.#stepMs <= 0) return;
    this.#earlySpikes(endMs);
    const perInterval = this.ctx.clock.intervalMs / this.#stepMs;
    const slot = hourOfWeek(endMs - 1);
    const end = Math.round(endMs / this.#stepMs);
    // What waited for the last boundary and is still short of it is judged at this one instead.
    this.behindDrops += this.#waiting.length;
    this.#waiting.length = 0;
    // Organisations' criteria, kept for judging their two directions together below.
    const orgs = new Map<VolumeEntity, StepCriteria>();
    for (const entity of this.#entities()) {
      const c = this.#stepCriteria(entity, slot, perInterval);
      if (c === undefined) continue;
      if (entity.kind === 'organisation_in' || entity.kind === 'organisation_out') orgs.set(entity, c);
      // Two intervals of expected flows under the floor: no run of steps can reach it.
      if (entity.stepEmptyRate > MAX_EMPTY_RATE || c.expectedFlows * perInterval * 2 < c.minExpectedFlows) continue;
      if (entity.dropSteps !== undefined) this.#judgeSteps(end, c, entity);
    }
    // An organisation cut off loses both directions: judged together, its flows reach the floor in
    // half the time (an organisation entity of its own).
    const inbound = this.tables.organisation_in;
    for (const out of this.tables.organisation_out.values()) {
      const inn = inbound.peek(out.id);
      if (inn?.dropSteps === undefined || out.dropSteps === undefined) continue;
      // The two together are continuous if either direction is.
      if (Math.min(out.stepEmptyRate, inn.stepEmptyRate) > MAX_EMPTY_RATE) continue;
      const co = orgs.get(out);
      const ci = orgs.get(inn);
      if (co === undefined || ci === undefined) continue;
      const expectedFlows = co.expectedFlows + ci.expectedFlows;
      if (expectedFlows <= 0) continue;
      const criteria: StepCriteria = {
        ...co,
        minExpectedFlows: Math.max(co.minExpectedFlows, ci.minExpectedFlows),
        zThreshold: Math.max(co.zThreshold, ci.zThreshold),
        // The relative spread of a sum is at most the mean of its parts' weighted by their
        // expectation (equal when the two move together).
        spread: (co.spread * co.expectedFlows + ci.spread * ci.expectedFlows) / expectedFlows,
        expectedFlows,
        expectedBytes: co.expectedBytes + ci.expectedBytes,
      };
      this.#judgeSteps(end, criteria, out, inn);
    }
  }

  /**
   * Drops on steps that would be raised at the latest boundary but whose carriers had not
   * delivered that far when it was passed (judged then up to their delivery, and no drop there):
   * judged again as their carriers catch up (#retryWaiting), until the next boundary.
   */
  readonly #waiting: StepJudgement[] = [];

  /**
   * Judges the steps ending at boundary `end` of `entity` (of an organisation's two directions,
   * with `inbound`) by `criteria`: up to what its carriers have delivered (#judgedStep), raised
   * when that is a drop; when it is not, but the whole run to `end` would be, it waits for them
   * (#waiting). Called for every entity that can drop at every boundary: allocates only to wait.
   */
  #judgeSteps(end: number, criteria: StepCriteria, entity: VolumeEntity, inbound?: VolumeEntity): void {
    const steps = entity.dropSteps!;
    const at = this.#deliveredStep(end, entity, inbound);
    // Not judged while a carrier is too far behind (NaN), judged up to its delivery within the hold.
    const drop = Number.isNaN(at) ? undefined : steps.judge(at, criteria, inbound?.dropSteps);
    if (drop !== undefined) this.#raiseStepsJudged(entity, inbound, at, drop);
    else if (!(at >= end) && steps.judge(end, criteria, inbound?.dropSteps) !== undefined) {
      const j = { end, entity, inbound, criteria };
      if (!this.#judgeByStream(j, at)) this.#waiting.push(j);
    }
  }

  /** Drops raised on the steps the carriers have delivered by the stream (#judgeByStream). */
  streamDrops = 0;
  /** A drop being raised on the stream's delivery: judged already as far as the carriers have delivered (#raise). */
  #byStream = false;

  /**
   * Judges the steps ending at `j.end`, whose carriers have delivered by their own flows only up
   * to step `at` (#deliveredStep), up to what they have delivered by the stream
   * (#streamDelivered): an exporter that has lost most of its traffic sends a flow every 20 s or
   * so, and its latest flow less its reordering is that far behind, though nothing it sent is
   * missing (the drop of engine seed 2, 77 s, was judged two steps short). Raised only when at
   * least half of the run, from its first step, is what the carriers have shown they delivered,
   * and that part alone is down by the ratio: the rest may be judged before an exporter's late
   * flows arrive, or after it stopped (a silence, not a drop), but the drop was there before.
   * Returns whether it raised.
   */
  #judgeByStream(j: StepJudgement, at: number): boolean {
    if (Number.isNaN(at)) return false;
    const endMs = j.end * this.#stepMs;
    let to = this.#streamDelivered(j.entity, endMs);
    if (j.inbound !== undefined) to = Math.min(to, this.#streamDelivered(j.inbound, endMs));
    const by = Math.floor(to / this.#stepMs);
    if (!(by > at)) return false;
    const other = j.inbound?.dropSteps;
    const steps = j.entity.dropSteps!;
    const drop = steps.judge(by, j.criteria, other);
    if (drop === undefined) return false;
    const first = by - drop.steps;
    if (!(at > first) || !steps.isLow(first, at, j.criteria, other)) return false;
    this.streamDrops++;
    this.#byStream = true;
    this.#raiseStepsJudged(j.entity, j.inbound, by, drop);
    this.#byStream = false;
    return true;
  }

  /** The step up to which the steps ending at `end` can be judged now: `end`, or less as far as the carriers have delivered (NaN: not at all). */
  #deliveredStep(end: number, entity: VolumeEntity, inbound: VolumeEntity | undefined): number {
    const at = this.#judgedStep(entity, end);
    return inbound === undefined ? at : Math.min(at, this.#judgedStep(inbound, end));
  }

  #raiseStepsJudged(entity: VolumeEntity, inbound: VolumeEntity | undefined, at: number, drop: StepDrop): void {
    if (inbound === undefined) {
      this.#raiseStepDrop(entity, this.#describe(entity), at * this.#stepMs, drop);
      return;
    }
    const d = this.ctx.directory;
    const id = entity.id;
    const what: Described = {
      name: d.orgName(id),
      label: `${d.orgLabel(id)} in and out`,
      fields: { srcOrg: id },
      match: (f) => (f.src_org === id) !== (f.dst_org === id),
    };
    this.#raiseStepDrop(
      { ...entity, receivedNs: Math.max(entity.receivedNs, inbound.receivedNs) },
      what,
      at * this.#stepMs,
      drop,
      'organisation',
    );
  }

  /**
   * Judges again the drops waiting for their carriers (#waiting), as event time moves on (once a
   * second of it): one whose carriers have since delivered up to its boundary is judged there and
   * raised if it is still a drop (usually the flows it lacked have come: not raised, counted as
   * `behindDrops`). Without this, a drop a little short of its boundary when the watermark passed
   * it waited for the next boundary, a step (10 s) later: every time an exporter's latest flow
   * less its reordering was a little short of the watermark.
   */
  retryWaiting(): void {
    const waiting = this.#waiting;
    if (waiting.length === 0) return;
    let kept = 0;
    for (const j of waiting) {
      const at = this.#deliveredStep(j.end, j.entity, j.inbound);
      if (!(at >= j.end)) {
        if (!this.#judgeByStream(j, at)) waiting[kept++] = j;
        continue;
      }
      const drop = j.entity.dropSteps!.judge(j.end, j.criteria, j.inbound?.dropSteps);
      if (drop === undefined) this.behindDrops++;
      else this.#raiseStepsJudged(j.entity, j.inbound, j.end, drop);
    }
    waiting.length = kept;
  }

  /** Spikes raised before their interval closed (#earlySpikes). */
  earlySpikes = 0;

  /**
   * Spikes seen before their interval closes: when the watermark passes `endMs`, a step boundary
   * inside an interval, each entity's sums of that interval so far are judged as a whole
   * interval's would be, against the whole interval's expectation. Everything a spike is judged
   * by only grows as the interval's flows come in (the sums, their z-score and ratio, the sums
   * less the three largest conversations, less an ongoing incident's flows), so what is a spike
   * with part of the interval is one with all of it: a transfer of 25 MB/s starting in the last
   * seconds of a minute is raised 10-30 s after its first records, not when the next whole
   * minute closes (74 s in the pipeline evaluation). Only the broad rule and an incident's share
   * read the ring of recent flows, a sample of the interval so far. Raised when it still holds
   * once the watermark has passed every flow it was first seen on (a flood starting in the flows
   * read ahead of the watermark is not known as an incident at first), once an interval; its
   * close judges it again as always (an update of the same alert, or nothing).
   */
  #earlySpikes(endMs: number): void {
    const intervalMs = this.ctx.clock.intervalMs;
    // At an interval's end the interval has just been judged whole (onIntervalClose).
    if (endMs % intervalMs === 0) return;
    const start = endMs - (endMs % intervalMs);
    const v = this.ctx.config.volume;
    const slot = hourOfWeek(start);
    const out = this.#out;
    this.#measureNetwork(start, slot);
    for (const entity of this.#entities()) {
      if (entity.spikeScale <= 0 || entity.earlySpikeStart === start) continue;
      const b = entity.baseline;
      if (b.history < v.minHistoryIntervals || b.residuals < 16) continue;
      const values = entity.sums.peek(start, out);
      // Under every metric's minimum: not a spike whatever the baseline (#isSpike).
      if (
        values[0]! < this.#mins[0]! * entity.spikeScale &&
        values[1]! < this.#mins[1]! * entity.spikeScale &&
        values[2]! < this.#mins[2]! * entity.spikeScale
      ) {
        entity.earlySeenStart = Number.NaN;
        continue;
      }
      this.#evaluate(entity, slot, start, values, endMs);
    }
  }

  /**
   * The step boundary up to which `entity`'s steps are judged at boundary `end`: `end`, or when the
   * exporter of its latest flow has delivered less far (#behind), the start of the step that
   * exporter's delivery is in (the steps before it are as complete as that exporter's delivery
   * shows), for at most the watermark hold behind `end`; NaN beyond it (not judged).
   */
  #judgedStep(entity: VolumeEntity, end: number): number {
    const endMs = end * this.#stepMs;
    const to = this.#deliveredTo(entity, endMs);
    return to === endMs ? end : Math.floor(to / this.#stepMs);
  }

  /**
   * What a drop on the steps of `entity` is judged by (the interval's expectation per step), or
   * undefined when it may not alert (the continuity gate is the caller's).
   */
  #stepCriteria(entity: VolumeEntity, slot: number, perInterval: number): StepCriteria | undefined {
    const v = this.ctx.config.volume;
    const down = entity.dropScale;
    const b = entity.baseline;
    if (entity.dropSteps === undefined || down <= 0) return undefined;
    if (b.history < v.minHistoryIntervals || b.residuals < 16) return undefined;
    const flowsLog = b.dropExpectedLog(2, slot);
    const bytesLog = b.dropExpectedLog(0, slot);
    if (Number.isNaN(flowsLog) || Number.isNaN(bytesLog)) return undefined;
    const floor = countFloor(b, slot);
    return {
      minExpectedFlows: v.minFlows * down,
      ratio: v.dropRatio,
      zThreshold: v.zThreshold * down,
      spread: b.spread(2, flowsLog, floor),
      expectedFlows: Math.max(0, Math.expm1(flowsLog)) / perInterval,
      expectedBytes: Math.max(0, Math.expm1(bytesLog)) / perInterval,
      stepsPerInterval: perInterval,
    };
  }

  #raiseStepDrop(entity: VolumeEntity, what: Described, endMs: number, drop: StepDrop, kind?: EntityKind): void {
    const ratio = drop.observedFlows / drop.expectedFlows;
    const durationMs = drop.steps * this.#stepMs;
    const summary = `${what.label}: only ${formatCount(drop.observedFlows)} flows in the last ${formatDuration(durationMs)}, ${Math.round(ratio * 100)}% of the expected ${formatCount(drop.expectedFlows)} (${formatBytes(drop.observedBytes)} of ${formatBytes(drop.expectedBytes)})`;
    this.#raise(
      entity,
      what,
      endMs - 1,
      drop.z,
      drop.observedFlows,
      drop.expectedFlows,
      summary,
      {
        metric: 'flows',
        interval_ms: this.ctx.clock.intervalMs,
        window_ms: durationMs,
        z: Number(drop.z.toFixed(2)),
        ratio: Number(ratio.toFixed(3)),
        unit: 'flows',
        observed_bytes: drop.observedBytes,
        expected_bytes: drop.expectedBytes,
      },
      kind,
    );
  }

  /**
   * Whether a spike is made of an ongoing incident's flows, judged on the ring of recent flows:
   * the flows counted as the incident's (metrics 5-7) are only those after its alert, and an
   * incident is usually detected seconds into the interval; the ring's sample of the interval's
   * end tells what share of the entity's traffic is the incident's now. The spike must hold on
   * the rest.
   */
  #sampleExplains(entity: VolumeEntity, start: number, slot: number, m: number, observed: number, floor: number, largest: number): boolean {
    const incidents = this.ctx.incidents;
    const match = this.#describe(entity).match;
    const s = this.ctx.recent.share(match, start, start + this.ctx.clock.intervalMs, m, (f) =>
      incidents.explains(f.src_addr, f.dst_addr, start),
    );
    if (s.total <= 0 || s.part <= 0) return false;
    return Number.isNaN(this.#spikeZ(entity, m, slot, observed * (1 - s.part / s.total), largest, floor));
  }

  /**
   * The z-score at which `total` of metric `m` in `slot` is a spike (NaN: none): on the entity's
   * baseline, where for bytes and packets it must still be one without `largest` (its three
   * largest conversations); or, for bytes and packets, what those leave against its own level
   * (#restZ). The whole's z when both hold.
   */
  #spikeZ(
    entity: VolumeEntity,
    m: number,
    slot: number,
    total: number,
    largest: number,
    floor: number,
    // `total`'s score on the baseline, when the caller has it already (spread() sorts the ring).
    whole: Expectation = entity.baseline.score(m, slot, total, floor),
  ): number {
    const b = entity.baseline;
    const { expected, z } = whole;
    if (this.#isSpike(entity, m, z, total, expected)) {
      if (m >= 2) return z;
      const rest = Math.max(0, total - largest);
      if (this.#isSpike(entity, m, b.score(m, slot, rest, floor).z, rest, expected)) return z;
    }
    return m < 2 ? this.#restZ(entity, m, Math.max(0, total - largest), floor, total, expected) : Number.NaN;
  }

  /**
   * The extreme tier on what the three largest conversations leave of bytes or packets (`rest`),
   * judged against that quantity's own level (NaN: no spike): extreme on it (#restExtreme), and
   * spikeRatio x the entity's whole recent peak (`peak`): four large flows in a minute where one
   * is usual put that usual one in the rest (three 80 MB flows of a study on top of the minute's
   * usual 30 MB one read as 1,500x the rest's level of 20 kB in the unit test).
   * For a sparse entity whose minutes are one large flow or none, the whole spreads over a factor of
   * 10 or more and no copy is extreme enough on it (evaluation seed 10: an organisation of about 10
   * flows a minute copying 25 MB/s over 8 streams, 1.25 GB against an expected 312 kB, was z 3.1 on
   * a spread of 2.66), while what the three largest leave is a few kB a minute (1-60 kB) and the
   * copy's other five streams 900 MB.
   *
   * An entity whose usual large flows are larger than a minute of the copy's other streams (a
   * trust sending imaging studies of up to 1 GB a minute) has a peak no minute of the copy
   * reaches three times. Its copy is the rest staying extreme minute after minute, which a study's
   * displaced flow does not: when the closed intervals just before were extreme too, with the whole
   * at least spikeRatio x its expected in each, the run's rest together (this interval's so far
   * included) is held against the peak from before the run began (#restRun). Evaluation seed 1:
   * RGJ copying 25 MB/s to the backup service over 8 streams, 760-950 MB a minute without the
   * three largest against a peak of 680 MB, raised nothing; the run reaches three times that peak in
   * its third minute.
   */
  #restZ(entity: VolumeEntity, m: number, rest: number, floor: number, total: number, expected: number): number {
    const z = this.#restExtreme(entity, m, rest, floor);
    if (Number.isNaN(z)) return z;
    const v = this.ctx.config.volume;
    const run = entity.restRun;
    let sum = rest;
    let peak = entity.peak[m]!;
    if (run !== undefined && run[3 * m]! > 0 && total >= expected * v.spikeRatio) {
      sum += run[3 * m + 1]!;
      peak = run[3 * m + 2]!;
    }
    return sum >= peak * v.spikeRatio * entity.spikeScale ? z : Number.NaN;
  }

  /**
   * The z-score of `rest` (bytes or packets without the three largest conversations) on its own
   * level when it is extreme there (NaN: not): at least the metric's minimum, extremeRatio x the
   * level and z >= zThreshold, once the level has REST_HISTORY intervals and is not nothing (an
   * entity whose minutes are at most three conversations has no such level).
   */
  #restExtreme(entity: VolumeEntity, m: number, rest: number, floor: number): number {
    const v = this.ctx.config.volume;
    const up = entity.spikeScale;
    const level = entity.rest[m]!;
    if (up <= 0 || v.extremeRatio <= 0 || level.history < REST_HISTORY || rest < this.#mins[m]! * up) return Number.NaN;
    const usual = level.expected;
    if (!(usual >= 1) || rest < usual * v.extremeRatio * up) return Number.NaN;
    const z = level.z(rest, floor);
    return z >= v.zThreshold * up ? z : Number.NaN;
  }

  /**
   * At the close of interval `slot`, before its rest is learnt: extends the entity's run of
   * intervals whose `rest` of metric `m` was extreme with the whole (`total`) at least spikeRatio x
   * its expected (#restZ), or ends it.
   */
  #restRun(entity: VolumeEntity, m: number, slot: number, rest: number, total: number): void {
    const b = entity.baseline;
    const extreme =
      !Number.isNaN(this.#restExtreme(entity, m, rest, countFloor(b, slot))) &&
      total >= Math.expm1(b.expectedLog(m, slot)) * this.ctx.config.volume.spikeRatio;
    let run = entity.restRun;
    if (!extreme) {
      if (run !== undefined) run[3 * m] = run[3 * m + 1] = 0;
      return;
    }
    run ??= entity.restRun = new Float64Array(6);
    if (run[3 * m] === 0) run[3 * m + 2] = entity.peak[m]!;
    run[3 * m] = run[3 * m]! + 1;
    run[3 * m + 1] = run[3 * m + 1]! + rest;
  }

  /**
   * Whether `value` of metric `m`, at robust z-score `z` against `expected`, is a spike: at least
   * the metric's minimum, and either z >= zThreshold and spikeRatio x expected, or (extreme tier)
   * z >= 2/3 of zThreshold and extremeRatio x expected. The tier is for sparse entities, whose
   * minutes spread over a factor of several: 12,800 times the usual is a spike even where the
   * spread makes it only 5 spreads.
   */
  #isSpike(entity: VolumeEntity, m: number, z: number, value: number, expected: number): boolean {
    const v = this.ctx.config.volume;
    const up = entity.spikeScale;
    if (up <= 0 || value < this.#mins[m]! * up) return false;
    if (z >= v.zThreshold * up && value >= expected * v.spikeRatio) return true;
    return v.extremeRatio > 0 && z >= ((2 * v.zThreshold) / 3) * up && value >= expected * v.extremeRatio * up;
  }

  #describe(entity: VolumeEntity): Described {
    const d = this.ctx.directory;
    const id = entity.id;
    switch (entity.kind) {
      case 'supplier':
        return {
          name: d.supplierName(id),
          label: `${d.supplierName(id)} (${id}) telemetry`,
          fields: {},
          match: (f) => f.supplier_id === id,
        };
      case 'exporter': {
        const [supplier = '', exporter = ''] = id.split('/');
        return {
          name: `${exporter} (${d.supplierName(supplier)})`,
          label: `Exporter ${exporter} of ${d.supplierName(supplier)} (${supplier})`,
          fields: {},
          match: (f) => f.supplier_id === supplier && f.exporter_id === exporter,
        };
      }
      case 'organisation_out':
        return {
          name: d.orgName(id),
          label: `${d.orgLabel(id)} outbound`,
          fields: { srcOrg: id },
          match: (f) => f.src_org === id && f.dst_org !== id,
        };
      case 'organisation_in':
        return {
          name: d.orgName(id),
          label: `${d.orgLabel(id)} inbound`,
          fields: { dstOrg: id },
          match: (f) => f.dst_org === id && f.src_org !== id,
        };
      case 'organisation_pair': {
        const [a = '', b = ''] = id.split('>');
        return {
          name: `${d.orgName(a)} -> ${d.orgName(b)}`,
          label: `${d.orgLabel(a)} -> ${d.orgLabel(b)}`,
          fields: { srcOrg: a, dstOrg: b },
          match: (f) => f.src_org === a && f.dst_org === b,
        };
      }
      case 'service':
        return { name: d.serviceName(id), label: `Service ${d.serviceName(id)}`, fields: { service: id }, match: (f) => f.service === id };
    }
  }

  /**
   * Warm start: hourly rows teach the seasonal profiles, minute rows (oldest first, per entity
   * contiguous minutes with zeros filled by the caller's ordering) replay through the baseline.
   */
  warmHourly(rows: readonly VolumeRow[], intervalsPerHour: number): void {
    const values = new Float64Array(3);
    for (const r of rows) {
      const entity = this.#entityFor(r.kind, r.id);
      if (entity === undefined) continue;
      values[0] = r.bytes / intervalsPerHour;
      values[1] = r.packets / intervalsPerHour;
      values[2] = r.flows / intervalsPerHour;
      entity.baseline.warmProfile(hourOfWeek(r.ts), values, intervalsPerHour);
    }
  }

  /** Replays per-interval rows of one entity in time order, with the gaps (no traffic) as zeros. */
  warmIntervals(kind: VolumeKind, id: string, rows: readonly VolumeRow[], fromMs: number, toMs: number): void {
    const entity = this.#entityFor(kind, id);
    if (entity === undefined) return;
    const intervalMs = this.ctx.clock.intervalMs;
    const values = new Float64Array(3);
    let i = 0;
    for (let t = fromMs; t < toMs; t += intervalMs) {
      values.fill(0);
      while (i < rows.length && rows[i]!.ts < t + intervalMs) {
        const r = rows[i++]!;
        if (r.ts >= t) {
          values[0]! += r.bytes;
          values[1]! += r.packets;
          values[2]! += r.flows;
        }
      }
      entity.baseline.observe(hourOfWeek(t), values);
      learnEmpty(entity, values[2]!);
    }
  }

  #entityFor(kind: VolumeKind, id: string): VolumeEntity | undefined {
    if (!this.#enabled[kind]) return undefined;
    const table = this.tables[kind];
    let entity = table.peek(id);
    if (entity === undefined) {
      entity = this.#create(kind, id);
      table.set(id, entity);
    }
    return entity;
  }

  approximateBytes(): number {
    let n = this.#seen.approximateBytes;
    for (const e of this.#entities())
      n +=
        e.baseline.approximateBytes +
        e.sums.approximateBytes +
        (e.dropWindow?.approximateBytes ?? 0) +
        (e.dropSteps?.approximateBytes ?? 0) +
        // Two arrays of up to MAX_ENTITY_CARRIERS + 1 (pointers and doubles, with headers).
        (e.carriers === undefined ? 0 : 64 + 16 * e.carriers.length) +
        REST_BYTES +
        ENTITY_BYTES +
        2 * e.id.length;
    for (const key of this.#carriers.keys()) n += CARRIER_BYTES + 2 * key.length;
    return n;
  }

  snapshot(): {
    kind: VolumeKind;
    id: string;
    baseline: ReturnType<SeasonalBaseline['toJSON']>;
    emptyRate?: number;
    topShare?: number;
    /** `rest` and `peak`, per metric (absent before 2026-11-24 and while unlearnt). */
    rest?: LevelSnapshot[];
    peak?: number[];
  }[] {
    return [...this.#entities()].map((e) => ({
      kind: e.kind,
      id: e.id,
      baseline: e.baseline.toJSON(),
      emptyRate: e.emptyRate,
      ...(Number.isNaN(e.topShare) ? {} : { topShare: e.topShare }),
      ...(e.rest[0].history === 0 ? {} : { rest: e.rest.map((l) => l.toJSON()), peak: [...e.peak] }),
    }));
  }

  restore(items: ReturnType<VolumeDetector['snapshot']>): void {
    for (const item of items) {
      const entity = this.#create(item.kind, item.id);
      entity.baseline = SeasonalBaseline.fromJSON(item.baseline);
      if (typeof item.emptyRate === 'number') {
        entity.emptyRate = item.emptyRate;
        entity.emptyRateBefore = item.emptyRate;
        entity.stepEmptyRate = item.emptyRate;
      }
      if (typeof item.topShare === 'number') entity.topShare = item.topShare;
      item.rest?.forEach((saved, m) => {
        entity.rest[m]?.restore(saved);
      });
      item.peak?.forEach((p, m) => {
        if (m < 2 && Number.isFinite(p)) entity.peak[m] = p;
      });
      this.tables[item.kind]?.set(item.id, entity);
    }
  }
}
