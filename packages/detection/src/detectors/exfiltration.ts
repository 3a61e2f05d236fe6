import type { EnrichedFlow } from '@flowwatch/enrichment';
import { hourOfWeek, LevelBaseline, type LevelSnapshot, SeasonalBaseline } from '../baseline.js';
import type { DetectorContext, DetectorFamily } from '../context.js';
import { escalate } from '../detection.js';
import { formatBytes, formatDuration, suppliersOf } from '../directory.js';
import { EntityTable } from '../entity-table.js';
import { IntervalTotals } from '../event-clock.js';

/** An organisation's bytes to the internet per interval, against its seasonal profile. */
interface Organisation {
  touched: boolean;
  orgSupplier: string;
  sums: IntervalTotals;
  seasonal: SeasonalBaseline;
  scale: number;
  receivedNs: number;
}

const HOST_IDLE_INTERVALS = 1440;

/** Buckets of the sustained-upload window (the window slides by window / UPLOAD_BUCKETS). */
const UPLOAD_BUCKETS = 12;
/** A host's sustained-upload sighting is re-raised at most this often. */
const UPLOAD_REFRESH_MS = 30_000;

/**
 * An inside host's traffic with the internet, keyed by its address: one entity (one table
 * look-up, one eviction) for both of its rules, the per-interval one and the sustained upload.
 */
interface Host {
  touched: boolean;
  org: string;
  orgSupplier: string;
  /** Its overrides' scale (NaN until first needed: most hosts seen only downloading never need it). */
  scale: number;
  /** Latest reception time of its uploads (detection latency). */
  receivedNs: number;
  /**
   * Its bytes to the internet per open interval and their baseline (a level of its active
   * intervals); undefined until it first uploads, and again after a day without uploading.
   */
  sums: IntervalTotals | undefined;
  baseline: LevelBaseline | undefined;
  /** Closed intervals in a row without uploads: a host idle for a day is forgotten (its upload rule's learnt state aside). */
  idle: number;
  /**
   * The sustained-upload window's buckets in one array: bytes uploaded at [UP + k], downloaded at
   * [DOWN + k], and the largest single upload flow at [LARGEST + k].
   */
  buckets: number[];
  /** Bucket number (event time / bucket length) of the newest bucket. */
  latest: number;
  /** The most the host uploaded in one window during the learning period. */
  learntPeak: number;
  /** Its own surge-window level: the most it uploaded in a surge window, halving every day, surges excluded. */
  level: number;
  /** Bucket the level was last learnt at. */
  levelBucket: number;
  /** Latest event time its upload met the surge rule's volume conditions. */
  lastSurgeMs: number;
  /** Since when the surge rule's conditions have held without a break (NaN: they do not). */
  surgeSinceMs: number;
  lastRaiseMs: number;
}
/** A host's upload state in a checkpoint (see `snapshotUploads`). */
export interface UploadSnapshot {
  addr: string;
  org: string;
  orgSupplier: string;
  learntPeak: number;
  level: number;
  levelBucket: number;
  latest: number;
  lastSurgeMs?: number;
}

/** The upload-surge conditions must hold this long (event time) before it is reported. */
const SURGE_HOLD_MS = 20_000;
/** The upload-surge level halves over this much event time. */
const LEVEL_HALF_LIFE_MS = 86_400_000;
/** Active intervals a host needs before its baseline is trusted. */
const HOST_MIN_ACTIVE = 10;

const UP = 0;
const DOWN = UPLOAD_BUCKETS;
const LARGEST = 2 * UPLOAD_BUCKETS;

/**
 * Exfiltration: bytes per interval to the internet (`to_internet`) from an organisation (seasonal
 * baseline, as volumes) and from each host (level baseline of its active intervals, trusted after
 * 10 of them; a host never seen sending to the internet is left to its organisation), alerting when the interval is
 * >= zThreshold robust deviations and >= ratio times above its own baseline and above the
 * absolute minimum (minBytesOrganisation, minBytesHost), after minHistoryIntervals intervals.
 * Each host's sustained uploads and upload surges are checked on every upload flow (#upload).
 */
export class ExfiltrationDetector implements DetectorFamily {
  readonly name = 'exfiltration';
  /** Organisations and hosts apart, keyed by code or address as they come (no key building). */
  readonly orgs: EntityTable<Organisation>;
  readonly hosts: EntityTable<Host>;
  readonly #out = new Float64Array(1);
  readonly #bucketMs: number;
  /** Buckets of the upload-surge window. */
  readonly #surgeBuckets: number;

  constructor(private readonly ctx: DetectorContext) {
    this.orgs = new EntityTable(ctx.config.maxEntities);
    this.hosts = new EntityTable(ctx.config.maxEntities);
    this.#bucketMs = Math.max(1000, Math.floor(ctx.config.exfiltration.sustained.windowMs / UPLOAD_BUCKETS));
    // At most half the ring: the level learns from the window before the current one.
    this.#surgeBuckets = Math.min(UPLOAD_BUCKETS / 2, Math.max(1, Math.round(ctx.config.exfiltration.surge.windowMs / this.#bucketMs)));
  }

  get size(): number {
    return this.orgs.size + this.hosts.size;
  }
  get evictions(): number {
    return this.orgs.evictions + this.hosts.evictions;
  }

  onFlow(f: EnrichedFlow, start: number, t: number = start): void {
    if (f.direction === 'from_internet') {
      if (f.dst_org !== '') this.#download(f, t);
      return;
    }
    if (f.direction !== 'to_internet' || f.src_org === '') return;
    this.#addOrganisation(f, start);
    const b = Math.floor(t / this.#bucketMs);
    const h = this.#hostOf(f.src_addr, f.src_org, f.src_org_supplier, b);
    let sums = h.sums;
    if (sums === undefined) {
      const clock = this.ctx.clock;
      sums = h.sums = new IntervalTotals(clock.slots, clock.intervalMs);
      h.baseline = new LevelBaseline(0.05);
    }
    sums.add(start, f.bytes_est);
    h.idle = 0;
    if (f.time_received_ns > h.receivedNs) h.receivedNs = f.time_received_ns;
    this.#upload(f, t, h, b);
  }

  /** Moves a host's window forward to bucket `b`, clearing the buckets it passes. Returns the ring index, or -1 if `b` is older than the window. */
  #bucket(u: Host, b: number): number {
    if (b > u.latest) {
      this.#learnLevel(u);
      const steps = Math.min(UPLOAD_BUCKETS, b - u.latest);
      const w = u.buckets;
      for (let i = 1; i <= steps; i++) {
        const k = (u.latest + i) % UPLOAD_BUCKETS;
        w[UP + k] = 0;
        w[DOWN + k] = 0;
        w[LARGEST + k] = 0;
      }
      u.latest = b;
    } else if (b <= u.latest - UPLOAD_BUCKETS) {
      return -1;
    }
    return b % UPLOAD_BUCKETS;
  }

  /**
   * Learns the host's surge-window level from the window ending a surge window before its newest
   * bucket: late enough that a leak building up to the threshold has been seen by then, and a
   * window starting before the latest surge does not teach (nor does the surge's build-up).
   */
  #learnLevel(u: Host): void {
    const n = this.#surgeBuckets;
    const end = u.latest - n;
    if (end <= u.levelBucket) return;
    let level = u.level;
    if (level > 0) level *= 0.5 ** (((end - u.levelBucket) * this.#bucketMs) / LEVEL_HALF_LIFE_MS);
    u.levelBucket = end;
    if (u.lastSurgeMs >= (end - n + 1) * this.#bucketMs) {
      u.level = level;
      return;
    }
    let sum = 0;
    for (let i = 0; i < n; i++) sum += u.buckets[UP + ((end - i + UPLOAD_BUCKETS * n) % UPLOAD_BUCKETS)]!;
    u.level = Math.max(level, sum);
  }

  /** The host at `addr` (created when new, with its window's newest bucket `b`). */
  #hostOf(addr: string, org: string, orgSupplier: string, b: number): Host {
    let h = this.hosts.get(addr);
    if (h === undefined) {
      h = {
        touched: false,
        org,
        orgSupplier,
        scale: Number.NaN,
        receivedNs: 0,
        sums: undefined,
        baseline: undefined,
        idle: 0,
        // An array, not a Float64Array: typed arrays over 64 bytes are allocated outside the heap,
        // which for a new host (most hosts seen uploading are new) costs more than its flow.
        buckets: new Array<number>(3 * UPLOAD_BUCKETS).fill(0),
        latest: b,
        learntPeak: 0,
        level: 0,
        levelBucket: b - 1,
        lastSurgeMs: Number.NEGATIVE_INFINITY,
        surgeSinceMs: Number.NaN,
        lastRaiseMs: Number.NEGATIVE_INFINITY,
      };
      this.hosts.set(addr, h);
    }
    return h;
  }

  /** The overrides' scale of host `addr` (computed once: overrides are fixed for an engine's life). */
  #scaleOf(h: Host, addr: string): number {
    if (Number.isNaN(h.scale)) h.scale = this.ctx.overrides.scaleFor('exfiltration', 'host', addr, [h.org], suppliersOf(h.orgSupplier));
    return h.scale;
  }

  #download(f: EnrichedFlow, t: number): void {
    const b = Math.floor(t / this.#bucketMs);
    const h = this.#hostOf(f.dst_addr, f.dst_org, f.dst_org_supplier, b);
    const k = this.#bucket(h, b);
    if (k >= 0) h.buckets[DOWN + k]! += f.bytes_est;
  }

  /**
   * Sustained upload: a host whose bytes to the internet over the window reach the minimum, are
   * `asymmetry` times what it received from the internet meanwhile (an upload, not a busy browser),
   * and exceed `ratio` times the most it uploaded in a window while learning (a host that uploads
   * by design, such as a backup gateway, is held to its own level). Checked on every upload flow,
   * so a slow leak is reported when its total crosses the minimum, not an interval later.
   */
  #upload(f: EnrichedFlow, t: number, u: Host, b: number): void {
    const c = this.ctx.config.exfiltration;
    const k = this.#bucket(u, b);
    if (k < 0) return;
    const w = u.buckets;
    w[UP + k]! += f.bytes_est;
    if (f.bytes_est > w[LARGEST + k]!) w[LARGEST + k] = f.bytes_est;
    let up = 0;
    let down = 0;
    for (let i = 0; i < UPLOAD_BUCKETS; i++) {
      up += w[UP + i]!;
      down += w[DOWN + i]!;
    }
    if (this.ctx.learning(t)) {
      if (up > u.learntPeak) u.learntPeak = up;
      return;
    }
    const scale = this.#scaleOf(u, f.src_addr);
    if (scale === 0) return;
    const threshold = Math.max(c.sustained.minBytes, c.ratio * u.learntPeak) * scale;
    if (up >= threshold && up >= c.sustained.asymmetry * down) {
      if (t - u.lastRaiseMs >= UPLOAD_REFRESH_MS) this.#raiseUpload(f, t, u, 'sustained upload', c.sustained.windowMs, up, down, threshold);
      return;
    }
    // Upload surge: far above the host's own level over minutes (a leak too short for the hour).
    const n = this.#surgeBuckets;
    let upSurge = 0;
    let downSurge = 0;
    let largest = 0;
    for (let i = 0; i < n; i++) {
      const j = (u.latest - i + UPLOAD_BUCKETS * n) % UPLOAD_BUCKETS;
      upSurge += w[UP + j]!;
      downSurge += w[DOWN + j]!;
      if (w[LARGEST + j]! > largest) largest = w[LARGEST + j]!;
    }
    const surgeThreshold = Math.max(c.surge.minBytes, c.surge.ratio * u.level) * scale;
    // It must hold without its single largest flow (one big upload, a video call's media stream,
    // is not a leak), and for SURGE_HOLD_MS: the replies to an exchange are often the next record
    // of the same export, counted after the request that met the threshold.
    if (upSurge - largest < surgeThreshold || upSurge < c.sustained.asymmetry * downSurge) {
      u.surgeSinceMs = Number.NaN;
      return;
    }
    u.lastSurgeMs = t;
    if (Number.isNaN(u.surgeSinceMs)) u.surgeSinceMs = t;
    if (t - u.surgeSinceMs >= SURGE_HOLD_MS && t - u.lastRaiseMs >= UPLOAD_REFRESH_MS)
      this.#raiseUpload(f, t, u, 'upload surge', n * this.#bucketMs, upSurge, downSurge, surgeThreshold);
  }

  #raiseUpload(f: EnrichedFlow, t: number, u: Host, rule: string, windowMs: number, up: number, down: number, threshold: number): void {
    u.lastRaiseMs = t;
    const d = this.ctx.directory;
    const addr = f.src_addr;
    this.ctx.sink.raise({
      type: 'exfiltration',
      entity: { kind: 'host', id: addr, name: d.hostLabel(addr, f.src_org) },
      supplierIds: suppliersOf(f.src_org_supplier),
      srcOrg: f.src_org,
      srcAddr: addr,
      dstAddr: f.dst_addr,
      atMs: t,
      observed: up,
      expected: threshold,
      score: up / threshold,
      severity: up >= 4 * threshold ? escalate('high') : 'high',
      summary: `${d.hostLabel(addr, f.src_org)} uploaded ${formatBytes(up)} to the internet in the last ${formatDuration(windowMs)} and received ${formatBytes(down)} (latest to ${f.dst_addr}:${f.dst_port})`,
      details: {
        unit: 'bytes',
        rule,
        window_ms: windowMs,
        uploaded: Math.round(up),
        received: Math.round(down),
        threshold: Math.round(threshold),
        learnt_peak: Math.round(u.learntPeak),
        host_level: Math.round(u.level),
      },
      match: (x) => x.src_addr === addr && x.direction === 'to_internet',
      receivedNs: u.receivedNs,
    });
  }

  #addOrganisation(f: EnrichedFlow, start: number): void {
    const id = f.src_org;
    let e = this.orgs.get(id);
    if (e === undefined) e = this.#newOrganisation(id, f.src_org_supplier);
    e.sums.add(start, f.bytes_est);
    if (f.time_received_ns > e.receivedNs) e.receivedNs = f.time_received_ns;
  }

  #newOrganisation(org: string, orgSupplier: string): Organisation {
    const clock = this.ctx.clock;
    const e: Organisation = {
      touched: false,
      orgSupplier,
      sums: new IntervalTotals(clock.slots, clock.intervalMs),
      seasonal: new SeasonalBaseline(1),
      scale: this.ctx.overrides.scaleFor('exfiltration', 'organisation', org, [org], suppliersOf(orgSupplier)),
      receivedNs: 0,
    };
    this.orgs.set(org, e);
    return e;
  }

  onIntervalClose(start: number): void {
    const c = this.ctx.config.exfiltration;
    const slot = hourOfWeek(start);
    const out = this.#out;
    // forEach, not for-of over entries: no [key, value] array per host (hundreds of thousands a close).
    this.orgs.forEach((e, org) => {
      const bytes = e.sums.take(start);
      const b = e.seasonal;
      if (e.scale > 0 && b.history >= c.minHistoryIntervals && b.residuals >= 16) {
        const { expected, z } = b.score(0, slot, bytes);
        this.#check('organisation', org, org, e.orgSupplier, e.scale, e.receivedNs, start, bytes, expected, z, c.minBytesOrganisation);
      }
      out[0] = bytes;
      b.observe(slot, out);
    });
    const hosts = this.hosts;
    hosts.forEach((h, addr) => {
      // A host's baseline is its volume in the intervals it is active: most hosts talk to the
      // internet in bursts, and the zeros in between say nothing about how much a burst is.
      if (h.sums === undefined) return;
      const bytes = h.sums.take(start);
      if (bytes === 0) {
        if (++h.idle >= HOST_IDLE_INTERVALS) {
          // What its upload rules learnt is kept (a host that uploads by design, rarely).
          if (h.learntPeak > 0 || h.level > 0) {
            h.sums = undefined;
            h.baseline = undefined;
          } else hosts.delete(addr);
        }
        return;
      }
      const b = h.baseline!;
      if (b.history >= Math.min(c.minHistoryIntervals, HOST_MIN_ACTIVE)) {
        const scale = this.#scaleOf(h, addr);
        if (scale > 0)
          this.#check('host', addr, h.org, h.orgSupplier, scale, h.receivedNs, start, bytes, b.expected, b.z(bytes), c.minBytesHost);
      }
      b.observe(bytes);
    });
  }

  #check(
    kind: 'organisation' | 'host',
    id: string,
    org: string,
    orgSupplier: string,
    s: number,
    receivedNs: number,
    start: number,
    bytes: number,
    expected: number,
    z: number,
    minBytes: number,
  ): void {
    const c = this.ctx.config.exfiltration;
    if (!(z >= c.zThreshold * s && bytes >= c.ratio * s * Math.max(expected, 0) && bytes >= minBytes * s)) return;
    const d = this.ctx.directory;
    const intervalMs = this.ctx.clock.intervalMs;
    const ratio = expected > 0 ? bytes / expected : Number.POSITIVE_INFINITY;
    const who = kind === 'organisation' ? d.orgLabel(id) : d.hostLabel(id, org);
    this.ctx.sink.raise({
      type: 'exfiltration',
      entity: { kind, id, name: kind === 'organisation' ? d.orgName(id) : d.hostLabel(id, org) },
      supplierIds: suppliersOf(orgSupplier),
      srcOrg: org,
      ...(kind === 'host' ? { srcAddr: id } : {}),
      atMs: start + intervalMs - 1,
      observed: bytes,
      expected,
      score: z,
      severity: z >= 2 * c.zThreshold * s || ratio >= 50 ? escalate('high') : 'high',
      summary: `${who} sent ${formatBytes(bytes)} to the internet in ${formatDuration(intervalMs)}, ${Number.isFinite(ratio) ? `${Math.round(ratio)}x` : 'far above'} its usual ${formatBytes(Math.max(0, expected))}`,
      details: { unit: 'bytes', interval_ms: intervalMs, z: Number(z.toFixed(2)) },
      match:
        kind === 'organisation'
          ? (x) => x.src_org === id && x.direction === 'to_internet'
          : (x) => x.src_addr === id && x.direction === 'to_internet',
      receivedNs,
    });
  }

  /** Warm start: an hour's bytes to the internet from `org` teach its seasonal profile. */
  warmOrganisation(org: string, hourStartMs: number, bytes: number, intervalsPerHour: number): void {
    const e = this.orgs.peek(org) ?? this.#newOrganisation(org, this.ctx.directory.orgSupplier(org));
    e.seasonal.warmProfile(hourOfWeek(hourStartMs), [bytes / intervalsPerHour], intervalsPerHour);
  }

  /** Approximate heap bytes of the organisations' and hosts' state (the state-per-entity figures). */
  approximateBytes(): number {
    let n = 0;
    this.orgs.forEach((e, org) => {
      n += 120 + 2 * org.length + e.sums.approximateBytes + e.seasonal.approximateBytes;
    });
    this.hosts.forEach((h, addr) => {
      n += 160 + 2 * addr.length + 16 + 8 * h.buckets.length;
      if (h.sums !== undefined) n += h.sums.approximateBytes + 64;
    });
    return n;
  }

  /** Organisations' seasonal profiles and hosts' interval baselines (their upload state: snapshotUploads). */
  snapshot(): { kind: 'organisation' | 'host'; id: string; org: string; orgSupplier: string; seasonal?: unknown; level?: unknown }[] {
    const out: ReturnType<ExfiltrationDetector['snapshot']> = [];
    this.orgs.forEach((e, org) => {
      out.push({ kind: 'organisation', id: org, org, orgSupplier: e.orgSupplier, seasonal: e.seasonal.toJSON() });
    });
    this.hosts.forEach((h, addr) => {
      if (h.baseline !== undefined)
        out.push({ kind: 'host', id: addr, org: h.org, orgSupplier: h.orgSupplier, level: h.baseline.toJSON() });
    });
    return out;
  }

  /**
   * The sustained-upload and upload-surge rules' long-lived state per host: the peak learnt while
   * learning and the surge level (with the bucket it was learnt at, so it keeps halving). Without
   * it a host that uploads by design (a backup gateway) is held to the bare minimums after a
   * restart and reported. The window's buckets are not kept (as the volumes' open intervals).
   */
  snapshotUploads(): UploadSnapshot[] {
    const out: UploadSnapshot[] = [];
    this.hosts.forEach((u, addr) => {
      if (u.learntPeak > 0 || u.level > 0)
        out.push({
          addr,
          org: u.org,
          orgSupplier: u.orgSupplier,
          learntPeak: u.learntPeak,
          level: u.level,
          levelBucket: u.levelBucket,
          latest: u.latest,
          ...(Number.isFinite(u.lastSurgeMs) ? { lastSurgeMs: u.lastSurgeMs } : {}),
        });
    });
    return out;
  }

  restoreUploads(items: readonly UploadSnapshot[]): void {
    for (const s of items) {
      const u = this.#hostOf(s.addr, s.org, s.orgSupplier, s.latest);
      u.latest = Math.max(u.latest, s.latest);
      u.learntPeak = s.learntPeak;
      u.level = s.level;
      u.levelBucket = s.levelBucket;
      if (s.lastSurgeMs !== undefined) u.lastSurgeMs = s.lastSurgeMs;
    }
  }

  restore(items: ReturnType<ExfiltrationDetector['snapshot']>): void {
    const clock = this.ctx.clock;
    for (const s of items) {
      if (s.kind === 'organisation') {
        const e = this.orgs.peek(s.id) ?? this.#newOrganisation(s.id, s.orgSupplier);
        if (s.seasonal) e.seasonal = SeasonalBaseline.fromJSON(s.seasonal as Parameters<typeof SeasonalBaseline.fromJSON>[0]);
        continue;
      }
      const h = this.#hostOf(s.id, s.org, s.orgSupplier, 0);
      h.sums = new IntervalTotals(clock.slots, clock.intervalMs);
      h.baseline = new LevelBaseline(0.05);
      if (s.level) h.baseline.restore(s.level as LevelSnapshot);
    }
  }
}
