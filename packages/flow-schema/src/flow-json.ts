import type { FlowRecord } from './flow-record.js';

/**
 * JSON for one FlowRecord, written field by field: about 5 times faster than JSON.stringify on
 * these 46-field objects, which matters at 200,000 records per second. Numbers are written as
 * they are (decoders and the push validator only produce finite integers). Addresses and MACs are
 * written between quotes as they are, because decoders format them from bytes and the push
 * validator checks them against strict patterns; the free-text ids go through JSON.stringify. A test checks the output parses back to the record
 * with every FlowRecord field, so a field added to FlowRecord and not here fails it.
 */
export function flowToJson(r: FlowRecord): string {
  return (
    '{"type":"' +
    r.type +
    '","time_received_ns":' +
    r.time_received_ns +
    ',"sequence_num":' +
    r.sequence_num +
    ',"sampling_rate":' +
    r.sampling_rate +
    ',"sampler_address":"' +
    r.sampler_address +
    '","time_flow_start_ns":' +
    r.time_flow_start_ns +
    ',"time_flow_end_ns":' +
    r.time_flow_end_ns +
    ',"bytes":' +
    r.bytes +
    ',"packets":' +
    r.packets +
    ',"src_addr":"' +
    r.src_addr +
    '","dst_addr":"' +
    r.dst_addr +
    '","etype":' +
    r.etype +
    ',"proto":' +
    r.proto +
    ',"src_port":' +
    r.src_port +
    ',"dst_port":' +
    r.dst_port +
    ',"in_if":' +
    r.in_if +
    ',"out_if":' +
    r.out_if +
    ',"src_mac":"' +
    r.src_mac +
    '","dst_mac":"' +
    r.dst_mac +
    '","src_vlan":' +
    r.src_vlan +
    ',"dst_vlan":' +
    r.dst_vlan +
    ',"vlan_id":' +
    r.vlan_id +
    ',"ip_tos":' +
    r.ip_tos +
    ',"forwarding_status":' +
    r.forwarding_status +
    ',"ip_ttl":' +
    r.ip_ttl +
    ',"tcp_flags":' +
    r.tcp_flags +
    ',"icmp_type":' +
    r.icmp_type +
    ',"icmp_code":' +
    r.icmp_code +
    ',"ipv6_flow_label":' +
    r.ipv6_flow_label +
    ',"src_as":' +
    r.src_as +
    ',"dst_as":' +
    r.dst_as +
    ',"next_hop":"' +
    r.next_hop +
    '","next_hop_as":' +
    r.next_hop_as +
    ',"bgp_next_hop":"' +
    r.bgp_next_hop +
    '","src_net":' +
    r.src_net +
    ',"dst_net":' +
    r.dst_net +
    ',"observation_domain_id":' +
    r.observation_domain_id +
    ',"observation_point_id":' +
    r.observation_point_id +
    ',"flow_direction":' +
    r.flow_direction +
    ',"post_nat_src_addr":"' +
    r.post_nat_src_addr +
    '","post_nat_dst_addr":"' +
    r.post_nat_dst_addr +
    '","post_nat_src_port":' +
    r.post_nat_src_port +
    ',"post_nat_dst_port":' +
    r.post_nat_dst_port +
    ',"mpls_label":' +
    r.mpls_label +
    ',"supplier_id":' +
    JSON.stringify(r.supplier_id) +
    ',"exporter_id":' +
    JSON.stringify(r.exporter_id) +
    '}'
  );
}
