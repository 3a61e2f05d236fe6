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
   * into metrics 5-7 instead (needs 18 metrics). `conversation` is a non-zero hash of the record's
   * conversation (0: the record on its own) and `totalA`, `totalB` that conversation's bytes and
   * packets in the interval so far, this record included (IntervalConversations): an sFlow agent
   * reports one transfer as one record per sampled packet, a NetFlow exporter a long one as a
   * record per active timeout. With running totals the three held are exactly the three largest
   * conversations (a conversation's total only grows, so one of the three largest is held at its
   * last record). Without them (NaN), a conversation's records add up from when it is held.
   */
  add3max(
    start: number,
    a: number,
    b: number,
    c: number,
    explained = false,
    conversation = 0,
    totalA = Number.NaN,
    totalB = Number.NaN,
  ): void {
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
    keepTop3(s, a, totalA, conversation, base + 3, base + 8, base + 9, base + 12);
    keepTop3(s, b, totalB, conversation, base + 4, base + 10, base + 11, base + 15);
  }

  /**
   * Moves bytes, packets and flows already summed in interval `start` (add3max) into the part of an
   * ongoing incident (metrics 5-7), never past the sums themselves; nothing when the interval is
   * no longer open.
   */
  explain3(start: number, a: number, b: number, c: number): void {
    const slot = Math.floor(start / this.intervalMs) % this.slots;
    if (this.#starts[slot] !== start) return;
    const s = this.#sums;
    const base = slot * this.metrics;
    s[base + 5] = Math.min(s[base]!, s[base + 5]! + a);
    s[base + 6] = Math.min(s[base + 1]!, s[base + 6]! + b);
    s[base + 7] = Math.min(s[base + 2]!, s[base + 7]! + c);
  }

  /** Copies the sums of interval `start` so far into `out` (zeros when nothing was added), keeping them. */
  peek(start: number, out: Float64Array): Float64Array {
    const slot = Math.floor(start / this.intervalMs) % this.slots;
    if (this.#starts[slot] !== start) {
      out.fill(0, 0, this.metrics);
      return out;
    }
    for (let m = 0; m < this.metrics; m++) out[m] = this.#sums[slot * this.metrics + m]!;
    return out;
  }

  /** Copies the sums of interval `start` into `out` (zeros when nothing was added) and clears them. */
  take(start: number, out: Float64Array): Float64Array {
    this.peek(start, out);
    const slot = Math.floor(start / this.intervalMs) % this.slots;
    if (this.#starts[slot] === start) this.#starts[slot] = Number.NaN;
    return out;
  }

  get approximateBytes(): number {
    return this.#sums.byteLength + this.#starts.byteLength + 2 * 64;
  }
}

/**
 * One sum per open interval (IntervalSums with a single metric), in one plain array of
 * [start, sum] pairs: a few hundred thousand hosts each keep one (exfiltration), where
 * IntervalSums' two typed arrays took about 520 heap bytes a host and this about 100.
 */
export class IntervalTotals {
  /** [start, sum] per slot; a slot whose start is not the interval asked for reads as zero. */
  readonly #v: number[];

  constructor(
    readonly slots: number,
    private readonly intervalMs: number,
  ) {
    const v = new Array<number>(2 * slots);
    for (let i = 0; i < slots; i++) {
      v[2 * i] = Number.NaN;
      v[2 * i + 1] = 0;
    }
    this.#v = v;
  }

  add(start: number, value: number): void {
    const i = 2 * (Math.floor(start / this.intervalMs) % this.slots);
    const v = this.#v;
    if (v[i] !== start) {
      v[i] = start;
      v[i + 1] = 0;
    }
    v[i + 1]! += value;
  }

  /** The sum of interval `start` (0 when nothing was added), cleared. */
  take(start: number): number {
    const i = 2 * (Math.floor(start / this.intervalMs) % this.slots);
    const v = this.#v;
    if (v[i] !== start) return 0;
    v[i] = Number.NaN;
    return v[i + 1]!;
  }

  get approximateBytes(): number {
    return 48 + 16 * this.slots;
  }
}

/**
 * Keeps the three largest conversations at value indices first >= second >= third of `s`, their
 * conversations at ids, ids + 1, ids + 2: conversation `id` now totals `total` (NaN: unknown, its
 * held value plus `x`, or `x` when not held; id 0: the record `x` on its own). A held entry takes
 * the new total, else the conversation replaces the third when larger; then it moves up past
 * smaller ones.
 */
function keepTop3(s: Float64Array, x: number, total: number, id: number, first: number, second: number, third: number, ids: number): void {
  let at = -1;
  if (id !== 0) at = s[ids] === id ? first : s[ids + 1] === id ? second : s[ids + 2] === id ? third : -1;
  const v = !Number.isNaN(total) ? total : at >= 0 ? s[at]! + x : x;
  if (at < 0) {
    if (v <= s[third]!) return;
    at = third;
    s[ids + 2] = id;
  }
  s[at] = v;
  // Move up: third past second, second past first.
  if (at === third && v > s[second]!) {
    s[third] = s[second]!;
    s[ids + 2] = s[ids + 1]!;
    at = second;
    s[second] = v;
    s[ids + 1] = id;
  }
  if (at === second && v > s[first]!) {
    s[second] = s[first]!;
    s[ids + 1] = s[ids]!;
    s[first] = v;
    s[ids] = id;
  }
}
