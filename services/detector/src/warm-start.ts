import type { ClickHouseClient } from '@flowwatch/clickhouse';
import type { VolumeKind, VolumeRow, WarmStart } from '@flowwatch/detection';

/**
 * Entity volumes from a rollup table in one query: each rollup row counts for its supplier, its
 * source organisation outbound, its destination organisation inbound, the pair and the service
 * (exporters are not in the rollups: they warm up live). `to_internet` rows also give the
 * organisation's bytes to the internet (exfiltration profiles).
 */
const ENTITY_VOLUMES = (table: string) => `
  SELECT e.1 AS kind, e.2 AS id, toUnixTimestamp(ts) * 1000 AS ts_ms,
         sum(bytes_est) AS bytes, sum(packets_est) AS packets, sum(flows) AS flows
  FROM ${table}
  ARRAY JOIN [
    ('supplier', supplier_id),
    ('organisation_out', if(src_org != dst_org, src_org, '')),
    ('organisation_in', if(src_org != dst_org, dst_org, '')),
    ('organisation_pair', if(src_org != '' AND dst_org != '' AND src_org != dst_org, concat(src_org, '>', dst_org), '')),
    ('service', service),
    ('internet_out', if(direction = 'to_internet', src_org, ''))
  ] AS e
  WHERE ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts < fromUnixTimestamp64Milli({to:Int64}) AND e.2 != ''
  GROUP BY kind, id, ts_ms
  ORDER BY ts_ms`;

interface Row {
  kind: string;
  id: string;
  ts_ms: string | number;
  bytes: string | number;
  packets: string | number;
  flows: string | number;
}

async function rows(clickhouse: ClickHouseClient, query: string, params: Record<string, unknown>): Promise<Row[]> {
  return (await clickhouse.query({ query, query_params: params, format: 'JSONEachRow' })).json<Row>();
}

/**
 * Reads what a warm start needs: `profileDays` of flows_1h (seasonal profiles), `recentMinutes`
 * of flows_1m (recent level and spread, replayed interval by interval), and which organisation
 * pairs, services and lateral ports the rollups have seen (new-pair and lateral learning).
 */
export async function readWarmStart(
  clickhouse: ClickHouseClient,
  options: { nowMs: number; profileDays: number; recentMinutes: number },
): Promise<WarmStart & { rows: number }> {
  const minuteTo = options.nowMs - (options.nowMs % 60_000);
  const minuteFrom = minuteTo - options.recentMinutes * 60_000;
  const hourTo = minuteFrom - (minuteFrom % 3_600_000);
  const hourFrom = hourTo - options.profileDays * 86_400_000;
  const hourly: VolumeRow[] = [];
  const internetHourly: WarmStart['internetHourly'][number][] = [];
  for (const r of await rows(clickhouse, ENTITY_VOLUMES('flows_1h'), { from: hourFrom, to: hourTo })) {
    const row = toVolumeRow(r);
    if (r.kind === 'internet_out') internetHourly.push({ org: r.id, ts: row.ts, bytes: row.bytes });
    else hourly.push(row);
  }
  const minutes: VolumeRow[] = [];
  for (const r of await rows(clickhouse, ENTITY_VOLUMES('flows_1m'), { from: minuteFrom, to: minuteTo })) {
    if (r.kind !== 'internet_out') minutes.push(toVolumeRow(r));
  }
  const pairs = await (
    await clickhouse.query({
      query: `SELECT src_org, dst_org, service, dst_port, toUnixTimestamp(min(ts)) * 1000 AS first_ms FROM flows_1h
              WHERE ts >= fromUnixTimestamp64Milli({from:Int64}) GROUP BY src_org, dst_org, service, dst_port`,
      query_params: { from: hourFrom },
      format: 'JSONEachRow',
    })
  ).json<{ src_org: string; dst_org: string; service: string; dst_port: number; first_ms: string | number }>();
  const earliest = pairs.reduce((m, p) => Math.min(m, Number(p.first_ms)), Number.POSITIVE_INFINITY);
  return {
    hourly,
    minutes,
    minutesFromMs: minuteFrom,
    minutesToMs: minuteTo,
    internetHourly,
    pairs: pairs.map((p) => ({ srcOrg: p.src_org, dstOrg: p.dst_org, service: p.service, dstPort: Number(p.dst_port) })),
    earliestMs: earliest,
    rows: hourly.length + minutes.length + internetHourly.length + pairs.length,
  };
}

function toVolumeRow(r: Row): VolumeRow {
  return {
    kind: r.kind as VolumeKind,
    id: r.id,
    ts: Number(r.ts_ms),
    bytes: Number(r.bytes),
    packets: Number(r.packets),
    flows: Number(r.flows),
  };
}
