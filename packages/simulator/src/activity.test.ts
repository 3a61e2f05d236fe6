import { describe, expect, it } from 'vitest';
import { activity, ukOffsetMs } from './activity.js';

/** UK local hour by the platform's time-zone database, independent of ukOffsetMs. */
const london = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/London', hour: '2-digit', hourCycle: 'h23' });
const londonHour = (utcMs: number) => Number(london.format(utcMs));

describe('ukOffsetMs', () => {
  it('agrees with the time-zone database every hour of 2025-2027', () => {
    for (let t = Date.UTC(2025, 0, 1); t < Date.UTC(2028, 0, 1); t += 3_600_000) {
      const local = new Date(t + ukOffsetMs(t)).getUTCHours();
      expect(local, new Date(t).toISOString()).toBe(londonHour(t));
    }
  });
});

describe('activity', () => {
  // Tuesday 24 November 2026 (GMT), Sunday 29 November.
  const at = (day: number, hour: number, minute = 0) => Date.UTC(2026, 10, day, hour, minute);

  it('follows the working day in practices: busy at 10:00, quiet at 03:00 and on Sunday', () => {
    expect(activity('practice', at(24, 10))).toBeGreaterThan(0.9);
    expect(activity('practice', at(24, 3))).toBeLessThan(0.1);
    expect(activity('practice', at(29, 10))).toBeLessThan(0.1);
  });

  it('keeps hospitals awake at night, at about a quarter of the day', () => {
    const night = activity('hospital', at(24, 3));
    expect(night).toBeGreaterThan(0.15);
    expect(night).toBeLessThan(0.35);
    expect(activity('hospital', at(24, 11))).toBeGreaterThan(0.9);
  });

  it('runs backups at night and machines flat', () => {
    expect(activity('night', at(24, 1))).toBeGreaterThan(0.9);
    expect(activity('night', at(24, 13))).toBeLessThan(0.1);
    expect(activity('flat', at(24, 13))).toBe(1);
  });

  it('changes smoothly: no step of more than a tenth between minutes', () => {
    for (const p of ['office', 'practice', 'hospital', 'care', 'pharmacy'] as const) {
      let prev = activity(p, at(23, 0));
      for (let t = at(23, 0, 1); t < at(30, 0); t += 60_000) {
        const v = activity(p, t);
        expect(Math.abs(v - prev)).toBeLessThan(0.1);
        prev = v;
      }
    }
  });

  it('moves with summer time: 10:00 BST is 09:00 UTC', () => {
    const summer = Date.UTC(2026, 6, 14, 9, 0);
    const winter = Date.UTC(2026, 10, 24, 10, 0);
    expect(activity('practice', summer)).toBeCloseTo(activity('practice', winter), 10);
  });
});
