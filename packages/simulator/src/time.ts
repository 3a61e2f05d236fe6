/** Durations and instants as people write them on a command line: `90s`, `2m`, `1h30m`, `7d`; `+2m` or an ISO time. */

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `1h30m` -> 5_400_000. Returns undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(t)) return undefined;
  let total = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) total += Number(m[1]) * (UNITS[m[2] as string] as number);
  return Math.round(total);
}

/** `+2m` (after `originMs`) or an ISO-8601 instant -> ms since the epoch; undefined when neither. */
export function parseInstant(text: string, originMs: number): number | undefined {
  const t = text.trim();
  if (t.startsWith('+')) {
    const d = parseDuration(t.slice(1));
    return d === undefined ? undefined : originMs + d;
  }
  if (!/^\d{4}-\d{2}-\d{2}/.test(t)) return undefined;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? undefined : ms;
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
