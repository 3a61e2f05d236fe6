import { describe, expect, it } from 'vitest';
import { hourOfWeek, LevelBaseline, SeasonalBaseline } from './baseline.js';
import { volumeSeries } from './test-traffic.js';

const MINUTE = 60_000;
// Monday 2026-11-02 00:00 UTC.
const START = Date.UTC(2026, 10, 2);

function train(b: SeasonalBaseline, series: number[], start = START): number {
  let falseAlarms = 0;
  series.forEach((x, i) => {
    const slot = hourOfWeek(start + i * MINUTE);
    if (b.history >= 60 && b.residuals >= 16 && Math.abs(b.score(0, slot, x).z) >= 6) falseAlarms++;
    b.observe(slot, [x]);
  });
  return falseAlarms;
}

describe('hourOfWeek', () => {
  it('is 0 on Monday at midnight UTC and 167 on Sunday at 23:00', () => {
    expect(hourOfWeek(START)).toBe(0);
    expect(hourOfWeek(START + 7 * 24 * 3_600_000 - 1)).toBe(167);
    expect(hourOfWeek(START + 7 * 24 * 3_600_000)).toBe(0);
  });
});

describe('SeasonalBaseline', () => {
  const weeks = 2;
  const series = volumeSeries({ startMs: START, intervals: weeks * 7 * 1440, intervalMs: MINUTE, peak: 2e6, sigma: 0.15, seed: 11 });

  it('stays quiet on two weeks of diurnal traffic with noise (robust z under 6)', () => {
    const b = new SeasonalBaseline(1);
    const falseAlarms = train(b, series);
    // 20,160 intervals; a Gaussian tail beyond 6 sigma is ~1e-9, the morning ramp is the test.
    expect(falseAlarms).toBeLessThanOrEqual(2);
  });

  it('scores a tenfold spike and a fall to a tenth far beyond 6, in both directions', () => {
    const b = new SeasonalBaseline(1);
    train(b, series);
    const t = START + weeks * 7 * 1440 * MINUTE + 11 * 3_600_000; // Monday 11:00
    const slot = hourOfWeek(t);
    const normal = 2e6 * 0.95;
    const spike = b.score(0, slot, normal * 10);
    const drop = b.score(0, slot, normal / 10);
    expect(spike.z).toBeGreaterThan(6);
    expect(drop.z).toBeLessThan(-6);
    // The expectation knows it is a busy weekday hour, not a night or weekend average.
    expect(spike.expected).toBeGreaterThan(1.2e6);
    expect(spike.expected).toBeLessThan(2.6e6);
    // A mild +30 % is within noise.
    expect(Math.abs(b.score(0, slot, spike.expected * 1.3).z)).toBeLessThan(6);
  });

  it('knows the night is quiet: a daytime volume at 03:00 is a spike', () => {
    const b = new SeasonalBaseline(1);
    train(b, series);
    const t = START + weeks * 7 * 1440 * MINUTE + 3 * 3_600_000; // Monday 03:00
    expect(b.score(0, hourOfWeek(t), 2e6).z).toBeGreaterThan(6);
  });

  it('keeps alerting through a long incident: anomalies are clamped, not learnt', () => {
    const b = new SeasonalBaseline(1);
    train(b, series);
    const t0 = START + weeks * 7 * 1440 * MINUTE + 10 * 3_600_000;
    let z = 0;
    for (let i = 0; i < 30; i++) {
      const slot = hourOfWeek(t0 + i * MINUTE);
      z = b.score(0, slot, 2e7).z;
      b.observe(slot, [2e7]);
    }
    expect(z).toBeGreaterThan(6);
  });

  it('keeps its spread through an incident: the anomalous intervals leave the normal residuals in place', () => {
    // Minutes spread around 40 flows (28 to 56 in turn), then a flood of six minutes at 6,000.
    const b = new SeasonalBaseline(1);
    const normal = [28, 56, 40, 33, 48, 36, 44];
    for (let i = 0; i < 200; i++) b.observe(10, [normal[i % normal.length]!]);
    const expected = b.expectedLog(0, 10);
    const before = b.spread(0, expected);
    for (let i = 0; i < 6; i++) b.observe(10, [6000]);
    // Copies of one residual in six of the 32 places would have narrowed the spread (by a third
    // here), and the next quiet minutes would have read as drops.
    expect(b.spread(0, b.expectedLog(0, 10))).toBeCloseTo(before, 2);
    expect(b.score(0, 10, 20).z).toBeGreaterThan(-3);
  });

  it('does not take a norm a ramp taught one interval at a time, within the clamp, as one to fall from', () => {
    // About 60 flows a minute, then a worm's ramp: x1.25 a minute for ten minutes, each step
    // within 4 spreads of the expectation it has just raised; then back to normal.
    const b = new SeasonalBaseline(1);
    const normal = [52, 68, 60, 47, 63, 71, 56];
    for (let i = 0; i < 200; i++) b.observe(10, [normal[i % normal.length]!]);
    // The ramp comes in an hour of the week not seen before: the ramp founds its profile.
    let x = 60;
    for (let i = 0; i < 10; i++) b.observe(11, [(x *= 1.25)]);
    // The expectation and the profile followed the ramp (x3 and more) ...
    expect(Math.expm1(b.expectedLog(0, 11))).toBeGreaterThan(180);
    // ... the drop norm rose at most a doubling in 30 intervals: 60 back is no drop.
    expect(Math.expm1(b.dropExpectedLog(0, 11))).toBeLessThan(80);
    expect(b.score(0, 11, 60, 0, true).z).toBeGreaterThan(-2);
    // A checkpoint keeps the norm.
    const restored = SeasonalBaseline.fromJSON(JSON.parse(JSON.stringify(b.toJSON())));
    expect(restored.dropExpectedLog(0, 11)).toBe(b.dropExpectedLog(0, 11));
  });

  it('lets the drop norm up to an established hour at once (the morning step is knowledge, not an incident)', () => {
    const b = new SeasonalBaseline(1);
    // An hour of 60 flows a minute and an hour of 120, an hour of visits each, then the first again.
    for (let i = 0; i < 60; i++) b.observe(10, [i % 2 === 0 ? 55 : 65]);
    for (let i = 0; i < 60; i++) b.observe(11, [i % 2 === 0 ? 110 : 130]);
    for (let i = 0; i < 30; i++) b.observe(10, [i % 2 === 0 ? 55 : 65]);
    // The first minute of the established 120 hour: judged against about 120, not 60 x 2^(1/30).
    b.observe(11, [120]);
    expect(Math.expm1(b.dropExpectedLog(0, 11))).toBeGreaterThan(100);
  });

  it('judges drops against the seasonal profile when a surge has raised the recent level', () => {
    // A sparse entity: minutes alternate between 30 and 300 (a wide spread), then a surge at 3,000
    // stays within 4 spreads and is learnt at the full rate by the recent level.
    const b = new SeasonalBaseline(1);
    for (let i = 0; i < 60; i++) b.observe(10, [i % 2 === 0 ? 30 : 300]);
    const before = b.dropExpectedLog(0, 10);
    for (let i = 0; i < 15; i++) b.observe(10, [3000]);
    // The recent level expects several times what the hour usually holds ...
    expect(Math.expm1(b.expectedLog(0, 10))).toBeGreaterThan(4 * Math.expm1(b.dropExpectedLog(0, 10)));
    // ... a return to the usual is no drop against the profile, which moved far less (1/visits a minute).
    expect(b.dropExpectedLog(0, 10) - before).toBeLessThan(1);
    expect(b.score(0, 10, 100, 0, true).z).toBeGreaterThan(-1);
    expect(b.score(0, 10, 100).z).toBeLessThan(b.score(0, 10, 100, 0, true).z - 1);
  });

  it("does not let an anomalous interval found a new slot's profile (a flood in an hour's first minute)", () => {
    const b = new SeasonalBaseline(1);
    // An hour of 15 a minute with some noise in slot 7; then slot 8 opens with 2,000.
    for (let i = 0; i < 60; i++) b.observe(7, [i % 3 === 0 ? 12 : i % 3 === 1 ? 15 : 19]);
    b.observe(8, [2000]);
    // The new slot expects about the recent level, not the flood (clamped, that was 80 or more).
    expect(Math.expm1(b.expectedLog(0, 8))).toBeLessThan(25);
    expect(b.score(0, 8, 15).z).toBeGreaterThan(-2);
  });

  it('survives a checkpoint: the restored baseline scores exactly the same', () => {
    const b = new SeasonalBaseline(3);
    series.slice(0, 3000).forEach((x, i) => {
      b.observe(hourOfWeek(START + i * MINUTE), [x, x / 800, x / 20_000]);
    });
    const restored = SeasonalBaseline.fromJSON(JSON.parse(JSON.stringify(b)));
    for (const slot of [0, 10, 50]) {
      for (let m = 0; m < 3; m++) expect(restored.score(m, slot, 12345).z).toBe(b.score(m, slot, 12345).z);
    }
    expect(restored.history).toBe(3000);
  });

  it('warms its profile from hourly totals, so the first live hours already know the season', () => {
    const b = new SeasonalBaseline(1);
    // One week of hourly rollups (per-minute average), as read from flows_1h.
    for (let h = 0; h < 168; h++) {
      const t = START + h * 3_600_000;
      let sum = 0;
      for (let k = 0; k < 60; k++) sum += series[h * 60 + k]!;
      b.warmProfile(hourOfWeek(t), [sum / 60], 60);
    }
    expect(b.history).toBe(168 * 60);
    const night = b.expectedLog(0, hourOfWeek(START + 3 * 3_600_000));
    const day = b.expectedLog(0, hourOfWeek(START + 13 * 3_600_000));
    expect(Math.expm1(day) / Math.expm1(night)).toBeGreaterThan(3);
  });
});

describe('LevelBaseline', () => {
  it('learns a steady level and scores a jump', () => {
    const b = new LevelBaseline();
    for (let i = 0; i < 100; i++) b.observe(1000 + (i % 7) * 30);
    expect(Math.abs(b.z(1100))).toBeLessThan(3);
    expect(b.z(50_000)).toBeGreaterThan(6);
  });
});
