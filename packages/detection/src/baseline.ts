/**
 * A robust seasonal baseline of one entity's volumes per interval (bytes, packets, flows...), for
 * M metrics observed together. Values are modelled on a log scale, y = ln(1 + x), where traffic's
 * multiplicative noise becomes additive and a spike is a distance rather than a ratio.
 *
 * - Seasonal profile: per hour of the week (168 slots, UTC), the mean of y in that hour: a running
 *   mean for the first visits of the slot, then an EWMA that forgets over about three weeks.
 * - Recent level: an EWMA of how far y is from the profile (`offset`): a bank holiday, growth,
 *   a ramp within the hour. Before a slot has been seen, the expectation is a plain EWMA of y.
 * - Spread: the median absolute deviation of the last 32 residuals (scaled by 1.4826 to a
 *   standard deviation), floored by the Poisson noise of the expected count and by 0.05.
 * - Anomalies barely teach the baseline: beyond 4 spreads the value is clamped, learnt at a tenth
 *   of the rate and kept out of the spread, so a long incident keeps alerting while a lasting
 *   shift is still learnt (in about 100 intervals).
 *
 * State is a few typed arrays (2.6 KB for M = 3) and serialises to JSON for checkpoints.
 */
export const SLOTS = 168;
const RING = 32;
const LEVEL_ALPHA = 0.1;
const EWMA_ALPHA = 0.1;
/** The profile becomes an EWMA after this many visits of its slot (about three weeks of minutes). */
const PROFILE_MAX_VISITS = 180;
const CLAMP_SPREADS = 4;
const MIN_SPREAD = 0.05;
/**
 * How fast the norm a drop is judged against may rise, per interval (log scale): a doubling in 30
 * intervals. The day's own rise (the morning ramp) is slower where it matters; a norm that rose
 * faster was taught by an incident that crept up within the clamp (a worm's new hosts before
 * they are known), and falling back from it is not a drop.
 */
const DROP_NORM_RISE = Math.LN2 / 30;
/** Visits after which a slot's profile bounds drops alone (the drop norm follows it at once). */
const ESTABLISHED_VISITS = 60;
/** Learning rate of anomalous intervals, relative to normal ones. */
const ANOMALY_RATE = 0.1;

export interface Expectation {
  /** Expected value, linear scale. */
  expected: number;
  /** Robust z-score of the observed value on the log scale. */
  z: number;
  /** The spread it was scored with (log scale). */
  spread: number;
}

export interface BaselineSnapshot {
  m: number;
  history: number;
  ringFill: number;
  ringPos: number;
  profile: string;
  visits: string;
  ring: string;
  scalars: number[];
  /** Per metric: the rate-limited drop norm (absent in older checkpoints). */
  dropNorm?: (number | null)[];
}

export class SeasonalBaseline {
  readonly metrics: number;
  /** [metric * SLOTS + slot]: mean of y; NaN before the slot's first visit. */
  readonly #profile: Float32Array;
  /** Visits per slot, saturating at 255 (shared by the metrics: they are observed together). */
  readonly #visits: Uint8Array;
  /** [metric * RING + i]: recent residuals. */
  readonly #ring: Float32Array;
  /** Per metric: [ewma of y, offset from the profile]. */
  readonly #scalars: Float64Array;
  /** Per metric: the norm of drops, rising at most DROP_NORM_RISE per interval (NaN until the first scored interval). */
  readonly #dropNorm: Float64Array;
  #ringPos = 0;
  #ringFill = 0;
  /** Intervals observed. */
  history = 0;

  constructor(metrics: number) {
    this.metrics = metrics;
    this.#profile = new Float32Array(metrics * SLOTS).fill(Number.NaN);
    this.#visits = new Uint8Array(SLOTS);
    this.#ring = new Float32Array(metrics * RING);
    this.#scalars = new Float64Array(metrics * 2).fill(Number.NaN);
    this.#dropNorm = new Float64Array(metrics).fill(Number.NaN);
  }

  /** Intervals of residuals held: the spread is meaningful from RING / 2 on. */
  get residuals(): number {
    return this.#ringFill;
  }

  /** Expected y (log scale) of `metric` in `slot`; NaN before any observation. */
  expectedLog(metric: number, slot: number): number {
    const p = this.#profile[metric * SLOTS + slot]!;
    if (!Number.isNaN(p)) {
      const offset = this.#scalars[metric * 2 + 1]!;
      return p + (Number.isNaN(offset) ? 0 : offset);
    }
    return this.#scalars[metric * 2]!;
  }

  /**
   * What a drop is judged against: the lowest of the expectation, the seasonal profile alone and
   * the drop norm (that lower one as it was, rising at most DROP_NORM_RISE per interval since,
   * except to the profile of a slot with ESTABLISHED_VISITS).
   * A recent level raised by a surge (learnt at the full rate where the entity's spread is wide)
   * is not a norm to fall from when the surge ends, nor is a profile a worm's ramp taught within
   * the clamp, one interval at a time; a real fall is under all three.
   */
  dropExpectedLog(metric: number, slot: number): number {
    const low = this.#lowerWithProfile(metric, slot, this.expectedLog(metric, slot));
    const norm = this.#dropNorm[metric]!;
    return Number.isNaN(norm) || Number.isNaN(low) ? low : Math.min(low, norm);
  }

  /** The lower of `expected` (log scale) and the slot's profile alone. */
  #lowerWithProfile(metric: number, slot: number, expected: number): number {
    const p = this.#profile[metric * SLOTS + slot]!;
    return Number.isNaN(p) || Number.isNaN(expected) ? expected : Math.min(p, expected);
  }

  /**
   * Robust spread of `metric` (log scale) around an expectation of `expectedLog`, at least
   * `floor` (the caller's count noise: 1 / sqrt(expected flows) for sums over flows).
   */
  spread(metric: number, expectedLog: number, floor = 0): number {
    const n = this.#ringFill;
    let mad = 0;
    if (n > 0) {
      const values = SCRATCH.subarray(0, n);
      const base = metric * RING;
      for (let i = 0; i < n; i++) values[i] = this.#ring[base + i]!;
      values.sort();
      const med = median(values);
      for (let i = 0; i < n; i++) values[i] = Math.abs(values[i]! - med);
      values.sort();
      mad = 1.4826 * median(values);
    }
    // Poisson noise of a count c on the log scale is about 1 / sqrt(c).
    const poisson = 1 / Math.sqrt(1 + Math.max(0, Math.expm1(expectedLog)));
    return Math.max(mad, poisson, floor, MIN_SPREAD);
  }

  /** The expectation for `metric` in `slot` (for a drop: `dropExpectedLog`), and how far `observed` is from it. */
  score(metric: number, slot: number, observed: number, floor = 0, forDrop = false): Expectation {
    const yHat = forDrop ? this.dropExpectedLog(metric, slot) : this.expectedLog(metric, slot);
    if (Number.isNaN(yHat)) return { expected: Number.NaN, z: 0, spread: Number.NaN };
    const y = Math.log1p(observed);
    const spread = this.spread(metric, yHat, floor);
    return { expected: Math.expm1(yHat), z: (y - yHat) / spread, spread };
  }

  /**
   * Learns one interval: `values[metric]` observed in hour-of-week `slot`. Call once per interval,
   * after scoring it.
   */
  observe(slot: number, values: ArrayLike<number>): void {
    const pos = this.#ringPos;
    let wrote = false;
    for (let m = 0; m < this.metrics; m++) {
      const yHat = this.expectedLog(m, slot);
      const low = this.#lowerWithProfile(m, slot, yHat);
      if (!Number.isNaN(low)) {
        // An established hour's profile (an hour of visits: a week of history, or of rollups) is
        // knowledge, not something an incident of the last minutes taught: up to it at once.
        const norm = this.#dropNorm[m]!;
        this.#dropNorm[m] = Number.isNaN(norm) || this.#visits[slot]! >= ESTABLISHED_VISITS ? low : Math.min(low, norm + DROP_NORM_RISE);
      }
      const y = Math.log1p(Math.max(0, values[m]!));
      let learnt = y;
      let rate = 1;
      if (!Number.isNaN(yHat)) {
        const residual = y - yHat;
        const limit = this.#ringFill >= RING / 2 ? CLAMP_SPREADS * this.spread(m, yHat) : Number.POSITIVE_INFINITY;
        if (Math.abs(residual) > limit) {
          // An anomaly: it neither widens the spread nor moves the level at the normal rate, so a
          // long incident keeps alerting; a lasting shift is still learnt in about 100 intervals.
          learnt = yHat + Math.sign(residual) * limit;
          rate = ANOMALY_RATE;
          // Its slot of the ring keeps the normal residual it holds (from RING intervals ago). A
          // copy of the latest residual instead, repeated through a flood of six intervals, put
          // six equal values among 32 and halved the spread (0.39 to 0.19 for an exporter): its
          // ordinary quiet minutes after the flood read as drops.
          if (this.#ringFill < RING) this.#ring[m * RING + pos] = this.#ring[m * RING + ((pos + RING - 1) % RING)]!;
        } else {
          this.#ring[m * RING + pos] = residual;
        }
        wrote = true;
      }
      this.#learn(m, slot, learnt, rate);
    }
    if (wrote) {
      this.#ringPos = (pos + 1) % RING;
      this.#ringFill = Math.min(RING, this.#ringFill + 1);
    }
    if (this.#visits[slot]! < 255) this.#visits[slot]!++;
    this.history++;
  }

  /**
   * Warm start from an hourly rollup: `perInterval[metric]` is the hour's total divided by the
   * intervals in an hour. Teaches the seasonal profile of `slot` only (no residuals: the spread
   * needs live or minute data), counting `intervals` towards the history.
   */
  warmProfile(slot: number, perInterval: ArrayLike<number>, intervals: number): void {
    const visits = Math.min(255, this.#visits[slot]! + intervals);
    for (let m = 0; m < this.metrics; m++) {
      const y = Math.log1p(Math.max(0, perInterval[m]!));
      const i = m * SLOTS + slot;
      const p = this.#profile[i]!;
      this.#profile[i] = Number.isNaN(p) ? y : p + (y - p) * Math.max(intervals / visits, 1 / PROFILE_MAX_VISITS);
      const e = this.#scalars[m * 2]!;
      this.#scalars[m * 2] = Number.isNaN(e) ? y : e + EWMA_ALPHA * (y - e);
    }
    this.#visits[slot] = visits;
    this.history += intervals;
  }

  #learn(m: number, slot: number, y: number, rate: number): void {
    const s = m * 2;
    const e = this.#scalars[s]!;
    this.#scalars[s] = Number.isNaN(e) ? y : e + rate * EWMA_ALPHA * (y - e);
    const i = m * SLOTS + slot;
    const p = this.#profile[i]!;
    if (Number.isNaN(p)) {
      // An anomalous interval never founds a slot's profile: the slot starts from the recent level.
      // (A flood in the first minute of an hour not seen before made that hour's profile the
      // flood's, clamped: 85 flows a minute for an exporter of 15, and false drops after it.)
      this.#profile[i] = rate < 1 && !Number.isNaN(e) ? e : y;
      return;
    }
    const visits = this.#visits[slot]! + 1;
    const offset = this.#scalars[s + 1]!;
    this.#scalars[s + 1] = Number.isNaN(offset) ? y - p : offset + rate * LEVEL_ALPHA * (y - p - offset);
    this.#profile[i] = p + (rate * (y - p)) / Math.min(visits, PROFILE_MAX_VISITS);
  }

  /** Approximate bytes of state (typed arrays plus object overhead). */
  get approximateBytes(): number {
    return (
      this.#profile.byteLength +
      this.#visits.byteLength +
      this.#ring.byteLength +
      this.#scalars.byteLength +
      this.#dropNorm.byteLength +
      5 * 64
    );
  }

  toJSON(): BaselineSnapshot {
    return {
      m: this.metrics,
      history: this.history,
      ringFill: this.#ringFill,
      ringPos: this.#ringPos,
      profile: b64(this.#profile),
      visits: b64(this.#visits),
      ring: b64(this.#ring),
      scalars: Array.from(this.#scalars, (v) => (Number.isNaN(v) ? null : v)) as number[],
      dropNorm: Array.from(this.#dropNorm, (v) => (Number.isNaN(v) ? null : v)),
    };
  }

  static fromJSON(s: BaselineSnapshot): SeasonalBaseline {
    const b = new SeasonalBaseline(s.m);
    fromB64(s.profile, b.#profile);
    fromB64(s.visits, b.#visits);
    fromB64(s.ring, b.#ring);
    s.scalars.forEach((v, i) => {
      b.#scalars[i] = v === null ? Number.NaN : v;
    });
    s.dropNorm?.forEach((v, i) => {
      if (i < b.metrics) b.#dropNorm[i] = v === null ? Number.NaN : v;
    });
    b.history = s.history;
    b.#ringFill = s.ringFill;
    b.#ringPos = s.ringPos;
    return b;
  }
}

const SCRATCH = new Float32Array(RING);

function median(sorted: Float32Array): number {
  const n = sorted.length;
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function b64(a: ArrayBufferView): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

function fromB64(s: string, into: Float32Array | Uint8Array): void {
  const bytes = Buffer.from(s, 'base64');
  new Uint8Array(into.buffer, into.byteOffset, into.byteLength).set(bytes.subarray(0, into.byteLength));
}

/** Hour of the week (0 = Monday 00:00 UTC .. 167) of a time in milliseconds. */
export function hourOfWeek(ms: number): number {
  const hours = Math.floor(ms / 3_600_000);
  // 1970-01-01 was a Thursday: hour 0 of the epoch is hour 72 of its week.
  return (((hours + 72) % SLOTS) + SLOTS) % SLOTS;
}

/** A LevelBaseline's state in a checkpoint (LevelBaseline.toJSON). */
export interface LevelSnapshot {
  mean: number | null;
  deviation: number;
  history: number;
}

/**
 * A light baseline for entities too many for a seasonal profile (hosts, destinations): an EWMA
 * of the log value and an EWMA of the absolute deviation (robustified by clamping what it learns),
 * in 4 numbers.
 */
export class LevelBaseline {
  mean = Number.NaN;
  deviation = 0;
  history = 0;

  constructor(private readonly alpha = 0.05) {}

  /** Expected linear value; NaN before any observation. */
  get expected(): number {
    return Number.isNaN(this.mean) ? Number.NaN : Math.expm1(this.mean);
  }

  /** Robust z-score of `observed`, with a spread of at least `floor` (the caller's count noise). */
  z(observed: number, floor = 0): number {
    if (Number.isNaN(this.mean)) return 0;
    const spread = Math.max(1.25 * this.deviation, 1 / Math.sqrt(1 + Math.expm1(this.mean)), floor, MIN_SPREAD);
    return (Math.log1p(observed) - this.mean) / spread;
  }

  /** Its state for a checkpoint (mean null before any observation). */
  toJSON(): LevelSnapshot {
    return { mean: Number.isNaN(this.mean) ? null : this.mean, deviation: this.deviation, history: this.history };
  }

  /** Restores what toJSON saved; a malformed value leaves it unlearnt. */
  restore(s: LevelSnapshot): this {
    if (typeof s?.deviation !== 'number' || typeof s.history !== 'number') return this;
    this.mean = typeof s.mean === 'number' ? s.mean : Number.NaN;
    this.deviation = s.deviation;
    this.history = s.history;
    return this;
  }

  observe(value: number): void {
    const y = Math.log1p(Math.max(0, value));
    if (Number.isNaN(this.mean)) {
      this.mean = y;
    } else {
      let r = y - this.mean;
      if (this.history >= 8) {
        const limit = CLAMP_SPREADS * Math.max(1.25 * this.deviation, MIN_SPREAD);
        r = Math.max(-limit, Math.min(limit, r));
      }
      this.mean += this.alpha * r;
      this.deviation += this.alpha * (Math.abs(r) - this.deviation);
    }
    this.history++;
  }
}
