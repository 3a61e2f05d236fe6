import type { EnrichedFlow } from '@flowwatch/enrichment';
import type { DetectorContext, DetectorFamily } from '../context.js';
import { formatDuration } from '../directory.js';
import { EntityTable, HeldEntity } from '../entity-table.js';
import { KeyCache } from '../key-cache.js';

interface Source {
  touched: boolean;
  kind: 'supplier' | 'exporter';
  supplier: string;
  exporter: string;
  /** Latest collector reception time, ms. */
  lastMs: number;
  /** EWMA of the gaps between distinct reception times, ms. */
  gapMs: number;
  arrivals: number;
  /**
   * Distinct minutes of reception time with an arrival: the history in time. A burst (a flood
   * through a sparse exporter) fills any count of arrivals in seconds, not minutes.
   */
  activeMinutes: number;
  /**
   * Cadence memory: the longest gap (ms) ending in each of the last BUCKETS buckets of BUCKET_MS
   * of reception time, and which bucket (time / BUCKET_MS) each slot holds.
   */
  gapMax: number[];
  gapBucket: number[];
  silent: boolean;
  scale: number;
}

/** A source as checkpointed: also as by versions that kept the last 64 gaps (`recent`). */
type SavedSource = Omit<Source, 'touched' | 'gapMax' | 'gapBucket' | 'activeMinutes'> &
  Partial<Pick<Source, 'gapMax' | 'gapBucket' | 'activeMinutes'>> & { recent?: number[]; next?: number; recentMaxMs?: number };

/**
 * The cadence is remembered by time, not by count: the longest gap in each 10-minute bucket of the
 * last hour. A burst (a flood through the exporter: thousands of flows in minutes) fills any count
 * of recent gaps with milliseconds and made a sparse exporter's next usual gap read as a silence
 * (seed 2 of the evaluation: 2 false silences after a UDP flood); it cannot push an hour out.
 */
const BUCKET_MS = 600_000;
const BUCKETS = 6;
/** The span of the cadence memory: a gap learnt before the source is judged is at most this long. */
const MEMORY_MS = BUCKET_MS * BUCKETS;
const MINUTE_MS = 60_000;

const GAP_ALPHA = 0.1;
/** Gaps longer than this are outages, not the usual cadence: they do not teach the EWMA. */
const MAX_LEARNT_GAP_MS = 600_000;

/**
 * Telemetry silence of an exporter or a whole supplier. Time here is the collector's reception
 * time (the watermark of arrivals, moved on by the service while everything is idle), the clock
 * that says whether telemetry arrives. A source is silent once nothing arrived for
 * max(minSilenceMs, multiplier x its usual gap, recentGapMultiplier x the longest gap of the last
 * hour) (usual gap: EWMA of the intervals between datagrams), after at least minHistory arrivals.
 * The recent longest gap is the cadence at this time of day: a sparse exporter at night has
 * gaps of minutes (Poisson-like arrivals: 6 x the mean gap is exceeded by 1 gap in 400, which over
 * a night of a few hundred exporters was 3 false alerts in 6 hours; 3 x the longest of 64 gaps by
 * about 1 in 60,000, and an hour holds at least as many gaps as that for any exporter with a gap
 * under a minute). Gaps shorter than the limit are learnt however long; longer ones were outages.
 * A source is judged once it has minHistory arrivals in at least minActiveMinutes distinct
 * minutes; until then every gap up to the memory's hour is learnt, since nothing is an outage of
 * a source not yet judged (seed 14 of the evaluation: a NetFlow exporter sending a record every
 * 1-60 minutes had its first gaps over the 3-minute floor read as outages, not learnt; a SYN flood through
 * it gave it its 30 arrivals and a cadence of seconds, and 4 minutes after the flood it was
 * reported silent). A silent supplier's exporters are reported in its alert, not one by one.
 */
export class SilenceDetector implements DetectorFamily {
  readonly name = 'silence';
  readonly #sources: EntityTable<Source>;

  constructor(private readonly ctx: DetectorContext) {
    this.#sources = new EntityTable(Math.min(ctx.config.maxEntities, 100_000));
    this.#runSupplier = new HeldEntity(this.#sources);
    this.#runExporter = new HeldEntity(this.#sources);
  }

  get size(): number {
    return this.#sources.size;
  }
  get evictions(): number {
    return this.#sources.evictions;
  }

  onFlow(f: EnrichedFlow): void {
    const ms = f.time_received_ns / 1e6;
    if (ms <= 0 || f.supplier_id === '') return;
    // Records come in runs of one exporter's (a message each): its two sources are looked up once
    // a run and then updated directly.
    if (f.supplier_id !== this.#lastSupplier || f.exporter_id !== this.#lastExporter) {
      this.#lastSupplier = f.supplier_id;
      this.#lastExporter = f.exporter_id;
      this.#lastKey = f.exporter_id === '' ? '' : this.#exporterKeys.key(f.supplier_id, f.exporter_id);
      this.#runSupplier.release();
      this.#runExporter.release();
    }
    const supplier = this.#runSupplier.get();
    if (supplier !== undefined) this.#arrive(supplier, ms);
    else this.#runSupplier.hold(this.#see('supplier', f.supplier_id, '', ms, f.supplier_id));
    if (f.exporter_id === '') return;
    const exporter = this.#runExporter.get();
    if (exporter !== undefined) this.#arrive(exporter, ms);
    else this.#runExporter.hold(this.#see('exporter', f.supplier_id, f.exporter_id, ms, this.#lastKey));
  }

  /**
   * Telemetry without flows (a heartbeat on `flows`: an sFlow agent's counter samples, a template
   * refresh) received up to `ms`: the exporter and its supplier are alive, as with a flow.
   */
  onTelemetry(supplier: string, exporter: string, ms: number): void {
    if (ms <= 0 || supplier === '' || exporter === '') return;
    this.#see('supplier', supplier, '', ms, supplier);
    this.#see('exporter', supplier, exporter, ms, this.#exporterKeys.key(supplier, exporter));
  }

  #lastSupplier = '';
  #lastExporter = '';
  #lastKey = '';
  /** The current run's supplier and exporter sources. */
  readonly #runSupplier: HeldEntity<Source>;
  readonly #runExporter: HeldEntity<Source>;
  readonly #exporterKeys = new KeyCache('/');

  /** An arrival of source `key` at `ms` (created when new): the source. */
  #see(kind: 'supplier' | 'exporter', supplier: string, exporter: string, ms: number, key: string): Source {
    let s = this.#sources.get(key);
    if (s === undefined) {
      const id = kind === 'supplier' ? supplier : key;
      s = {
        touched: false,
        kind,
        supplier,
        exporter,
        lastMs: ms,
        gapMs: 0,
        arrivals: 1,
        activeMinutes: 1,
        gapMax: new Array(BUCKETS).fill(0),
        gapBucket: new Array(BUCKETS).fill(-1),
        silent: false,
        scale: this.ctx.overrides.scaleFor('telemetry_silence', kind, id, [], [supplier]),
      };
      this.#sources.set(key, s);
      return s;
    }
    this.#arrive(s, ms);
    return s;
  }

  #arrive(s: Source, ms: number): void {
    if (ms <= s.lastMs) return;
    const gap = ms - s.lastMs;
    if (gap <= MAX_LEARNT_GAP_MS) s.gapMs = s.arrivals === 1 ? gap : s.gapMs + GAP_ALPHA * (gap - s.gapMs);
    // A gap shorter than the silence limit is the cadence, however long (a sparse exporter's
    // 14 minutes at night); a longer one was an outage and teaches nothing, once the source is
    // judged (before, any gap within the memory's hour is its cadence). The limit is only worked
    // out for a gap that would raise its bucket's longest (rarely, not for every flow).
    const bucket = Math.floor(ms / BUCKET_MS);
    const i = bucket % BUCKETS;
    const held = s.gapBucket[i] === bucket ? s.gapMax[i]! : 0;
    if (gap > held && (this.#judged(s) ? gap < this.#limit(s, ms) : gap <= MEMORY_MS)) {
      s.gapBucket[i] = bucket;
      s.gapMax[i] = gap;
    }
    if (Math.floor(ms / MINUTE_MS) !== Math.floor(s.lastMs / MINUTE_MS)) s.activeMinutes++;
    s.lastMs = ms;
    s.arrivals++;
    s.silent = false;
  }

  /** Whether any supplier is silent now (aggregates across suppliers are then partly unseen). */
  anySupplierSilent(): boolean {
    for (const s of this.#sources.values()) if (s.kind === 'supplier' && s.silent) return true;
    return false;
  }

  isSilent(kind: 'supplier' | 'exporter', id: string): boolean {
    return this.#sources.peek(id)?.silent === true && this.#sources.peek(id)?.kind === kind;
  }

  /** Checks every source against reception time `nowMs`. */
  check(nowMs: number): void {
    const silentSuppliers = new Set<string>();
    const silentExporters = new Map<string, string[]>();
    for (const s of this.#sources.values()) {
      const limit = this.#limit(s, nowMs) * s.scale;
      s.silent = s.scale > 0 && this.#judged(s) && nowMs - s.lastMs >= limit;
      if (!s.silent) continue;
      if (s.kind === 'supplier') silentSuppliers.add(s.supplier);
      else {
        const list = silentExporters.get(s.supplier);
        if (list === undefined) silentExporters.set(s.supplier, [s.exporter]);
        else list.push(s.exporter);
      }
    }
    const d = this.ctx.directory;
    for (const s of this.#sources.values()) {
      if (!s.silent) continue;
      if (s.kind === 'exporter' && silentSuppliers.has(s.supplier)) continue;
      const silentFor = nowMs - s.lastMs;
      const usual = Math.max(1000, s.gapMs);
      const exporters = s.kind === 'supplier' ? (silentExporters.get(s.supplier) ?? []) : [s.exporter];
      const supplierName = d.supplierName(s.supplier);
      const id = s.kind === 'supplier' ? s.supplier : `${s.supplier}/${s.exporter}`;
      this.ctx.sink.raise({
        type: 'telemetry_silence',
        entity: { kind: s.kind, id, name: s.kind === 'supplier' ? supplierName : `${s.exporter} (${supplierName})` },
        supplierIds: [s.supplier],
        atMs: nowMs,
        observed: silentFor / 1000,
        expected: usual / 1000,
        score: silentFor / this.#limit(s, nowMs),
        severity: s.kind === 'supplier' ? 'high' : 'medium',
        summary:
          s.kind === 'supplier'
            ? `${supplierName} (${s.supplier}) has sent no flows for ${formatDuration(Math.round(silentFor / 1000) * 1000)} (${exporters.length} exporters silent)`
            : `Exporter ${s.exporter} of ${supplierName} (${s.supplier}) has sent no flows for ${formatDuration(Math.round(silentFor / 1000) * 1000)} (usually every ${formatDuration(Math.round(usual / 1000) * 1000)})`,
        details: { unit: 'seconds', last_flow_at: new Date(s.lastMs).toISOString(), silent_exporters: exporters.join(',') },
        receivedNs: 0,
      });
    }
  }

  /** Whether the source has the history to be reported silent: arrivals, and minutes with them. */
  #judged(s: Source): boolean {
    const c = this.ctx.config.silence;
    return s.arrivals >= c.minHistory && s.activeMinutes >= c.minActiveMinutes;
  }

  /** The longest gap remembered at reception time `nowMs` (the last hour's buckets). */
  #recentMax(s: Source, nowMs: number): number {
    const current = Math.floor(nowMs / BUCKET_MS);
    let max = 0;
    for (let i = 0; i < BUCKETS; i++) if (current - s.gapBucket[i]! < BUCKETS && s.gapMax[i]! > max) max = s.gapMax[i]!;
    return max;
  }

  #limit(s: Source, nowMs: number): number {
    const c = this.ctx.config.silence;
    return Math.max(c.minSilenceMs, c.multiplier * s.gapMs, c.recentGapMultiplier * this.#recentMax(s, nowMs));
  }

  snapshot(): Omit<Source, 'touched'>[] {
    return [...this.#sources.values()].map(({ touched: _, ...rest }) => rest);
  }

  restore(items: readonly SavedSource[]): void {
    for (const { recent, next: _next, recentMaxMs: _max, ...s } of items) {
      const key = s.kind === 'supplier' ? s.supplier : `${s.supplier}/${s.exporter}`;
      let gapMax = Array.isArray(s.gapMax) && s.gapMax.length === BUCKETS ? s.gapMax : undefined;
      let gapBucket = Array.isArray(s.gapBucket) && s.gapBucket.length === BUCKETS ? s.gapBucket : undefined;
      if (gapMax === undefined || gapBucket === undefined) {
        // Checkpoints from before the cadence was kept by time: their last 64 gaps (if any) become
        // the bucket of their last arrival; older ones restore with none (the EWMA alone).
        gapMax = new Array(BUCKETS).fill(0);
        gapBucket = new Array(BUCKETS).fill(-1);
        if (Array.isArray(recent) && recent.length > 0) {
          const bucket = Math.floor(s.lastMs / BUCKET_MS);
          gapBucket[bucket % BUCKETS] = bucket;
          gapMax[bucket % BUCKETS] = Math.max(...recent);
        }
      }
      // Checkpoints from before minutes were counted: a source judged then stays judged.
      const activeMinutes = typeof s.activeMinutes === 'number' ? s.activeMinutes : s.arrivals;
      this.#sources.set(key, { ...s, activeMinutes, gapMax, gapBucket, touched: false });
    }
  }
}
