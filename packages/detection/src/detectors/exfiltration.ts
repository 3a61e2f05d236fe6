import type { EnrichedFlow } from '@flowwatch/enrichment';
import { hourOfWeek, LevelBaseline, type LevelSnapshot, SeasonalBaseline } from '../baseline.js';
import type { DetectorContext, DetectorFamily } from '../context.js';
import { escalate } from '../detection.js';
import { formatBytes, formatDuration, suppliersOf } from '../directory.js';
import { EntityTable } from '../entity-table.js';
import { IntervalTotals } from '../event-clock.js';

interface Outbound {
  touched: boolean;
  kind: 'organisation' | 'host';
  id: string;
  org: string;
  orgSupplier: string;
  sums: IntervalTotals;
  seasonal: SeasonalBaseline | undefined;
  level: LevelBaseline | undefined;
  scale: number;
  receivedNs: number;
  /** Intervals in a row without traffic: a host idle for a day is forgotten. */
  idle: number;
}

const HOST_IDLE_INTERVALS = 1440;

/** Buckets of the sustained-upload window (the window slides by window / UPLOAD_BUCKETS). */
const UPLOAD_BUCKETS = 12;
/** A host's sustained-upload sighting is re-raised at most this often. */
const UPLOAD_REFRESH_MS = 30_000;

/** A host's traffic with the internet over the sustained-upload window, in buckets. */
interface Uploads {
  touched: boolean;
  org: string;
  orgSupplier: string;
  /**
   * The window's buckets in one array: bytes uploaded at [UP + k], downloaded at [DOWN + k], and
   * the largest single upload flow at [LARGEST + k] (one array, not three: a third of the memory
   * of a host seen uploading, most of whose state this is).
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
  receivedNs: number;
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
 */
export class ExfiltrationDetector implements DetectorFamily {
  readonly name = 'exfiltration';
  /** Organisations and hosts apart, keyed by code or address as they come (no key building). */
  readonly orgs: EntityTable<Outbound>;
  readonly hosts: EntityTable<Outbound>;
  /** Sustained uploads: each inside host's bytes to and from the internet over the long window. */
  readonly uploads: EntityTable<Uploads>;
  readonly #out = new Float64Array(1);
  readonly #bucketMs: number;
  /** Buckets of the upload-surge window. */
  readonly #surgeBuckets: number;

  constructor(private readonly ctx: DetectorContext) {
    this.orgs = new EntityTable(ctx.config.maxEntities);
    this.hosts = new EntityTable(ctx.config.maxEntities);
    this.uploads = new EntityTable(ctx.config.maxEntities);
    this.#bucketMs = Math.max(1000, Math.floor(ctx.config.exfiltration.sustained.windowMs / UPLOAD_BUCKETS));
    // At most half the ring: the level learns from the window before the current one.
    this.#surgeBuckets = Math.min(UPLOAD_BUCKETS / 2, Math.max(1, Math.round(ctx.config.exfiltration.surge.windowMs / this.#bucketMs)));
  }

  get size(): number {
    return this.orgs.size + this.hosts.size + this.uploads.size;
  }
  get evictions(): number {
    return this.orgs.evictions + this.hosts.evictions + this.uploads.evictions;
  }

  onFlow(f: EnrichedFlow, start: number, t: number = start): void {
    if (f.direction === 'from_internet') {
      if (f.dst_org !== '') this.#download(f, t);
      return;
    }
    if (f.direction !== 'to_internet' || f.src_org === '') return;
    this.#add('organisation', f.src_org, f, start);
    this.#add('host', f.src_addr, f, start);
    this.#upload(f, t);
  }

  /** Moves a host's window forward to bucket `b`, clearing the buckets it passes. Returns the ring index, or -1 if `b` is older than the window. */
  #bucket(u: Uploads, b: number): number {
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
  #learnLevel(u: Uploads): void {
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

  #uploadsOf(addr: string, org: string, orgSupplier: string, b: number): Uploads {
    let u = this.uploads.get(addr);
    if (u === undefined) {
      u = {
        touched: false,
        org,
        orgSupplier,
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
        receivedNs: 0,
      };
      this.uploads.set(addr, u);
    }
    return u;
  }

  #download(f: EnrichedFlow, t: number): void {
    const b = Math.floor(t / this.#bucketMs);
    const u = this.#uploadsOf(f.dst_addr, f.dst_org, f.dst_org_supplier, b);
    const k = this.#bucket(u, b);
    if (k >= 0) u.buckets[DOWN + k]! += f.bytes_est;
  }

  /**
   * Sustained upload: a host whose bytes to the internet over the window reach the minimum, are
   * `asymmetry` times what it received from the internet meanwhile (an upload, not a busy browser),
   * and exceed `ratio` times the most it uploaded in a window while learning (a host that uploads
   * by design, such as a backup gateway, is held to its own level). Checked on every upload flow,
   * so a slow leak is reported when its total crosses the minimum, not an interval later.
   */
  #upload(f: EnrichedFlow, t: number): void {
    const c = this.ctx.config.exfiltration;
    const b = Math.floor(t / this.#bucketMs);
    const u = this.#uploadsOf(f.src_addr, f.src_org, f.src_org_supplier, b);
    const k = this.#bucket(u, b);
    if (k < 0) return;
    const w = u.buckets;
    w[UP + k]! += f.bytes_est;
    if (f.bytes_est > w[LARGEST + k]!) w[LARGEST + k] = f.bytes_est;
    if (f.time_received_ns > u.receivedNs) u.receivedNs = f.time_received_ns;
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
    const scale = this.ctx.overrides.scaleFor('exfiltration', 'host', f.src_addr, [f.src_org], suppliersOf(f.src_org_supplier));
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

  #raiseUpload(f: EnrichedFlow, t: number, u: Uploads, rule: string, windowMs: number, up: number, down: number, threshold: number): void {
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

  #add(kind: 'organisation' | 'host', id: string, f: EnrichedFlow, start: number): void {
    const table = kind === 'host' ? this.hosts : this.orgs;
    let e = table.get(id);
    if (e === undefined) {
      const clock = this.ctx.clock;
      e = {
        touched: false,
        kind,
        id,
        org: f.src_org,
        orgSupplier: f.src_org_supplier,
        sums: new IntervalTotals(clock.slots, clock.intervalMs),
        seasonal: kind === 'organisation' ? new SeasonalBaseline(1) : undefined,
        level: kind === 'host' ? new LevelBaseline(0.05) : undefined,
        scale: this.ctx.overrides.scaleFor('exfiltration', kind, id, [f.src_org], suppliersOf(f.src_org_supplier)),
        receivedNs: 0,
        idle: 0,
      };
      table.set(id, e);
    }
    e.sums.add(start, f.bytes_est);
    e.idle = 0;
    if (f.time_received_ns > e.receivedNs) e.receivedNs = f.time_received_ns;
  }

  onIntervalClose(start: number): void {
    const c = this.ctx.config.exfiltration;
    const slot = hourOfWeek(start);
    const out = this.#out;
    // forEach, not for-of over entries: no [key, value] array per host (hundreds of thousands a close).
    const close = (table: EntityTable<Outbound>) =>
      table.forEach((e, key) => {
        const bytes = e.sums.take(start);
        if (e.seasonal !== undefined) {
          const b = e.seasonal;
          if (e.scale > 0 && b.history >= c.minHistoryIntervals && b.residuals >= 16) {
            const { expected, z } = b.score(0, slot, bytes);
            this.#check(e, start, bytes, expected, z, c.minBytesOrganisation);
          }
          out[0] = bytes;
          b.observe(slot, out);
        } else {
          // A host's baseline is its volume in the intervals it is active: most hosts talk to the
          // internet in bursts, and the zeros in between say nothing about how much a burst is.
          const b = e.level!;
          if (bytes === 0) {
            if (++e.idle >= HOST_IDLE_INTERVALS) table.delete(key);
            return;
          }
          if (e.scale > 0 && b.history >= Math.min(c.minHistoryIntervals, HOST_MIN_ACTIVE)) {
            this.#check(e, start, bytes, b.expected, b.z(bytes), c.minBytesHost);
          }
          b.observe(bytes);
        }
      });
    close(this.orgs);
    close(this.hosts);
  }

  #check(e: Outbound, start: number, bytes: number, expected: number, z: number, minBytes: number): void {
    const c = this.ctx.config.exfiltration;
    const s = e.scale;
    if (!(z >= c.zThreshold * s && bytes >= c.ratio * s * Math.max(expected, 0) && bytes >= minBytes * s)) return;
    const d = this.ctx.directory;
    const intervalMs = this.ctx.clock.intervalMs;
    const ratio = expected > 0 ? bytes / expected : Number.POSITIVE_INFINITY;
    const who = e.kind === 'organisation' ? d.orgLabel(e.id) : d.hostLabel(e.id, e.org);
    const id = e.id;
    this.ctx.sink.raise({
      type: 'exfiltration',
      entity: { kind: e.kind, id, name: e.kind === 'organisation' ? d.orgName(id) : d.hostLabel(id, e.org) },
      supplierIds: suppliersOf(e.orgSupplier),
      srcOrg: e.org,
      ...(e.kind === 'host' ? { srcAddr: id } : {}),
      atMs: start + intervalMs - 1,
      observed: bytes,
      expected,
      score: z,
      severity: z >= 2 * c.zThreshold * s || ratio >= 50 ? escalate('high') : 'high',
      summary: `${who} sent ${formatBytes(bytes)} to the internet in ${formatDuration(intervalMs)}, ${Number.isFinite(ratio) ? `${Math.round(ratio)}x` : 'far above'} its usual ${formatBytes(Math.max(0, expected))}`,
      details: { unit: 'bytes', interval_ms: intervalMs, z: Number(z.toFixed(2)) },
      match:
        e.kind === 'organisation'
          ? (x) => x.src_org === id && x.direction === 'to_internet'
          : (x) => x.src_addr === id && x.direction === 'to_internet',
      receivedNs: e.receivedNs,
    });
  }

  /** Warm start: an hour's bytes to the internet from `org` teach its seasonal profile. */
  warmOrganisation(org: string, hourStartMs: number, bytes: number, intervalsPerHour: number): void {
    let e = this.orgs.peek(org);
    if (e === undefined) {
      const clock = this.ctx.clock;
      const supplier = this.ctx.directory.orgSupplier(org);
      e = {
        touched: false,
        kind: 'organisation',
        id: org,
        org,
        orgSupplier: supplier,
        sums: new IntervalTotals(clock.slots, clock.intervalMs),
        seasonal: new SeasonalBaseline(1),
        level: undefined,
        scale: this.ctx.overrides.scaleFor('exfiltration', 'organisation', org, [org], suppliersOf(supplier)),
        receivedNs: 0,
        idle: 0,
      };
      this.orgs.set(org, e);
    }
    e.seasonal?.warmProfile(hourOfWeek(hourStartMs), [bytes / intervalsPerHour], intervalsPerHour);
  }

  approximateBytes(): number {
    let n = 0;
    for (const table of [this.orgs, this.hosts])
      for (const e of table.values()) n += 150 + 2 * e.id.length + e.sums.approximateBytes + (e.seasonal?.approximateBytes ?? 64);
    return n;
  }

  snapshot(): { kind: 'organisation' | 'host'; id: string; org: string; orgSupplier: string; seasonal?: unknown; level?: unknown }[] {
    return [...this.orgs.values(), ...this.hosts.values()].map((e) => ({
      kind: e.kind,
      id: e.id,
      org: e.org,
      orgSupplier: e.orgSupplier,
      ...(e.seasonal ? { seasonal: e.seasonal.toJSON() } : {}),
      ...(e.level ? { level: e.level.toJSON() } : {}),
    }));
  }

  /**
   * The sustained-upload and upload-surge rules' long-lived state per host: the peak learnt while
   * learning and the surge level (with the bucket it was learnt at, so it keeps halving). Without
   * it a host that uploads by design (a backup gateway) is held to the bare minimums after a
   * restart and reported. The window's buckets are not kept (as the volumes' open intervals).
   */
  snapshotUploads(): UploadSnapshot[] {
    const out: UploadSnapshot[] = [];
    for (const [addr, u] of this.uploads.entries())
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
    return out;
  }

  restoreUploads(items: readonly UploadSnapshot[]): void {
    for (const s of items) {
      const u = this.#uploadsOf(s.addr, s.org, s.orgSupplier, s.latest);
      u.learntPeak = s.learntPeak;
      u.level = s.level;
      u.levelBucket = s.levelBucket;
      if (s.lastSurgeMs !== undefined) u.lastSurgeMs = s.lastSurgeMs;
    }
  }

  restore(items: ReturnType<ExfiltrationDetector['snapshot']>): void {
    const clock = this.ctx.clock;
    for (const s of items) {
      const level = s.level as LevelSnapshot | undefined;
      const e: Outbound = {
        touched: false,
        kind: s.kind,
        id: s.id,
        org: s.org,
        orgSupplier: s.orgSupplier,
        sums: new IntervalTotals(clock.slots, clock.intervalMs),
        seasonal: s.seasonal ? SeasonalBaseline.fromJSON(s.seasonal as Parameters<typeof SeasonalBaseline.fromJSON>[0]) : undefined,
        level: undefined,
        scale: this.ctx.overrides.scaleFor('exfiltration', s.kind, s.id, [s.org], suppliersOf(s.orgSupplier)),
        receivedNs: 0,
        idle: 0,
      };
      if (level) e.level = new LevelBaseline(0.05).restore(level);
      (s.kind === 'host' ? this.hosts : this.orgs).set(s.id, e);
    }
  }
}
