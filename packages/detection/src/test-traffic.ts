import { mulberry32 } from './hash.js';

/**
 * Seeded traffic shapes for tests and benchmarks: a health network's working-day curve (quiet
 * nights, a morning ramp, busy 09:00-17:00, quieter weekends) with log-normal noise.
 */
export function diurnalFactor(ms: number): number {
  const d = new Date(ms);
  const hour = d.getUTCHours() + d.getUTCMinutes() / 60;
  const weekend = d.getUTCDay() === 0 || d.getUTCDay() === 6;
  // Smooth day curve between 0.15 (night) and 1 (afternoon).
  const day = 0.15 + 0.85 * Math.max(0, Math.sin(((hour - 6) / 14) * Math.PI)) ** 1.5;
  return weekend ? 0.35 * day + 0.05 : day;
}

/** Normal(0, 1) from a uniform source (Box-Muller). */
export function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** A volume per interval: `peak` at the busiest time, multiplied by log-normal noise of `sigma`. */
export function volumeSeries(options: {
  startMs: number;
  intervals: number;
  intervalMs: number;
  peak: number;
  sigma: number;
  seed: number;
}) {
  const random = mulberry32(options.seed);
  const out: number[] = [];
  for (let i = 0; i < options.intervals; i++) {
    const t = options.startMs + i * options.intervalMs;
    out.push(Math.round(options.peak * diurnalFactor(t) * Math.exp(options.sigma * gaussian(random))));
  }
  return out;
}
