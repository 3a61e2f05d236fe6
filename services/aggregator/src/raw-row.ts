import type { EnrichedFlow } from '@flowwatch/enrichment';

/** One row of `flows_raw`, as JSONEachRow wants it. */
export interface RawRow {
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
  /** Offset of the first message of the insert this row belongs to (its token's first offset). */
  kafka_batch_first: string;
}

/** ns since the epoch -> 'YYYY-MM-DD hh:mm:ss.mmm' (UTC), ClickHouse's DateTime64(3) text. */
export function nsToDateTime64(ns: number): string {
  const ms = Math.floor(ns / 1e6);
  if (!Number.isFinite(ms) || ms <= 0) return '1970-01-01 00:00:00.000';
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? '1970-01-01 00:00:00.000' : d.toISOString().slice(0, 23).replace('T', ' ');
}

/** An unknown address is stored as :: (ClickHouse IPv6 columns hold no empty value). */
const address = (a: string) => (a === '' ? '::' : a);

export function toRawRow(f: EnrichedFlow, topic: string, partition: number, offset: string, batchFirst: string): RawRow {
  return {
    time_received: nsToDateTime64(f.time_received_ns),
    time_flow_start: nsToDateTime64(f.time_flow_start_ns),
    time_flow_end: nsToDateTime64(f.time_flow_end_ns),
    type: f.type,
    supplier_id: f.supplier_id,
    exporter_id: f.exporter_id,
    sampler_address: f.sampler_address,
    sequence_num: f.sequence_num,
    sampling_rate: f.sampling_rate,
    src_addr: address(f.src_addr),
    dst_addr: address(f.dst_addr),
    src_port: f.src_port,
    dst_port: f.dst_port,
    proto: f.proto,
    etype: f.etype,
    tcp_flags: f.tcp_flags,
    icmp_type: f.icmp_type,
    icmp_code: f.icmp_code,
    ip_tos: f.ip_tos,
    bytes: f.bytes,
    packets: f.packets,
    bytes_est: f.bytes_est,
    packets_est: f.packets_est,
    in_if: f.in_if,
    out_if: f.out_if,
    vlan_id: f.vlan_id,
    src_as: f.src_as,
    dst_as: f.dst_as,
    next_hop: f.next_hop,
    src_org: f.src_org,
    dst_org: f.dst_org,
    src_org_supplier: f.src_org_supplier,
    dst_org_supplier: f.dst_org_supplier,
    service: f.service,
    direction: f.direction,
    kafka_topic: topic,
    kafka_partition: partition,
    kafka_offset: offset,
    kafka_batch_first: batchFirst,
  };
}

/** The columns of flows_raw the aggregator writes, in the order a RawBlock sends them. */
export const RAW_COLUMNS = [
  'time_received',
  'time_flow_start',
  'time_flow_end',
  'type',
  'supplier_id',
  'exporter_id',
  'sampler_address',
  'sequence_num',
  'sampling_rate',
  'src_addr',
  'dst_addr',
  'src_port',
  'dst_port',
  'proto',
  'etype',
  'tcp_flags',
  'icmp_type',
  'icmp_code',
  'ip_tos',
  'bytes',
  'packets',
  'bytes_est',
  'packets_est',
  'in_if',
  'out_if',
  'vlan_id',
  'src_as',
  'dst_as',
  'next_hop',
  'src_org',
  'dst_org',
  'src_org_supplier',
  'dst_org_supplier',
  'service',
  'direction',
  'kafka_topic',
  'kafka_partition',
  'kafka_offset',
  'kafka_batch_first',
] as const satisfies readonly (keyof RawRow)[];
