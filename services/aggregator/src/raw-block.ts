import { NativeColumn, type NativeType } from '@flowwatch/clickhouse';
import type { EnrichedFlow } from '@flowwatch/enrichment';
import { RAW_COLUMNS } from './raw-row.js';

const TIME = "DateTime64(3, 'UTC')" as const;

/**
 * The Native type each flows_raw column is sent as. LowCardinality(String) columns go as String
 * (ClickHouse converts them on insert); the rest as stored.
 */
export const RAW_TYPES = {
  time_received: TIME,
  time_flow_start: TIME,
  time_flow_end: TIME,
  type: 'String',
  supplier_id: 'String',
  exporter_id: 'String',
  sampler_address: 'String',
  sequence_num: 'UInt32',
  sampling_rate: 'UInt32',
  src_addr: 'IPv6',
  dst_addr: 'IPv6',
  src_port: 'UInt16',
  dst_port: 'UInt16',
  proto: 'UInt8',
  etype: 'UInt16',
  tcp_flags: 'UInt16',
  icmp_type: 'UInt8',
  icmp_code: 'UInt8',
  ip_tos: 'UInt8',
  bytes: 'UInt64',
  packets: 'UInt64',
  bytes_est: 'UInt64',
  packets_est: 'UInt64',
  in_if: 'UInt32',
  out_if: 'UInt32',
  vlan_id: 'UInt16',
  src_as: 'UInt32',
  dst_as: 'UInt32',
  next_hop: 'String',
  src_org: 'String',
  dst_org: 'String',
  src_org_supplier: 'String',
  dst_org_supplier: 'String',
  service: 'String',
  direction: 'String',
  kafka_topic: 'String',
  kafka_partition: 'UInt16',
  kafka_offset: 'UInt64',
  kafka_batch_first: 'UInt64',
} as const satisfies Record<(typeof RAW_COLUMNS)[number], NativeType>;

/** ns since the epoch -> ms, as DateTime64(3) stores it; unknown or invalid times are the epoch. */
export function nsToMs(ns: number): number {
  const ms = Math.floor(ns / 1e6);
  return Number.isFinite(ms) && ms > 0 && ms <= 8.64e15 ? ms : 0;
}

/**
 * Rows of flows_raw built column by column for one Native insert, straight from enriched flows
 * (no row objects, no date or address text). Same columns and values as toRawRow + TSV wrote.
 */
export class RawBlock {
  readonly columns: NativeColumn[];
  private readonly c: Record<(typeof RAW_COLUMNS)[number], NativeColumn>;

  constructor(capacity = 1024) {
    this.c = Object.fromEntries(RAW_COLUMNS.map((name) => [name, new NativeColumn(name, RAW_TYPES[name], capacity)])) as Record<
      (typeof RAW_COLUMNS)[number],
      NativeColumn
    >;
    this.columns = RAW_COLUMNS.map((name) => this.c[name]);
  }

  get rows(): number {
    return this.c.time_received.rows;
  }

  append(f: EnrichedFlow, topic: string, partition: number, offset: string, batchFirst: string): void {
    const c = this.c;
    c.time_received.number(nsToMs(f.time_received_ns));
    c.time_flow_start.number(nsToMs(f.time_flow_start_ns));
    c.time_flow_end.number(nsToMs(f.time_flow_end_ns));
    c.type.text(f.type);
    c.supplier_id.text(f.supplier_id);
    c.exporter_id.text(f.exporter_id);
    c.sampler_address.text(f.sampler_address);
    c.sequence_num.number(f.sequence_num);
    c.sampling_rate.number(f.sampling_rate);
    c.src_addr.address(f.src_addr);
    c.dst_addr.address(f.dst_addr);
    c.src_port.number(f.src_port);
    c.dst_port.number(f.dst_port);
    c.proto.number(f.proto);
    c.etype.number(f.etype);
    c.tcp_flags.number(f.tcp_flags);
    c.icmp_type.number(f.icmp_type);
    c.icmp_code.number(f.icmp_code);
    c.ip_tos.number(f.ip_tos);
    c.bytes.number(f.bytes);
    c.packets.number(f.packets);
    c.bytes_est.number(f.bytes_est);
    c.packets_est.number(f.packets_est);
    c.in_if.number(f.in_if);
    c.out_if.number(f.out_if);
    c.vlan_id.number(f.vlan_id);
    c.src_as.number(f.src_as);
    c.dst_as.number(f.dst_as);
    c.next_hop.text(f.next_hop);
    c.src_org.text(f.src_org);
    c.dst_org.text(f.dst_org);
    c.src_org_supplier.text(f.src_org_supplier);
    c.dst_org_supplier.text(f.dst_org_supplier);
    c.service.text(f.service);
    c.direction.text(f.direction);
    c.kafka_topic.text(topic);
    c.kafka_partition.number(partition);
    c.kafka_offset.decimal(offset);
    c.kafka_batch_first.decimal(batchFirst);
  }
}
