/**
 * A volume drop judged over several intervals. One interval of a sparse entity says little: at
 * 25 flows a minute an empty minute is rare but a minute at a quarter of the usual is not. Ten
 * minutes at 5 % of 250 expected flows is far beyond chance. The window keeps, per interval, the
 * observed and expected flows and bytes of the last `size` intervals, and finds the shortest run
 * of recent intervals (ending now) that is a drop:
 * - its expected flows add up to at least the minimum (`minExpectedFlows`), so that emptiness is
 *   not chance;
 * - observed flows and bytes are both at most `ratio` of their expectation over the run, and the
 *   latest interval alone is too (the drop is still going on);
 * - on the log scale, observed flows are at least `zThreshold` spreads under the expectation,
 *   where the spread of a run of n intervals is the single interval's robust spread / sqrt(n),
 *   but never under the Poisson noise of the run's expected count (1 / sqrt(expected)) or 0.05.
 * - the entity was continuously active before the run: the rate of empty intervals it had learnt
 *   just before the run's first interval is at most `maxEmptyRate`. Traffic that comes and goes in
 *   sessions (a pharmacy: minutes of nothing between bursts) has empty runs that no count model
 *   explains; 2 of the 8 false drops over seeds 4 to 6 of the evaluation were such.
 * Expectations are those the baseline gave each interval before learning it (a drop is learnt at
 * a tenth of the normal rate, so they barely move during one).
 *
 * State: 5 float32 per interval (200 bytes for 10 intervals).
 */
export interface WindowDrop {
  /** Intervals in the run (1 = the latest alone). */
  intervals: number;
  observedFlows: number;
  expectedFlows: number;
  observedBytes: number;
  expectedBytes: number;
  /** Robust z-score of the run's flows (negative). */
  z: number;
}

export interface DropCriteria {
  minExpectedFlows: number;
  ratio: number;
  zThreshold: number;
  /** Robust spread of one interval's flows, log scale (the baseline's). */
  spread: number;
  /** Highest rate of empty intervals (learnt before the run) at which a run is judged. */
  maxEmptyRate: number;
}

const MIN_SPREAD = 0.05;

export class DropWindow {
  /** [i * 5 + 0..4]: observed flows, expected flows, observed bytes, expected bytes, the entity's empty-interval rate before it. */
  readonly #v: Float32Array;
  #pos = 0;
  #fill = 0;

  constructor(readonly size: number) {
    this.#v = new Float32Array(size * 5);
  }

  /**
   * Records one closed interval (the latest), with the rate of empty intervals the entity had
   * learnt before it. Expectations NaN (no baseline yet) count as 0.
   */
  push(observedFlows: number, expectedFlows: number, observedBytes: number, expectedBytes: number, emptyRateBefore: number): void {
    const i = this.#pos * 5;
    this.#v[i] = observedFlows;
    this.#v[i + 1] = Number.isNaN(expectedFlows) ? 0 : Math.max(0, expectedFlows);
    this.#v[i + 2] = observedBytes;
    this.#v[i + 3] = Number.isNaN(expectedBytes) ? 0 : Math.max(0, expectedBytes);
    this.#v[i + 4] = emptyRateBefore;
    this.#pos = (this.#pos + 1) % this.size;
    this.#fill = Math.min(this.size, this.#fill + 1);
  }

  get intervals(): number {
    return this.#fill;
  }

  /** The shortest recent run that is a drop by `c`, or undefined. */
  judge(c: DropCriteria): WindowDrop | undefined {
    if (this.#fill === 0) return undefined;
    const v = this.#v;
    const latest = ((this.#pos + this.size - 1) % this.size) * 5;
    // The drop must be going on: the latest interval is low on its own.
    if (v[latest]! > c.ratio * v[latest + 1]! || v[latest + 2]! > c.ratio * v[latest + 3]!) return undefined;
    let of = 0;
    let ef = 0;
    let ob = 0;
    let eb = 0;
    for (let n = 1; n <= this.#fill; n++) {
      const i = ((this.#pos + this.size - n) % this.size) * 5;
      of += v[i]!;
      ef += v[i + 1]!;
      ob += v[i + 2]!;
      eb += v[i + 3]!;
      if (ef < c.minExpectedFlows || v[i + 4]! > c.maxEmptyRate) continue;
      if (of > c.ratio * ef || ob > c.ratio * eb) continue;
      const spread = Math.max(c.spread / Math.sqrt(n), 1 / Math.sqrt(1 + ef), MIN_SPREAD);
      const z = (Math.log1p(of) - Math.log1p(ef)) / spread;
      if (z <= -c.zThreshold) return { intervals: n, observedFlows: of, expectedFlows: ef, observedBytes: ob, expectedBytes: eb, z };
    }
    return undefined;
  }

  get approximateBytes(): number {
    return this.#v.byteLength + 64;
  }
}
