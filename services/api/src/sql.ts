import type { ClickHouseClient } from '@flowwatch/clickhouse';

/**
 * Values always travel as `query_params`: `add` returns a `{pN:Type}` placeholder for a value of
 * a ClickHouse type that the code names (never the request). Nothing from a request is pasted into SQL.
 */
export class Params {
  readonly values: Record<string, unknown> = {};
  #n = 0;

  add(type: string, value: unknown): string {
    const name = `p${this.#n++}`;
    this.values[name] = value;
    return `{${name}:${type}}`;
  }
}

export async function select<T>(client: ClickHouseClient, sql: string, params: Params | Record<string, unknown> = {}): Promise<T[]> {
  const query_params = params instanceof Params ? params.values : params;
  const rs = await client.query({ query: sql, query_params, format: 'JSONEachRow' });
  return rs.json<T>();
}
