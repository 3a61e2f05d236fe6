/**
 * Event time for the windowed detectors. The watermark is the latest event time seen minus the
 * allowed lateness; an interval [s, s + I) closes once the watermark passes s + I. A flow whose
 * interval has already closed is *late*: it is counted and folded into the oldest interval still
 * open, so volumes are never lost, only shifted by at most the lateness (docs/detection.md).
 *
 * `holdMs` (set by the service from its inputs' progress) keeps the watermark from passing what
 * the slowest input has delivered, for at most `maxHoldMs` behind the latest event time: a
 * partition read behind the others does not see its flows declared late.
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
  /** Event time the slowest input has reached (Infinity: no input holds the watermark back). */
  holdMs = Number.POSITIVE_INFINITY;

  constructor(
    readonly intervalMs: number,
    readonly latenessMs: number,
    private readonly maxCatchUp = 1440,
    readonly maxHoldMs = 0,
  ) {}

  get watermarkMs(): number {
    const max = this.maxEventMs;
    const held = this.holdMs < max ? Math.max(this.holdMs, max - this.maxHoldMs) : max;
    return held - this.latenessMs;
  }

  /** Number of interval slots an entity needs for the intervals that can be open at once. */
  get slots(): number {
    return Math.ceil((this.latenessMs + this.maxHoldMs) / this.intervalMs) + 2;
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
   * keeps the largest bytes and packets of the interval's *conversations* that are not an ongoing
   * incident's in metrics 3 and 4 (the second and third largest in 8-9 and 10-11, their
   * conversations in 12-14 and 15-17) and, for a flow of an ongoing incident (`explained`), sums it
   * into metrics 5-7 instead (needs 18 metrics). Records of one conversation (`conversation`, a
   * non-zero hash of its 5-tuple; 0: each record its own) add up while it is among the three: an
   * sFlow agent reports one transfer as one record per sampled packet, a NetFlow exporter a long
   * one as a record per active timeout. A conversation that enters late is counted from there on
   * (never more than it sent).
   */
  add3max(start: number, a: number, b: number, c: number, explained = false, conversation = 0): void {
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
    keepTop3(s, a, conversation, base + 3, base + 8, base + 9, base + 12);
    keepTop3(s, b, conversation, base + 4, base + 10, base + 11, base + 15);
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

/**
 * Adds `x` of conversation `id` to the three largest held at value indices first >= second >=
 * third of `s`, their conversations at ids, ids + 1, ids + 2: to its own entry when it holds one,
 * else as a new entry when larger than the third.
 */
function keepTop3(s: Float64Array, x: number, id: number, first: number, second: number, third: number, ids: number): void {
  let v = x;
  if (id !== 0 && s[ids] === id) {
    s[first]! += x;
    return;
  }
  if (id !== 0 && s[ids + 1] === id) v = s[second]! + x;
  else if (id !== 0 && s[ids + 2] === id) {
    v = s[third]! + x;
    // Its own entry is the third: take it out, then place the sum as a newcomer.
    s[third] = 0;
    s[ids + 2] = 0;
  } else if (x <= s[third]!) return;
  else {
    // A newcomer: the third falls out.
    s[third] = 0;
    s[ids + 2] = 0;
  }
  if (s[ids + 1] === id && id !== 0) {
    // Its own entry is the second: it stays second or moves up.
    if (v > s[first]!) {
      s[second] = s[first]!;
      s[ids + 1] = s[ids]!;
      s[first] = v;
      s[ids] = id;
    } else s[second] = v;
    return;
  }
  // A free third place: insert v among the three.
  if (v > s[first]!) {
    s[third] = s[second]!;
    s[ids + 2] = s[ids + 1]!;
    s[second] = s[first]!;
    s[ids + 1] = s[ids]!;
    s[first] = v;
    s[ids] = id;
  } else if (v > s[second]!) {
    s[third] = s[second]!;
    s[ids + 2] = s[ids + 1]!;
    s[second] = v;
    s[ids + 1] = id;
  } else {
    s[third] = v;
    s[ids + 2] = id;
  }
}
