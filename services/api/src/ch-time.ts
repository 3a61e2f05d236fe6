/** ClickHouse DateTime64(3, 'UTC') text for an insert: 'YYYY-MM-DD hh:mm:ss.mmm' (the `basic` input format). */
export function dt64(ms: number): string {
  return new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
}

/** A column read as `toUnixTimestamp64Milli(...)`: Int64 comes back as a string in JSON formats. */
export function msOf(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

export const iso = (ms: number): string => new Date(ms).toISOString();
