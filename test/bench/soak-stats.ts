import type { PromSample } from '../support/prometheus-text.js';

/**
 * Pure arithmetic for the soak benchmark (test/bench/soak-bench.ts): reading Prometheus text,
 * histogram quantiles and least-squares slopes. No I/O.
 */

export { type PromSample, parsePrometheusText, sumOf } from '../support/prometheus-text.js';

/** `name` summed per value of label `by` (e.g. rejected flows by reason). */
export function sumBy(samples: readonly PromSample[], name: string, by: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name) continue;
    const k = s.labels[by] ?? '';
    out[k] = (out[k] ?? 0) + s.value;
  }
  return out;
}

/** A cumulative histogram: upper bounds (ascending, the last +Inf) and cumulative counts. */
export interface CumulativeHistogram {
  le: number[];
  counts: number[];
}

/**
 * The buckets of histogram `name` (the `<name>_bucket` series), summed over the series whose labels
 * include `where` (e.g. every alert type, or one).
 */
export function histogramOf(samples: readonly PromSample[], name: string, where: Record<string, string> = {}): CumulativeHistogram {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || s.labels.le === undefined) continue;
    if (!Object.entries(where).every(([k, v]) => s.labels[k] === v)) continue;
    const le = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  const le = [...byLe.keys()].sort((a, b) => a - b);
  return { le, counts: le.map((b) => byLe.get(b) as number) };
}

/**
 * The q-quantile of a cumulative histogram, interpolated linearly inside its bucket as Prometheus'
 * histogram_quantile does (the first bucket from 0; a quantile in the +Inf bucket is the highest
 * finite bound). NaN when the histogram is empty.
 */
export function histogramQuantile(q: number, h: CumulativeHistogram): number {
  const total = h.counts[h.counts.length - 1] ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  for (let i = 0; i < h.le.length; i++) {
    const count = h.counts[i] as number;
    if (count < rank) continue;
    const upper = h.le[i] as number;
    const lower = i === 0 ? 0 : (h.le[i - 1] as number);
    if (upper === Number.POSITIVE_INFINITY) return lower;
    const below = i === 0 ? 0 : (h.counts[i - 1] as number);
    const inBucket = count - below;
    return inBucket === 0 ? upper : lower + ((upper - lower) * (rank - below)) / inBucket;
  }
  return h.le[h.le.length - 1] as number;
}

/** Non-cumulative counts per bucket, labelled by their range ("0.5-1", "300-+Inf"). */
export function bucketCounts(h: CumulativeHistogram): Record<string, number> {
  const out: Record<string, number> = {};
  h.le.forEach((upper, i) => {
    const lower = i === 0 ? 0 : (h.le[i - 1] as number);
    out[`${lower}-${upper === Number.POSITIVE_INFINITY ? '+Inf' : upper}`] =
      (h.counts[i] as number) - (i === 0 ? 0 : (h.counts[i - 1] as number));
  });
  return out;
}

/**
 * Ordinary least-squares slope of y over x (units of y per unit of x); NaN with fewer than two
 * distinct x.
 */
export function leastSquaresSlope(points: readonly (readonly [x: number, y: number])[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) * (x - mx);
  }
  return sxx === 0 ? Number.NaN : sxy / sxx;
}
