import type { ClickHouseClient } from '@flowwatch/clickhouse';
import { type Answer, type AnswerMeta, iso, type QueryContext } from './answer.js';
import { displayAddress } from './fields.js';
import type { FlowsQuery } from './query-input.js';
import { SqlParams, type SqlQuery, selectRows, whereSql } from './query-sql.js';
import { chooseTable } from './table-choice.js';

/**
 * One enriched flow as stored in flows_raw (goflow2's field names plus the enrichment): times as
 * ISO-8601 UTC, addresses as written (IPv4 plain, '' when absent), `kafka_offset` as a string
 * (64-bit).
 */
export interface FlowRow {
  time_received: string;
  time_flow_start: string;
  time_flow_end: string;
  type: string;
  supplier_id: string;
  exporter_id: string;
  sampler_address: string;
  sequence_num: number;
  sampling_rate: number;
  src_addr: string;
  dst_addr: string;
  src_port: number;
  dst_port: number;
  proto: number;
  etype: number;
  tcp_flags: number;
  icmp_type: number;
  icmp_code: number;
  ip_tos: number;
  bytes: number;
  packets: number;
  bytes_est: number;
  packets_est: number;
  in_if: number;
  out_if: number;
  vlan_id: number;
  src_as: number;
  dst_as: number;
  next_hop: string;
  src_org: string;
  dst_org: string;
  src_org_supplier: string;
  dst_org_supplier: string;
  service: string;
  direction: string;
  kafka_topic: string;
  kafka_partition: number;
  kafka_offset: string;
}

type Kind = 'time' | 'address' | 'string' | 'number';
/** Every column, in flows_raw order, with how it is read back. */
const COLUMNS: readonly (readonly [keyof FlowRow, Kind])[] = [
  ['time_received', 'time'],
  ['time_flow_start', 'time'],
  ['time_flow_end', 'time'],
  ['type', 'string'],
  ['supplier_id', 'string'],
  ['exporter_id', 'string'],
  ['sampler_address', 'string'],
  ['sequence_num', 'number'],
  ['sampling_rate', 'number'],
  ['src_addr', 'address'],
  ['dst_addr', 'address'],
  ['src_port', 'number'],
  ['dst_port', 'number'],
  ['proto', 'number'],
  ['etype', 'number'],
  ['tcp_flags', 'number'],
  ['icmp_type', 'number'],
  ['icmp_code', 'number'],
  ['ip_tos', 'number'],
  ['bytes', 'number'],
  ['packets', 'number'],
  ['bytes_est', 'number'],
  ['packets_est', 'number'],
  ['in_if', 'number'],
  ['out_if', 'number'],
  ['vlan_id', 'number'],
  ['src_as', 'number'],
  ['dst_as', 'number'],
  ['next_hop', 'string'],
  ['src_org', 'string'],
  ['dst_org', 'string'],
  ['src_org_supplier', 'string'],
  ['dst_org_supplier', 'string'],
  ['service', 'string'],
  ['direction', 'string'],
  ['kafka_topic', 'string'],
  ['kafka_partition', 'number'],
  ['kafka_offset', 'string'],
];

export interface FlowsResult extends AnswerMeta {
  from: string;
  to: string;
  limit: number;
  /** More flows match than `limit`. */
  truncated: boolean;
  /** Newest first (ties: Kafka topic, partition, then offset, newest first). */
  flows: FlowRow[];
}

/** Newest flows first, one more than the limit (to tell whether there are more). */
export function flowsSql(q: FlowsQuery): SqlQuery {
  const p = new SqlParams();
  // Times as epoch milliseconds: the JSON text of DateTime64 depends on server settings.
  const select = COLUMNS.map(([name, kind]) => (kind === 'time' ? `toUnixTimestamp64Milli(${name}) AS ${name}_ms` : name)).join(', ');
  const sql = `SELECT ${select}
FROM flows_raw
WHERE ${whereSql('flows_raw', q.from, q.to, q.where, p)}
ORDER BY time_received DESC, kafka_topic, kafka_partition, kafka_offset DESC
LIMIT ${p.add('UInt32', q.limit + 1)}`;
  return { sql, params: p.values };
}

/** Individual flows for a drill-down; only flows_raw has them. */
export async function flowSearch(client: ClickHouseClient, q: FlowsQuery, ctx: QueryContext): Promise<Answer<FlowsResult>> {
  const choice = chooseTable(
    { from: q.from, to: q.to, stepSeconds: 0, rawOnlyFields: ['individual flows'] },
    { retention: ctx.retention, now: ctx.now ?? new Date() },
  );
  if (!choice.ok) return { ok: false, reason: 'unanswerable', message: choice.message };
  const rows = await selectRows<Record<string, unknown>>(client, flowsSql(q), ctx.settings);
  const flows = rows.slice(0, q.limit).map((r) => {
    const out: Record<string, string | number> = {};
    for (const [name, kind] of COLUMNS) {
      const v = kind === 'time' ? r[`${name}_ms`] : r[name];
      out[name] =
        kind === 'time' ? iso(Number(v)) : kind === 'address' ? displayAddress(String(v)) : kind === 'number' ? Number(v) : String(v);
    }
    return out as unknown as FlowRow;
  });
  return {
    ok: true,
    result: {
      table: choice.table,
      reason: choice.reason,
      notes: choice.notes,
      from: q.from.toISOString(),
      to: q.to.toISOString(),
      limit: q.limit,
      truncated: rows.length > q.limit,
      flows,
    },
  };
}
