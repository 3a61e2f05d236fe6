/**
 * Event time for the windowed detectors. The watermark is the latest event time seen minus the
 * allowed lateness; an interval [s, s + I) closes once the watermark passes s + I. A flow whose
 * interval has already closed is *late*: it is counted and folded into the oldest interval still
 * open, so volumes are never lost, only shifted by at most the lateness (docs/detection.md).
 */
export class EventClock {
  /** Latest event time seen, ms (-Infinity before the first flow). */
  maxEventMs = Number.NEGATIVE_INFINITY;
  /** Start of the oldest open interval, ms (NaN before the first flow). */
  oldestOpenMs = Number.NaN;
  /** Flows folded into a later interval than their own. */
  lateFlows = 0;
  /** Intervals skipped without being closed one by one, after a gap longer than `maxCatchUp` intervals. */
  skippedIntervals = 0;

  constructor(
    readonly intervalMs: number,
    readonly latenessMs: number,
    private readonly maxCatchUp = 1440,
  ) {}

  get watermarkMs(): number {
    return this.maxEventMs - this.latenessMs;
  }

  /** Number of interval slots an entity needs for the intervals that can be open at once. */
  get slots(): number {
    return Math.ceil(this.latenessMs / this.intervalMs) + 2;
  }

  /** The start of the interval a flow with event time `t` counts in. */
  assign(t: number): number {
    const start = t - (((t % this.intervalMs) + this.intervalMs) % this.intervalMs);
    if (Number.isNaN(this.oldestOpenMs)) {
      this.oldestOpenMs = start;
      return start;
    }
    if (start < this.oldestOpenMs) {
      this.lateFlows++;
      return this.oldestOpenMs;
    }
    return start;
  }

  /**
   * Moves event time forward to `t` and calls `close(start)` for every interval the watermark has
   * passed, oldest first. Returns whether any closed.
   */
  advance(t: number, close: (startMs: number) => void): boolean {
    if (t > this.maxEventMs) this.maxEventMs = t;
    if (Number.isNaN(this.oldestOpenMs)) return false;
    const watermark = this.watermarkMs;
    let closed = false;
    if ((watermark - this.oldestOpenMs) / this.intervalMs > this.maxCatchUp) {
      // A long gap (a restart after days, a clock jump): close one interval with what it holds and
      // jump, rather than evaluate thousands of empty intervals.
      close(this.oldestOpenMs);
      const target = watermark - this.intervalMs - (((watermark % this.intervalMs) + this.intervalMs) % this.intervalMs);
      this.skippedIntervals += Math.max(0, Math.round((target - this.oldestOpenMs) / this.intervalMs) - 1);
      this.oldestOpenMs = target;
      closed = true;
    }
    while (this.oldestOpenMs + this.intervalMs <= watermark) {
      close(this.oldestOpenMs);
      this.oldestOpenMs += this.intervalMs;
      closed = true;
    }
    return closed;
  }
}

/**
 * Per-entity sums of M metrics for the intervals that can be open at once: a small ring indexed by
 * interval number, each slot tagged with its interval start so a stale slot reads as zero.
 */
export class IntervalSums {
  readonly #sums: Float64Array;
  readonly #starts: Float64Array;

  constructor(
    readonly metrics: number,
    readonly slots: number,
    private readonly intervalMs: number,
  ) {
    this.#sums = new Float64Array(metrics * slots);
    this.#starts = new Float64Array(slots).fill(Number.NaN);
  }

  add(start: number, metric: number, value: number): void {
    const slot = Math.floor(start / this.intervalMs) % this.slots;
    if (this.#starts[slot] !== start) {
      this.#starts[slot] = start;
      this.#sums.fill(0, slot * this.metrics, (slot + 1) * this.metrics);
    }
    this.#sums[slot * this.metrics + metric]! += value;
  }

  /** Adds three values at once (bytes, packets, flows): the volume hot path. */
  add3(start: number, a: number, b: number, c: number): void {
    const slot = Math.floor(start / this.intervalMs) % this.slots;
    const base = slot * this.metrics;
    if (this.#starts[slot] !== start) {
      this.#starts[slot] = start;
      this.#sums.fill(0, base, base + this.metrics);
    }
    this.#sums[base]! += a;
    this.#sums[base + 1]! += b;
    this.#sums[base + 2]! += c;
  }

  /**
   * Volume with the largest single contributions: sums (bytes, packets, flows) into metrics 0-2,
   * keeps the largest single bytes and packets of the interval's flows that are not an ongoing
   * incident's in metrics 3 and 4 (the second and third largest in 8-9 and 10-11) and, for a flow
   * of an ongoing incident (`explained`), sums it into metrics 5-7 instead (needs 12 metrics).
   */
  add3max(start: number, a: number, b: number, c: number, explained = false): void {
    const slot = Math.floor(start / this.intervalMs) % this.slots;
    const base = slot * this.metrics;
    if (this.#starts[slot] !== start) {
      this.#starts[slot] = start;
      this.#sums.fill(0, base, base + this.metrics);
    }
    const s = this.#sums;
    s[base]! += a;
    s[base + 1]! += b;
    s[base + 2]! += c;
    if (explained) {
      s[base + 5]! += a;
      s[base + 6]! += b;
      s[base + 7]! += c;
      return;
    }
    if (a > s[base + 9]!) keepTop3(s, a, base + 3, base + 8, base + 9);
    if (b > s[base + 11]!) keepTop3(s, b, base + 4, base + 10, base + 11);
  }

  /** Copies the sums of interval `start` into `out` (zeros when nothing was added) and clears them. */
  take(start: number, out: Float64Array): Float64Array {
    const slot = Math.floor(start / this.intervalMs) % this.slots;
    if (this.#starts[slot] !== start) {
      out.fill(0, 0, this.metrics);
      return out;
    }
    for (let m = 0; m < this.metrics; m++) out[m] = this.#sums[slot * this.metrics + m]!;
    this.#starts[slot] = Number.NaN;
    return out;
  }

  get approximateBytes(): number {
    return this.#sums.byteLength + this.#starts.byteLength + 2 * 64;
  }
}

/** Puts `x` (larger than the third) among the three largest held at indices first >= second >= third of `s`. */
function keepTop3(s: Float64Array, x: number, first: number, second: number, third: number): void {
  if (x > s[first]!) {
    s[third] = s[second]!;
    s[second] = s[first]!;
    s[first] = x;
  } else if (x > s[second]!) {
    s[third] = s[second]!;
    s[second] = x;
  } else s[third] = x;
}
