const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * The start of the UTC hour `hours` before the current one, ms. Tests date stored flows relative
 * to the day they run: flows_raw keeps 7 days and ClickHouse drops older rows at the insert itself
 * (docs/storage.md), so a fixed date would fail a week later.
 */
export function hourStartAgo(hours: number): number {
  return Math.floor(Date.now() / HOUR_MS) * HOUR_MS - hours * HOUR_MS;
}

/** The start of the UTC day `days` before today, ms (see hourStartAgo). */
export function dayStartAgo(days: number): number {
  return Math.floor(Date.now() / DAY_MS) * DAY_MS - days * DAY_MS;
}
