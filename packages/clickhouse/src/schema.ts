import type { ClickHouseClient } from '@clickhouse/client';
import { type ClusterTarget, clusterMigrations, clusterTtlStatement } from './cluster.js';
import type { Migration } from './migrations.js';
import { rebuildRawStep } from './rebuild.js';

/**
 * flowwatch's own schema, applied at start by every process that opens ClickHouse. Append a new
 * migration for every change; never edit one that has shipped (its checksum is recorded).
 * Why these keys and engines: docs/storage.md.
 */

/** Dimensions of the rollups: the aggregation key of both consolidated tables. */
const ROLLUP_DIMENSIONS = 'supplier_id, src_org, dst_org, src_org_supplier, dst_org_supplier, service, direction, proto, dst_port';

const rollupTable = (name: string, partition: string) => `
CREATE TABLE IF NOT EXISTS ${name} (
  ts DateTime('UTC'),
  supplier_id LowCardinality(String),
  src_org LowCardinality(String),
  dst_org LowCardinality(String),
  src_org_supplier LowCardinality(String),
  dst_org_supplier LowCardinality(String),
  service LowCardinality(String),
  direction LowCardinality(String),
  proto UInt8,
  dst_port UInt16,
  bytes SimpleAggregateFunction(sum, UInt64),
  packets SimpleAggregateFunction(sum, UInt64),
  bytes_est SimpleAggregateFunction(sum, UInt64),
  packets_est SimpleAggregateFunction(sum, UInt64),
  flows SimpleAggregateFunction(sum, UInt64),
  src_addrs AggregateFunction(uniq, IPv6),
  dst_addrs AggregateFunction(uniq, IPv6)
) ENGINE = AggregatingMergeTree
PARTITION BY ${partition}
ORDER BY (ts, ${ROLLUP_DIMENSIONS})
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1`;

export const SCHEMA: readonly Migration[] = [
  {
    version: 1,
    name: 'flows: raw enriched flows, 1-minute and 1-hour rollups; alerts and their history',
    statements: [
      `CREATE TABLE IF NOT EXISTS flows_raw (
        time_received DateTime64(3, 'UTC'),
        time_flow_start DateTime64(3, 'UTC'),
        time_flow_end DateTime64(3, 'UTC'),
        type LowCardinality(String),
        supplier_id LowCardinality(String),
        exporter_id LowCardinality(String),
        sampler_address LowCardinality(String),
        sequence_num UInt32,
        sampling_rate UInt32,
        src_addr IPv6,
        dst_addr IPv6,
        src_port UInt16,
        dst_port UInt16,
        proto UInt8,
        etype UInt16,
        tcp_flags UInt16,
        icmp_type UInt8,
        icmp_code UInt8,
        ip_tos UInt8,
        bytes UInt64,
        packets UInt64,
        bytes_est UInt64,
        packets_est UInt64,
        in_if UInt32,
        out_if UInt32,
        vlan_id UInt16,
        src_as UInt32,
        dst_as UInt32,
        next_hop LowCardinality(String),
        src_org LowCardinality(String),
        dst_org LowCardinality(String),
        src_org_supplier LowCardinality(String),
        dst_org_supplier LowCardinality(String),
        service LowCardinality(String),
        direction LowCardinality(String),
        kafka_topic LowCardinality(String),
        kafka_partition UInt16,
        kafka_offset UInt64 CODEC(Delta, ZSTD),
        INDEX kafka_offset_minmax kafka_offset TYPE minmax GRANULARITY 1
      ) ENGINE = MergeTree
      PARTITION BY toYYYYMMDD(time_received)
      ORDER BY (toStartOfFiveMinutes(time_received), supplier_id, src_org, dst_org, time_received)
      TTL toDateTime(time_received) + INTERVAL 7 DAY
      SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1`,
      rollupTable('flows_1m', 'toYYYYMMDD(ts)'),
      `ALTER TABLE flows_1m MODIFY TTL ts + INTERVAL 90 DAY`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS flows_1m_mv TO flows_1m AS
        SELECT toStartOfMinute(time_received) AS ts, ${ROLLUP_DIMENSIONS},
          sum(bytes) AS bytes, sum(packets) AS packets, sum(bytes_est) AS bytes_est, sum(packets_est) AS packets_est,
          count() AS flows, uniqState(src_addr) AS src_addrs, uniqState(dst_addr) AS dst_addrs
        FROM flows_raw GROUP BY ts, ${ROLLUP_DIMENSIONS}`,
      rollupTable('flows_1h', 'toYYYYMM(ts)'),
      `ALTER TABLE flows_1h MODIFY TTL ts + INTERVAL 730 DAY`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS flows_1h_mv TO flows_1h AS
        SELECT toStartOfHour(ts) AS ts, ${ROLLUP_DIMENSIONS},
          sum(bytes) AS bytes, sum(packets) AS packets, sum(bytes_est) AS bytes_est, sum(packets_est) AS packets_est,
          sum(flows) AS flows, uniqMergeState(src_addrs) AS src_addrs, uniqMergeState(dst_addrs) AS dst_addrs
        FROM flows_1m GROUP BY ts, ${ROLLUP_DIMENSIONS}`,
      `CREATE TABLE IF NOT EXISTS alerts (
        id String,
        fingerprint String,
        type LowCardinality(String),
        severity LowCardinality(String),
        status LowCardinality(String),
        entity_kind LowCardinality(String),
        entity_id String,
        entity_name String,
        supplier_ids Array(LowCardinality(String)),
        src_org LowCardinality(String),
        dst_org LowCardinality(String),
        src_addr String,
        dst_addr String,
        dst_port UInt16,
        service LowCardinality(String),
        first_seen DateTime64(3, 'UTC'),
        last_seen DateTime64(3, 'UTC'),
        detected_at DateTime64(3, 'UTC'),
        observed Float64,
        expected Float64,
        score Float64,
        summary String,
        evidence String,
        updated_at DateTime64(3, 'UTC'),
        version UInt64
      ) ENGINE = ReplacingMergeTree(version)
      ORDER BY id`,
      `CREATE TABLE IF NOT EXISTS alert_events (
        alert_id String,
        at DateTime64(3, 'UTC'),
        event LowCardinality(String),
        actor String,
        detail String
      ) ENGINE = MergeTree
      ORDER BY (alert_id, at)`,
    ],
  },
  {
    version: 2,
    // Rows stored before this migration get the largest UInt64: unknown, and never a batch start.
    name: 'flows_raw: first offset of the batch each row was inserted with (to complete the rollups of a batch cut short)',
    statements: [
      `ALTER TABLE flows_raw ADD COLUMN IF NOT EXISTS kafka_batch_first UInt64 DEFAULT 18446744073709551615 CODEC(Delta, ZSTD) AFTER kafka_offset`,
    ],
  },
  {
    version: 3,
    // Read by the API (tokens, audit) and, for suppressions, by the detector: docs/api.md.
    name: 'api: bearer tokens (hashed), the audit log of state changes, alert suppressions',
    statements: [
      `CREATE TABLE IF NOT EXISTS api_tokens (
        id String,
        name String,
        role LowCardinality(String),
        supplier_id LowCardinality(String),
        secret_sha256 String,
        created_at DateTime64(3, 'UTC'),
        created_by String,
        expires_at Nullable(DateTime64(3, 'UTC')),
        revoked_at Nullable(DateTime64(3, 'UTC')),
        revoked_by String,
        version UInt64
      ) ENGINE = ReplacingMergeTree(version)
      ORDER BY id`,
      `CREATE TABLE IF NOT EXISTS audit_log (
        at DateTime64(3, 'UTC'),
        id String,
        actor String,
        actor_token_id String,
        role LowCardinality(String),
        supplier_id LowCardinality(String),
        action LowCardinality(String),
        target_kind LowCardinality(String),
        target_id String,
        outcome LowCardinality(String),
        detail String,
        client_addr String
      ) ENGINE = MergeTree
      PARTITION BY toYYYYMM(at)
      ORDER BY (at, id)`,
      `CREATE TABLE IF NOT EXISTS suppressions (
        id String,
        types Array(LowCardinality(String)),
        entities Array(String),
        organisations Array(String),
        groups Array(String),
        suppliers Array(String),
        reason String,
        alert_id String,
        created_by String,
        created_at DateTime64(3, 'UTC'),
        expires_at Nullable(DateTime64(3, 'UTC')),
        deleted UInt8,
        updated_by String,
        updated_at DateTime64(3, 'UTC'),
        version UInt64
      ) ENGINE = ReplacingMergeTree(version)
      ORDER BY id`,
    ],
  },
  {
    version: 4,
    // Measured: merges of the old key cost 40 % of the aggregator's CPU (docs/benchmarks.md, "Merges
    // are the sorting key's"). A key cannot be altered: the table is rebuilt (rebuild.ts).
    name: 'flows_raw: ordered by reception time alone (rebuilt; merges of the old key were the largest cost of storing flows)',
    statements: [],
    step: rebuildRawStep('time_received', 'm4'),
  },
];

export interface Retention {
  rawDays: number;
  minuteDays: number;
  hourDays: number;
}

/**
 * Applies the configured retention (TTL) to the flow tables. Idempotent, run at every start after
 * the migrations, so retention is configuration, not schema.
 */
export async function applyRetention(client: ClickHouseClient, r: Retention, cluster?: ClusterTarget): Promise<void> {
  const ttl = [
    ['flows_raw', `toDateTime(time_received) + INTERVAL ${days(r.rawDays)} DAY`],
    ['flows_1m', `ts + INTERVAL ${days(r.minuteDays)} DAY`],
    ['flows_1h', `ts + INTERVAL ${days(r.hourDays)} DAY`],
  ] as const;
  for (const [table, expr] of ttl) {
    // On a cluster the TTL belongs to the local tables on every node (a Distributed table has none).
    const query = cluster ? clusterTtlStatement(table, expr, cluster) : `ALTER TABLE ${table} MODIFY TTL ${expr}`;
    await client.command({ query, clickhouse_settings: { materialize_ttl_after_modify: 0 } });
  }
}

function days(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 36_500) throw new Error(`retention of ${n} days is out of range`);
  return n;
}

/** The migrations for a connection: SCHEMA as written on one node, or translated for its cluster. */
export function schemaFor(cluster: ClusterTarget | undefined): readonly Migration[] {
  return cluster ? clusterMigrations(SCHEMA, cluster) : SCHEMA;
}

/**
 * A `suppressions` row as JSONEachRow gives it (migration 3): written by the API, read by the API
 * and by the detector. DateTime64 arrives as text, UInt64 as text or a number.
 */
export interface SuppressionRow {
  id: string;
  types: string[];
  entities: string[];
  organisations: string[];
  groups: string[];
  suppliers: string[];
  reason: string;
  alert_id: string;
  created_by: string;
  created_at: string | number;
  expires_at: string | number | null;
  deleted: number;
  updated_by: string;
  updated_at: string | number;
  version: string | number;
}
