import { z } from 'zod';

/**
 * The normalised flow record every decoder produces and every consumer reads: goflow2's JSON field
 * names and units, plus flowwatch's `supplier_id` and `exporter_id`.
 *
 * - Times are nanoseconds since the Unix epoch as JS numbers (float64: exact to 256 ns at today's
 *   epoch, which is finer than any flow exporter's clock).
 * - `bytes` and `packets` are as reported by the exporter, not scaled; `sampling_rate` (1 when
 *   unsampled, 0 when unknown) lets consumers scale.
 * - Addresses are strings: IPv4 dotted quad, IPv6 compressed (RFC 5952); '' when absent.
 * - `proto` is the IANA protocol number; `etype` the EtherType (0x0800 = 2048, 0x86dd = 34525).
 * - Absent numeric fields are 0, so every record has the same shape.
 */
export const FLOW_TYPES = ['NETFLOW_V5', 'NETFLOW_V9', 'IPFIX', 'SFLOW_5', 'JSON'] as const;
export type FlowType = (typeof FLOW_TYPES)[number];

export interface FlowRecord {
  type: FlowType;
  time_received_ns: number;
  sequence_num: number;
  sampling_rate: number;
  sampler_address: string;
  time_flow_start_ns: number;
  time_flow_end_ns: number;
  bytes: number;
  packets: number;
  src_addr: string;
  dst_addr: string;
  etype: number;
  proto: number;
  src_port: number;
  dst_port: number;
  in_if: number;
  out_if: number;
  src_mac: string;
  dst_mac: string;
  src_vlan: number;
  dst_vlan: number;
  vlan_id: number;
  ip_tos: number;
  forwarding_status: number;
  ip_ttl: number;
  tcp_flags: number;
  icmp_type: number;
  icmp_code: number;
  ipv6_flow_label: number;
  src_as: number;
  dst_as: number;
  next_hop: string;
  next_hop_as: number;
  bgp_next_hop: string;
  src_net: number;
  dst_net: number;
  observation_domain_id: number;
  observation_point_id: number;
  /** 0 ingress, 1 egress (IPFIX flowDirection); 0 when unknown. */
  flow_direction: number;
  /** Post-NAT addresses and ports where the exporter reports them (NSEL, IPFIX NAT IEs). */
  post_nat_src_addr: string;
  post_nat_dst_addr: string;
  post_nat_src_port: number;
  post_nat_dst_port: number;
  mpls_label: number;
  supplier_id: string;
  exporter_id: string;
}

/** A record with every field at its absent value; decoders copy and fill it. */
export function emptyFlow(type: FlowType): FlowRecord {
  return {
    type,
    time_received_ns: 0,
    sequence_num: 0,
    sampling_rate: 0,
    sampler_address: '',
    time_flow_start_ns: 0,
    time_flow_end_ns: 0,
    bytes: 0,
    packets: 0,
    src_addr: '',
    dst_addr: '',
    etype: 0,
    proto: 0,
    src_port: 0,
    dst_port: 0,
    in_if: 0,
    out_if: 0,
    src_mac: '',
    dst_mac: '',
    src_vlan: 0,
    dst_vlan: 0,
    vlan_id: 0,
    ip_tos: 0,
    forwarding_status: 0,
    ip_ttl: 0,
    tcp_flags: 0,
    icmp_type: 0,
    icmp_code: 0,
    ipv6_flow_label: 0,
    src_as: 0,
    dst_as: 0,
    next_hop: '',
    next_hop_as: 0,
    bgp_next_hop: '',
    src_net: 0,
    dst_net: 0,
    observation_domain_id: 0,
    observation_point_id: 0,
    flow_direction: 0,
    post_nat_src_addr: '',
    post_nat_dst_addr: '',
    post_nat_src_port: 0,
    post_nat_dst_port: 0,
    mpls_label: 0,
    supplier_id: '',
    exporter_id: '',
  };
}

const u8 = z.number().int().min(0).max(0xff);
const u16 = z.number().int().min(0).max(0xffff);
const u32 = z.number().int().min(0).max(0xffff_ffff);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const timeNs = z.number().min(0).max(4_102_444_800e9); // up to 2100-01-01
const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const address = z
  .string()
  .max(45)
  .refine((s) => s === '' || ipv4.test(s) || isIPv6(s), 'an IPv4 or IPv6 address');
const mac = z.string().regex(/^$|^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i, 'a MAC address like 00:11:22:33:44:55');

function isIPv6(s: string): boolean {
  if (!s.includes(':') || !/^[0-9a-fA-F:.]+$/.test(s)) return false;
  try {
    return new URL(`http://[${s}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}

/**
 * The record as pushed by suppliers over HTTPS (JSON, same field names). Only the addresses, and
 * bytes or packets, are required; everything else defaults to absent. Unknown fields are refused
 * so a misspelt field is reported, not dropped.
 */
export const pushedFlowSchema = z.strictObject({
  type: z.enum(FLOW_TYPES).default('JSON'),
  time_received_ns: timeNs.optional(),
  sequence_num: u32.default(0),
  sampling_rate: u32.default(1),
  sampler_address: address.default(''),
  time_flow_start_ns: timeNs.default(0),
  time_flow_end_ns: timeNs.default(0),
  bytes: count,
  packets: count,
  src_addr: address.refine((s) => s !== '', 'required'),
  dst_addr: address.refine((s) => s !== '', 'required'),
  etype: u16.default(0),
  proto: u8,
  src_port: u16.default(0),
  dst_port: u16.default(0),
  in_if: u32.default(0),
  out_if: u32.default(0),
  src_mac: mac.default(''),
  dst_mac: mac.default(''),
  src_vlan: u16.default(0),
  dst_vlan: u16.default(0),
  vlan_id: u16.default(0),
  ip_tos: u8.default(0),
  forwarding_status: u8.default(0),
  ip_ttl: u8.default(0),
  tcp_flags: u16.default(0),
  icmp_type: u8.default(0),
  icmp_code: u8.default(0),
  ipv6_flow_label: u32.default(0),
  src_as: u32.default(0),
  dst_as: u32.default(0),
  next_hop: address.default(''),
  next_hop_as: u32.default(0),
  bgp_next_hop: address.default(''),
  src_net: u8.default(0),
  dst_net: u8.default(0),
  observation_domain_id: u32.default(0),
  observation_point_id: u32.default(0),
  flow_direction: u8.default(0),
  post_nat_src_addr: address.default(''),
  post_nat_dst_addr: address.default(''),
  post_nat_src_port: u16.default(0),
  post_nat_dst_port: u16.default(0),
  mpls_label: u32.default(0),
  supplier_id: z.string().max(64).optional(),
  exporter_id: z.string().max(64).optional(),
});
export type PushedFlow = z.infer<typeof pushedFlowSchema>;
