/**
 * Which Information Elements (IPFIX, RFC 7012) / field types (NetFlow v9, RFC 3954 s8) we map to
 * FlowRecord, as small integer handler codes a compiled template dispatches on (no closures on the
 * hot path). NetFlow v9 field types below 128 share IPFIX's numbering, and so do the Cisco NSEL
 * types we use (225-228), so one table serves both.
 */

// Handler codes. Numbers, not an enum, so that `switch` compiles to a jump table.
export const H = {
  SKIP: 0,
  BYTES: 1,
  PACKETS: 2,
  PROTO: 3,
  TOS: 4,
  TCP_FLAGS: 5,
  SRC_PORT: 6,
  SRC_ADDR: 7,
  SRC_NET: 8,
  IN_IF: 9,
  DST_PORT: 10,
  DST_ADDR: 11,
  DST_NET: 12,
  OUT_IF: 13,
  NEXT_HOP: 14,
  SRC_AS: 15,
  DST_AS: 16,
  BGP_NEXT_HOP: 17,
  END_UPTIME: 18,
  START_UPTIME: 19,
  FLOW_LABEL: 20,
  ICMP_TYPE_CODE: 21,
  ICMP_TYPE: 22,
  ICMP_CODE: 23,
  SAMPLING_INTERVAL: 24,
  SAMPLER_ID: 25,
  PKT_INTERVAL: 26,
  PKT_SPACE: 27,
  SRC_MAC: 28,
  DST_MAC: 29,
  SRC_VLAN: 30,
  DST_VLAN: 31,
  IP_VERSION: 32,
  DIRECTION: 33,
  MPLS_LABEL: 34,
  FORWARDING_STATUS: 35,
  TTL: 36,
  POST_NAT_SRC_ADDR: 37,
  POST_NAT_DST_ADDR: 38,
  POST_NAT_SRC_PORT: 39,
  POST_NAT_DST_PORT: 40,
  OBS_POINT: 41,
  START_SEC: 42,
  END_SEC: 43,
  START_MS: 44,
  END_MS: 45,
  START_NTP: 46, // micro- and nanoseconds, NTP format (RFC 7011 s6.1.9, s6.1.10)
  END_NTP: 47,
  START_DELTA_US: 48,
  END_DELTA_US: 49,
  SYS_INIT_MS: 50,
  DURATION_MS: 51,
  DURATION_US: 52,
  REV_BYTES: 53,
  REV_PACKETS: 54,
  REV_TCP_FLAGS: 55,
  SAMPLING_SIZE: 56,
  SAMPLING_POPULATION: 57,
  SAMPLING_PROBABILITY: 58,
  NEXT_HOP_AS: 59,
  DATALINK_SECTION: 60, // dataLinkFrameSection (315): an Ethernet frame's first bytes
  IP_SECTION: 61, // ipHeaderPacketSection (313): an IP packet's first bytes
} as const;

/** RFC 5103 s6.1: reverse Information Elements are the forward ones under this enterprise number. */
export const REVERSE_PEN = 29305;

/** A template field as it appeared on the wire. `length` 65535 is variable-length (IPFIX only). */
export interface FieldSpec {
  id: number;
  length: number;
  enterprise: number;
}

/** Fields where a fallback applies only when the preferred IE is absent from the template. */
function pick(present: Set<number>, id: number, preferred: number[]): boolean {
  for (const p of preferred) {
    if (p === id) return true;
    if (present.has(p)) return false;
  }
  return true;
}

/**
 * The handler for one field, given the set of (non-enterprise) ids in its template. Lengths are
 * checked here once so handlers can trust them: addresses need exactly 4/16 bytes, MACs 6,
 * integers 1 to 8 (reduced-size encoding, RFC 7011 s6.2).
 */
export function handlerFor(f: FieldSpec, present: Set<number>): number {
  const len = f.length;
  const int = len >= 1 && len <= 8;
  if (f.enterprise !== 0) {
    if (f.enterprise !== REVERSE_PEN || !int) return H.SKIP;
    switch (f.id) {
      case 1:
      case 85:
        return H.REV_BYTES;
      case 2:
      case 86:
        return H.REV_PACKETS;
      case 6:
        return H.REV_TCP_FLAGS;
      default:
        return H.SKIP;
    }
  }
  const addr = len === 4 || len === 16;
  switch (f.id) {
    // octetDeltaCount > octetTotalCount > v9 OUT_BYTES > NSEL initiatorOctets
    case 1:
    case 85:
    case 23:
    case 231:
      return int && pick(present, f.id, [1, 85, 23, 231]) ? H.BYTES : H.SKIP;
    case 2:
    case 86:
    case 24:
    case 298:
      return int && pick(present, f.id, [2, 86, 24, 298]) ? H.PACKETS : H.SKIP;
    // NSEL responderOctets and responderPackets (Cisco ASA/FTD): the reply direction of the
    // connection the record describes, read as RFC 5103's reverse counters (a second record).
    case 232:
      return int ? H.REV_BYTES : H.SKIP;
    case 299:
      return int ? H.REV_PACKETS : H.SKIP;
    case 4:
      return int ? H.PROTO : H.SKIP;
    case 5:
      return int ? H.TOS : H.SKIP;
    case 6:
      return int ? H.TCP_FLAGS : H.SKIP;
    case 7:
      return int ? H.SRC_PORT : H.SKIP;
    case 8:
    case 27:
      return addr ? H.SRC_ADDR : H.SKIP;
    case 9:
    case 29:
      return int ? H.SRC_NET : H.SKIP;
    // ingressInterface > ingressPhysicalInterface; the same for egress.
    case 10:
    case 252:
      return int && pick(present, f.id, [10, 252]) ? H.IN_IF : H.SKIP;
    case 11:
      return int ? H.DST_PORT : H.SKIP;
    case 12:
    case 28:
      return addr ? H.DST_ADDR : H.SKIP;
    case 13:
    case 30:
      return int ? H.DST_NET : H.SKIP;
    case 14:
    case 253:
      return int && pick(present, f.id, [14, 253]) ? H.OUT_IF : H.SKIP;
    case 15:
    case 62:
      return addr ? H.NEXT_HOP : H.SKIP;
    case 16:
      return int ? H.SRC_AS : H.SKIP;
    case 17:
      return int ? H.DST_AS : H.SKIP;
    case 18:
    case 63:
      return addr ? H.BGP_NEXT_HOP : H.SKIP;
    case 128: // bgpNextAdjacentAsNumber
      return int ? H.NEXT_HOP_AS : H.SKIP;
    case 21:
      return int ? H.END_UPTIME : H.SKIP;
    case 22:
      return int ? H.START_UPTIME : H.SKIP;
    case 31:
      return int ? H.FLOW_LABEL : H.SKIP;
    case 32:
    case 139:
      return int && len >= 2 ? H.ICMP_TYPE_CODE : H.SKIP;
    case 176: // icmpTypeIPv4
    case 178: // icmpTypeIPv6
      return int && !present.has(32) && !present.has(139) ? H.ICMP_TYPE : H.SKIP;
    case 177: // icmpCodeIPv4
    case 179: // icmpCodeIPv6
      return int && !present.has(32) && !present.has(139) ? H.ICMP_CODE : H.SKIP;
    case 34: // samplingInterval
    case 50: // samplerRandomInterval
      return int ? H.SAMPLING_INTERVAL : H.SKIP;
    case 48: // flowSamplerId / FLOW_SAMPLER_ID
    case 302: // selectorId
      return int ? H.SAMPLER_ID : H.SKIP;
    case 305:
      return int ? H.PKT_INTERVAL : H.SKIP;
    case 306:
      return int ? H.PKT_SPACE : H.SKIP;
    case 309:
      return int ? H.SAMPLING_SIZE : H.SKIP;
    case 310:
      return int ? H.SAMPLING_POPULATION : H.SKIP;
    case 311:
      return len === 4 || len === 8 ? H.SAMPLING_PROBABILITY : H.SKIP;
    // sourceMacAddress > postSourceMacAddress; destinationMacAddress > postDestinationMacAddress
    case 56:
    case 81:
      return len === 6 && pick(present, f.id, [56, 81]) ? H.SRC_MAC : H.SKIP;
    case 80:
    case 57:
      return len === 6 && pick(present, f.id, [80, 57]) ? H.DST_MAC : H.SKIP;
    // vlanId > dot1qVlanId; postVlanId > postDot1qVlanId
    case 58:
    case 243:
      return int && pick(present, f.id, [58, 243]) ? H.SRC_VLAN : H.SKIP;
    case 59:
    case 254:
      return int && pick(present, f.id, [59, 254]) ? H.DST_VLAN : H.SKIP;
    case 60:
      return int ? H.IP_VERSION : H.SKIP;
    case 61:
      return int ? H.DIRECTION : H.SKIP;
    case 70:
      return len === 3 ? H.MPLS_LABEL : H.SKIP;
    case 89:
      return int ? H.FORWARDING_STATUS : H.SKIP;
    // ipTTL > maximumTTL > minimumTTL
    case 192:
    case 53:
    case 52:
      return int && pick(present, f.id, [192, 53, 52]) ? H.TTL : H.SKIP;
    case 225: // postNATSourceIPv4Address / NF_F_XLATE_SRC_ADDR_IPV4
    case 281: // postNATSourceIPv6Address
    case 40001: // NF_F_XLATE_SRC_ADDR_IPV4 of older Cisco ASA NSEL (v9 only: IPFIX ids are 15-bit)
      return addr ? H.POST_NAT_SRC_ADDR : H.SKIP;
    case 226:
    case 282:
    case 40002:
      return addr ? H.POST_NAT_DST_ADDR : H.SKIP;
    case 227:
    case 40003:
      return int ? H.POST_NAT_SRC_PORT : H.SKIP;
    case 228:
    case 40004:
      return int ? H.POST_NAT_DST_PORT : H.SKIP;
    case 138:
      return int ? H.OBS_POINT : H.SKIP;
    case 150:
      return int ? H.START_SEC : H.SKIP;
    case 151:
      return int ? H.END_SEC : H.SKIP;
    case 152:
      return int ? H.START_MS : H.SKIP;
    case 153:
      return int ? H.END_MS : H.SKIP;
    case 154:
    case 156:
      return len === 8 ? H.START_NTP : H.SKIP;
    case 155:
    case 157:
      return len === 8 ? H.END_NTP : H.SKIP;
    case 158:
      return int ? H.START_DELTA_US : H.SKIP;
    case 159:
      return int ? H.END_DELTA_US : H.SKIP;
    case 160:
      return int ? H.SYS_INIT_MS : H.SKIP;
    case 161:
      return int ? H.DURATION_MS : H.SKIP;
    case 162:
      return int ? H.DURATION_US : H.SKIP;
    case 315:
      return len > 0 ? H.DATALINK_SECTION : H.SKIP;
    case 313:
      return len > 0 ? H.IP_SECTION : H.SKIP;
    default:
      return H.SKIP;
  }
}
