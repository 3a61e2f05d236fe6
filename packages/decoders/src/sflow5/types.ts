import type { FlowRecord } from '@flowwatch/flow-schema';
import type { DecodeOutput } from '../common/types.js';

/**
 * sFlow v5 generic interface counters (counter record enterprise 0, format 1; sflow_version_5.txt
 * "if_counters"), with the agent and source they came from. 64-bit counters are JS numbers (exact
 * below 2^53, i.e. 9 PB of octets).
 */
export interface InterfaceCounters {
  /** sFlow agent address (the datagram's, like sampler_address of flows). */
  agentAddress: string;
  subAgentId: number;
  /** Datagram sequence number, and the counter sample's own sequence number. */
  sequenceNum: number;
  sampleSequenceNum: number;
  /** Source of the sample: type (0 ifIndex, 1 VLAN, 2 entity) and index. */
  sourceIdType: number;
  sourceIdIndex: number;
  ifIndex: number;
  ifType: number;
  /** bits per second */
  ifSpeed: number;
  /** 0 unknown, 1 full-duplex, 2 half-duplex, 3 in, 4 out */
  ifDirection: number;
  /** bit 0 admin up, bit 1 oper up */
  ifStatus: number;
  ifInOctets: number;
  ifInUcastPkts: number;
  ifInMulticastPkts: number;
  ifInBroadcastPkts: number;
  ifInDiscards: number;
  ifInErrors: number;
  ifInUnknownProtos: number;
  ifOutOctets: number;
  ifOutUcastPkts: number;
  ifOutMulticastPkts: number;
  ifOutBroadcastPkts: number;
  ifOutDiscards: number;
  ifOutErrors: number;
  ifPromiscuousMode: number;
}

/** What decodeSflowV5WithCounters returns: still a DecodeOutput, plus the interface counters. */
export interface SflowDecodeOutput extends DecodeOutput {
  counters: InterfaceCounters[];
}

/** One flow sample for encodeSflowV5: a raw packet header record built from `flow`. */
export interface SflowFlowSampleInput {
  /**
   * The sampled packet: src/dst MAC, vlan_id (an 802.1Q tag when non-zero), etype (2048 or 34525,
   * default from the address family), src/dst address, proto, ports, tcp_flags, icmp_type/code,
   * ip_tos, ip_ttl, ipv6_flow_label; bytes = frame length (default: the built frame's length).
   * in_if/out_if become input/output; src_vlan/dst_vlan add an extended switch record; next_hop or
   * src_net/dst_net an extended router record; src_as/dst_as an extended gateway record.
   */
  flow: Partial<FlowRecord>;
  /** 1 in N packets (default flow.sampling_rate, else 1). */
  samplingRate?: number;
  samplePool?: number;
  drops?: number;
  /** The sample's own sequence number (default: its index + 1). */
  sequence?: number;
  /** ifIndex of the data source (default in_if). */
  sourceIdIndex?: number;
  /** Expanded flow sample (format 3) instead of the compact one (format 1). */
  expanded?: boolean;
  /** Outer 802.1ad/802.1Q tag before vlan_id's tag (QinQ); 0 or absent = none. */
  outerVlanId?: number;
  /** Bytes of packet header to include (default 128, the usual agent setting). */
  maxHeaderBytes?: number;
}

/** One counter sample for encodeSflowV5, carrying one generic interface counters record. */
export interface SflowCounterSampleInput {
  counters: Partial<Omit<InterfaceCounters, 'agentAddress' | 'subAgentId' | 'sequenceNum'>>;
  /** Expanded counter sample (format 4) instead of the compact one (format 2). */
  expanded?: boolean;
}

export interface SflowDatagramInput {
  /** IPv4 dotted or IPv6 text: agent address type 1 or 2. */
  agentAddress: string;
  subAgentId?: number;
  sequence: number;
  /** ms since the agent booted (uint32). */
  uptimeMs: number;
  flowSamples?: SflowFlowSampleInput[];
  counterSamples?: SflowCounterSampleInput[];
}
