/**
 * The whitelists every query is built from. Input names a field, a dimension or a metric; only
 * these maps turn a name into SQL, so no text from a request ever becomes SQL. Values always
 * travel as `query_params` of the ClickHouse type given here.
 */

export const FLOW_TABLES = ['flows_1h', 'flows_1m', 'flows_raw'] as const;
export type FlowTable = (typeof FLOW_TABLES)[number];

/** ClickHouse types of the values a filter or a grouping key carries. */
export type ValueType = 'String' | 'UInt8' | 'UInt16' | 'UInt32' | 'UInt64' | 'IPv6';

export interface FieldDef {
  /** flows_raw columns the field reads; two for the either-side fields (`org`, `addr`). */
  columns: readonly string[];
  type: ValueType;
  /** The rollups (flows_1m, flows_1h) have the columns too: they are aggregation keys there. */
  rollup: boolean;
  description: string;
}

const f = (columns: string | readonly string[], type: ValueType, rollup: boolean, description: string): FieldDef => ({
  columns: typeof columns === 'string' ? [columns] : columns,
  type,
  rollup,
  description,
});

/** Fields a `where` filter may name (equality; addresses also match a CIDR prefix). */
export const FILTER_FIELDS = {
  supplier_id: f('supplier_id', 'String', true, 'supplier whose exporter reported the flow'),
  src_org: f('src_org', 'String', true, 'organisation code of the source address'),
  dst_org: f('dst_org', 'String', true, 'organisation code of the destination address'),
  org: f(['src_org', 'dst_org'], 'String', true, 'organisation code of either end'),
  src_org_supplier: f('src_org_supplier', 'String', true, "supplier of the source's organisation"),
  dst_org_supplier: f('dst_org_supplier', 'String', true, "supplier of the destination's organisation"),
  service: f('service', 'String', true, 'national service id'),
  direction: f('direction', 'String', true, 'internal, cross_org, cross_supplier, to_internet, from_internet, external'),
  proto: f('proto', 'UInt8', true, 'IP protocol number or name (tcp, udp, icmp, ...)'),
  dst_port: f('dst_port', 'UInt16', true, 'destination port'),
  src_addr: f('src_addr', 'IPv6', false, 'source address or CIDR prefix (IPv4 or IPv6)'),
  dst_addr: f('dst_addr', 'IPv6', false, 'destination address or CIDR prefix'),
  addr: f(['src_addr', 'dst_addr'], 'IPv6', false, 'address or CIDR prefix of either end'),
  src_port: f('src_port', 'UInt16', false, 'source port'),
  type: f('type', 'String', false, 'export protocol: NETFLOW_V5, NETFLOW_V9, IPFIX, SFLOW_5, JSON'),
  exporter_id: f('exporter_id', 'String', false, 'exporter (router) id within its supplier'),
  sampler_address: f('sampler_address', 'String', false, 'address of the exporter'),
  sampling_rate: f('sampling_rate', 'UInt32', false, 'sampling rate reported'),
  etype: f('etype', 'UInt16', false, 'EtherType (2048 IPv4, 34525 IPv6)'),
  tcp_flags: f('tcp_flags', 'UInt16', false, 'TCP flags (OR of the packets)'),
  icmp_type: f('icmp_type', 'UInt8', false, 'ICMP type'),
  icmp_code: f('icmp_code', 'UInt8', false, 'ICMP code'),
  ip_tos: f('ip_tos', 'UInt8', false, 'IP type of service'),
  in_if: f('in_if', 'UInt32', false, 'input interface index'),
  out_if: f('out_if', 'UInt32', false, 'output interface index'),
  vlan_id: f('vlan_id', 'UInt16', false, 'VLAN id'),
  src_as: f('src_as', 'UInt32', false, 'source AS'),
  dst_as: f('dst_as', 'UInt32', false, 'destination AS'),
  next_hop: f('next_hop', 'String', false, 'next hop'),
  kafka_partition: f('kafka_partition', 'UInt16', false, 'Kafka partition the flow came from'),
  kafka_offset: f('kafka_offset', 'UInt64', false, 'Kafka offset of its message'),
} as const satisfies Record<string, FieldDef>;
export type FilterField = keyof typeof FILTER_FIELDS;

/** Other names accepted for a filter field (the `by` dimension is called `supplier`). */
export const FIELD_ALIASES: Readonly<Record<string, FilterField>> = { supplier: 'supplier_id', host: 'addr' };

/**
 * Dimensions a time series can be split `by` and a top-N ranks: one key column each, or a pair.
 * Output names are these keys (`supplier` for the `supplier_id` column).
 */
export interface DimensionDef {
  /** Output name -> filter field (and so column and type) of each part of the key. */
  parts: readonly { name: string; field: FilterField }[];
  description: string;
}

const d = (description: string, ...parts: [name: string, field: FilterField][]): DimensionDef => ({
  parts: parts.map(([name, field]) => ({ name, field })),
  description,
});

export const DIMENSIONS = {
  supplier: d("exporter's supplier", ['supplier', 'supplier_id']),
  src_org: d('source organisation', ['src_org', 'src_org']),
  dst_org: d('destination organisation', ['dst_org', 'dst_org']),
  src_org_supplier: d("source organisation's supplier", ['src_org_supplier', 'src_org_supplier']),
  dst_org_supplier: d("destination organisation's supplier", ['dst_org_supplier', 'dst_org_supplier']),
  service: d('national service', ['service', 'service']),
  direction: d('direction', ['direction', 'direction']),
  proto: d('IP protocol', ['proto', 'proto']),
  dst_port: d('destination port', ['dst_port', 'dst_port']),
  src_addr: d('source host', ['src_addr', 'src_addr']),
  dst_addr: d('destination host', ['dst_addr', 'dst_addr']),
  src_port: d('source port', ['src_port', 'src_port']),
  exporter_id: d('exporter', ['exporter_id', 'exporter_id']),
  org_pair: d('organisation pair', ['src_org', 'src_org'], ['dst_org', 'dst_org']),
  supplier_pair: d('organisation supplier pair', ['src_org_supplier', 'src_org_supplier'], ['dst_org_supplier', 'dst_org_supplier']),
  host_pair: d('host pair', ['src_addr', 'src_addr'], ['dst_addr', 'dst_addr']),
  service_port: d('service and destination port', ['service', 'service'], ['dst_port', 'dst_port']),
} as const satisfies Record<string, DimensionDef>;
export type Dimension = keyof typeof DIMENSIONS;

/** Dimensions a time series can be split by: the single-column ones. */
export const SERIES_DIMENSIONS = (Object.keys(DIMENSIONS) as Dimension[]).filter((k) => DIMENSIONS[k].parts.length === 1);

export const METRICS = ['bytes', 'packets', 'bytes_est', 'packets_est', 'flows', 'src_addrs', 'dst_addrs'] as const;
export type Metric = (typeof METRICS)[number];
export type Metrics = Record<Metric, number>;
/**
 * The metrics a query was asked for (`metrics`; every one by default). The distinct-address counts
 * cost most (merging sketches): a caller that does not show them leaves them out.
 */
export type MetricValues = Partial<Metrics>;

/** The metrics asked for (every one when not said) plus the one that orders the answer, in METRICS order. */
export function metricsWith(ordering: Metric, asked: readonly Metric[] = METRICS): Metric[] {
  return METRICS.filter((m) => m === ordering || asked.includes(m));
}

/**
 * The aggregate of each metric per table. In the rollups the sums are `SimpleAggregateFunction`
 * columns (summed again, as rows of one key may not be merged yet) and the distinct counts `uniq`
 * states, merged; flows_raw computes the same from the rows. `uniq` over the rows and `uniqMerge`
 * of the states give the same number (the sketch keeps hashes chosen by value, not by arrival).
 */
export const METRIC_SQL: Record<'raw' | 'rollup', Record<Metric, string>> = {
  raw: {
    bytes: 'sum(bytes)',
    packets: 'sum(packets)',
    bytes_est: 'sum(bytes_est)',
    packets_est: 'sum(packets_est)',
    flows: 'count()',
    src_addrs: 'uniq(src_addr)',
    dst_addrs: 'uniq(dst_addr)',
  },
  rollup: {
    bytes: 'sum(bytes)',
    packets: 'sum(packets)',
    bytes_est: 'sum(bytes_est)',
    packets_est: 'sum(packets_est)',
    flows: 'sum(flows)',
    src_addrs: 'uniqMerge(src_addrs)',
    dst_addrs: 'uniqMerge(dst_addrs)',
  },
};

/** IP protocol names accepted for `proto` (IANA numbers). */
export const PROTOCOLS: Readonly<Record<string, number>> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
  gre: 47,
  esp: 50,
  ah: 51,
  icmpv6: 58,
  sctp: 132,
};

/** Fields of a dimension or filter list that only flows_raw has. */
export function rawOnlyFields(fields: Iterable<FilterField>): FilterField[] {
  const out = new Set<FilterField>();
  for (const field of fields) if (!FILTER_FIELDS[field].rollup) out.add(field);
  return [...out];
}

/** An address as people write it: IPv4-mapped IPv6 (how flows_raw stores IPv4) back to IPv4; '::' (absent) to ''. */
export function displayAddress(a: string): string {
  if (a === '::') return '';
  const m = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i.exec(a);
  return m ? (m[1] as string) : a;
}
