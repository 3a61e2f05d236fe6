import type { OrgType } from './network.js';

/**
 * Daily and weekly rhythm: how busy a kind of organisation is at a moment, 0..1, by UK local time
 * (GMT, or BST from the last Sunday of March to the last Sunday of October, 01:00 UTC). Values are
 * per local hour, interpolated linearly between hour centres so rates change smoothly.
 */
export type ProfileName = 'office' | 'practice' | 'pharmacy' | 'hospital' | 'care' | 'ambulance' | 'flat' | 'night';

interface Profile {
  weekday: readonly number[];
  saturday: readonly number[];
  sunday: readonly number[];
}

const OFFICE_DAY = [
  0.05, 0.04, 0.04, 0.04, 0.04, 0.05, 0.1, 0.3, 0.8, 1, 1, 0.98, 0.85, 0.9, 0.95, 0.92, 0.85, 0.65, 0.35, 0.15, 0.1, 0.08, 0.06, 0.05,
];
const HOSPITAL_DAY = [
  0.38, 0.35, 0.33, 0.33, 0.34, 0.38, 0.48, 0.7, 0.92, 1, 1, 0.98, 0.92, 0.96, 0.98, 0.95, 0.9, 0.82, 0.7, 0.62, 0.56, 0.5, 0.45, 0.41,
];
const CARE_DAY = [
  0.25, 0.22, 0.2, 0.2, 0.22, 0.3, 0.45, 0.6, 0.7, 0.72, 0.7, 0.68, 0.65, 0.66, 0.68, 0.66, 0.62, 0.58, 0.55, 0.5, 0.45, 0.4, 0.32, 0.28,
];
const AMBULANCE_DAY = [
  0.55, 0.5, 0.48, 0.46, 0.46, 0.5, 0.6, 0.72, 0.82, 0.88, 0.9, 0.9, 0.88, 0.88, 0.88, 0.88, 0.88, 0.86, 0.84, 0.8, 0.75, 0.7, 0.65, 0.6,
];
const PHARMACY_DAY = [
  0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.05, 0.15, 0.6, 0.95, 1, 1, 0.95, 0.95, 1, 1, 0.95, 0.85, 0.5, 0.15, 0.06, 0.04, 0.03, 0.03,
];
const scale = (day: readonly number[], floor: number, factor: number) => day.map((v) => floor + (v - floor) * factor);
const flat = (v: number) => new Array<number>(24).fill(v);

export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  office: { weekday: OFFICE_DAY, saturday: scale(OFFICE_DAY, 0.04, 0.05), sunday: flat(0.04) },
  practice: { weekday: OFFICE_DAY, saturday: scale(OFFICE_DAY, 0.04, 0.12), sunday: flat(0.04) },
  pharmacy: { weekday: PHARMACY_DAY, saturday: scale(PHARMACY_DAY, 0.03, 0.7), sunday: scale(PHARMACY_DAY, 0.03, 0.15) },
  hospital: { weekday: HOSPITAL_DAY, saturday: scale(HOSPITAL_DAY, 0.22, 0.45), sunday: scale(HOSPITAL_DAY, 0.22, 0.4) },
  care: { weekday: CARE_DAY, saturday: scale(CARE_DAY, 0.2, 0.9), sunday: scale(CARE_DAY, 0.2, 0.85) },
  ambulance: { weekday: AMBULANCE_DAY, saturday: AMBULANCE_DAY, sunday: AMBULANCE_DAY },
  flat: { weekday: flat(1), saturday: flat(1), sunday: flat(1) },
  night: {
    weekday: [1, 1, 1, 0.9, 0.5, 0.15, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.1, 0.3, 0.6, 0.9, 1],
    saturday: flat(0.4),
    sunday: flat(0.4),
  },
};

export const ORG_PROFILE_OF: Readonly<Record<OrgType, ProfileName>> = {
  'acute-trust': 'hospital',
  'community-trust': 'office',
  'mental-health-trust': 'hospital',
  'ambulance-trust': 'ambulance',
  'gp-practice': 'practice',
  pharmacy: 'pharmacy',
  'care-home': 'care',
  'local-authority': 'office',
};

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Activity 0..1 of a profile at a UTC instant (ms). */
export function activity(profile: ProfileName, utcMs: number): number {
  const p = PROFILES[profile];
  const local = utcMs + ukOffsetMs(utcMs);
  const day = Math.floor(local / DAY);
  const h = (local - day * DAY) / HOUR - 0.5;
  const lo = Math.floor(h);
  const frac = h - lo;
  // Interpolate across midnight with the neighbouring day's values.
  const a = valueAt(p, day + Math.floor(lo / 24), (lo + 24) % 24);
  const b = valueAt(p, day + Math.floor((lo + 1) / 24), (lo + 1) % 24);
  return a + (b - a) * frac;
}

function valueAt(p: Profile, day: number, hour: number): number {
  const dow = (((day + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday; 0 = Sunday
  const table = dow === 0 ? p.sunday : dow === 6 ? p.saturday : p.weekday;
  return table[hour] as number;
}

/** 0 in winter (GMT), one hour in summer (BST): from the last Sunday of March to the last Sunday of October, 01:00 UTC. */
export function ukOffsetMs(utcMs: number): number {
  if (utcMs < cachedYearStart || utcMs >= cachedYearEnd) {
    const year = new Date(utcMs).getUTCFullYear();
    cachedYearStart = Date.UTC(year, 0, 1);
    cachedYearEnd = Date.UTC(year + 1, 0, 1);
    summerStart = lastSundayUtc(year, 2) + HOUR;
    summerEnd = lastSundayUtc(year, 9) + HOUR;
  }
  return utcMs >= summerStart && utcMs < summerEnd ? HOUR : 0;
}

// The summer-time boundaries of the year last asked about (the model asks about the same year for hours on end).
let cachedYearStart = 0;
let cachedYearEnd = 0;
let summerStart = 0;
let summerEnd = 0;

function lastSundayUtc(year: number, month: number): number {
  const lastDay = Date.UTC(year, month + 1, 0);
  const dow = new Date(lastDay).getUTCDay();
  return lastDay - dow * DAY;
}
