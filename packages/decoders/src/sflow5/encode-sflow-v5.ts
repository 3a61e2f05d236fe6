import type { FlowRecord } from '@flowwatch/flow-schema';
import { ipv4ToBytes, ipv6ToBytes, isIpv6Text, macToBytes } from './address-bytes.js';
import type { InterfaceCounters, SflowCounterSampleInput, SflowDatagramInput, SflowFlowSampleInput } from './types.js';

/**
 * One sFlow v5 datagram (for the simulator and tests): flow samples carrying a raw packet header
 * record (Ethernet, optional 802.1Q/QinQ tags, IPv4 or IPv6, TCP/UDP/ICMP header, no payload) plus
 * extended switch/router/gateway records when the flow has those fields, then counter samples with
 * generic interface counters. Flow samples come first, in input order.
 * Throws RangeError (a caller bug) on an address that does not parse.
 */
export function encodeSflowV5(input: SflowDatagramInput): Uint8Array {
  const w = new XdrWriter();
  w.u32(5);
  writeAddress(w, input.agentAddress);
  w.u32(input.subAgentId ?? 0);
  w.u32(input.sequence);
  w.u32(input.uptimeMs);
  const flowSamples = input.flowSamples ?? [];
  const counterSamples = input.counterSamples ?? [];
  w.u32(flowSamples.length + counterSamples.length);
  for (let i = 0; i < flowSamples.length; i++) writeFlowSample(w, flowSamples[i] as SflowFlowSampleInput, i);
  for (let i = 0; i < counterSamples.length; i++) writeCounterSample(w, counterSamples[i] as SflowCounterSampleInput, i);
  return w.finish();
}

function writeFlowSample(w: XdrWriter, s: SflowFlowSampleInput, index: number): void {
  const f = s.flow;
  const expanded = s.expanded === true;
  w.u32(expanded ? 3 : 1);
  const lenAt = w.reserve();
  const inIf = f.in_if ?? 0;
  const outIf = f.out_if ?? 0;
  w.u32(s.sequence ?? index + 1);
  if (expanded) {
    w.u32(0);
    w.u32(s.sourceIdIndex ?? inIf);
  } else {
    w.u32((s.sourceIdIndex ?? inIf) & 0xffffff);
  }
  w.u32(s.samplingRate ?? (f.sampling_rate || 1));
  w.u32(s.samplePool ?? 0);
  w.u32(s.drops ?? 0);
  if (expanded) {
    w.u32(0);
    w.u32(inIf);
    w.u32(0);
    w.u32(outIf);
  } else {
    w.u32(inIf & 0x3fffffff);
    w.u32(outIf & 0x3fffffff);
  }
  const hasSwitch = (f.src_vlan ?? 0) !== 0 || (f.dst_vlan ?? 0) !== 0;
  const hasRouter = (f.next_hop ?? '') !== '' || (f.src_net ?? 0) !== 0 || (f.dst_net ?? 0) !== 0;
  const hasGateway = (f.src_as ?? 0) !== 0 || (f.dst_as ?? 0) !== 0;
  w.u32(1 + (hasSwitch ? 1 : 0) + (hasRouter ? 1 : 0) + (hasGateway ? 1 : 0));

  const frame = buildFrame(f, s.outerVlanId ?? 0);
  const headerLen = Math.min(frame.length, s.maxHeaderBytes ?? 128);
  w.u32(1); // raw packet header
  const recAt = w.reserve();
  w.u32(1); // header protocol: Ethernet
  w.u32(f.bytes || frame.length); // frame_length
  w.u32(0); // stripped
  w.u32(headerLen);
  w.opaque(frame.subarray(0, headerLen));
  w.fill(recAt);

  if (hasSwitch) {
    w.u32(1001);
    w.u32(16);
    w.u32(f.src_vlan ?? 0);
    w.u32(0);
    w.u32(f.dst_vlan ?? 0);
    w.u32(0);
  }
  if (hasRouter) {
    w.u32(1002);
    const at = w.reserve();
    writeAddress(w, f.next_hop || '0.0.0.0');
    w.u32(f.src_net ?? 0);
    w.u32(f.dst_net ?? 0);
    w.fill(at);
  }
  if (hasGateway) {
    w.u32(1003);
    const at = w.reserve();
    writeAddress(w, f.bgp_next_hop || '0.0.0.0');
    w.u32(0); // own AS
    w.u32(f.src_as ?? 0);
    w.u32(0); // src peer AS
    const path = [f.next_hop_as ?? 0, f.dst_as ?? 0].filter((a) => a !== 0);
    w.u32(1); // one AS_SEQUENCE segment
    w.u32(2);
    w.u32(path.length);
    for (const a of path) w.u32(a);
    w.u32(0); // communities
    w.u32(0); // local pref
    w.fill(at);
  }
  w.fill(lenAt);
}

function writeCounterSample(w: XdrWriter, s: SflowCounterSampleInput, index: number): void {
  const c = s.counters;
  const expanded = s.expanded === true;
  w.u32(expanded ? 4 : 2);
  const lenAt = w.reserve();
  w.u32(c.sampleSequenceNum ?? index + 1);
  if (expanded) {
    w.u32(c.sourceIdType ?? 0);
    w.u32(c.sourceIdIndex ?? c.ifIndex ?? 0);
  } else {
    w.u32((((c.sourceIdType ?? 0) & 0xff) << 24) | ((c.sourceIdIndex ?? c.ifIndex ?? 0) & 0xffffff));
  }
  w.u32(1);
  w.u32(1); // generic interface counters
  w.u32(88);
  const v = (k: keyof InterfaceCounters) => (c[k as keyof typeof c] as number | undefined) ?? 0;
  w.u32(v('ifIndex'));
  w.u32(v('ifType'));
  w.u64(v('ifSpeed'));
  w.u32(v('ifDirection'));
  w.u32(v('ifStatus'));
  w.u64(v('ifInOctets'));
  for (const k of ['ifInUcastPkts', 'ifInMulticastPkts', 'ifInBroadcastPkts', 'ifInDiscards', 'ifInErrors', 'ifInUnknownProtos'] as const)
    w.u32(v(k));
  w.u64(v('ifOutOctets'));
  for (const k of [
    'ifOutUcastPkts',
    'ifOutMulticastPkts',
    'ifOutBroadcastPkts',
    'ifOutDiscards',
    'ifOutErrors',
    'ifPromiscuousMode',
  ] as const)
    w.u32(v(k));
  w.fill(lenAt);
}

/** Ethernet + tags + IP + transport header of the flow's first packet (no payload). */
function buildFrame(f: Partial<FlowRecord>, outerVlan: number): Uint8Array {
  const v6 = f.etype === 0x86dd || isIpv6Text(f.src_addr ?? '') || isIpv6Text(f.dst_addr ?? '');
  const proto = f.proto ?? 0;
  const l4Len = proto === 6 ? 20 : proto === 17 || proto === 1 || proto === 58 ? 8 : 0;
  const tags = (outerVlan !== 0 ? 4 : 0) + ((f.vlan_id ?? 0) !== 0 ? 4 : 0);
  const l2 = 14 + tags;
  const ipLen = v6 ? 40 : 20;
  const p = new Uint8Array(l2 + ipLen + l4Len);
  macToBytes(f.dst_mac ?? '', p, 0);
  macToBytes(f.src_mac ?? '', p, 6);
  let o = 12;
  if (outerVlan !== 0) {
    put16(p, o, 0x88a8);
    put16(p, o + 2, outerVlan & 0xfff);
    o += 4;
  }
  if ((f.vlan_id ?? 0) !== 0) {
    put16(p, o, 0x8100);
    put16(p, o + 2, (f.vlan_id as number) & 0xfff);
    o += 4;
  }
  put16(p, o, v6 ? 0x86dd : 0x0800);
  o += 2;
  // IP length: what the frame length implies (frame minus L2 header, no FCS), at least the headers
  const ipTotal = Math.min(0xffff, Math.max(ipLen + l4Len, (f.bytes ?? 0) - l2));
  if (v6) {
    const w0 = (6 << 28) | (((f.ip_tos ?? 0) & 0xff) << 20) | ((f.ipv6_flow_label ?? 0) & 0xfffff);
    put32(p, o, w0 >>> 0);
    put16(p, o + 4, ipTotal - 40);
    p[o + 6] = proto;
    p[o + 7] = f.ip_ttl ?? 64;
    ipv6ToBytes(f.src_addr || '::', p, o + 8);
    ipv6ToBytes(f.dst_addr || '::', p, o + 24);
  } else {
    p[o] = 0x45;
    p[o + 1] = f.ip_tos ?? 0;
    put16(p, o + 2, ipTotal);
    p[o + 8] = f.ip_ttl ?? 64;
    p[o + 9] = proto;
    ipv4ToBytes(f.src_addr || '0.0.0.0', p, o + 12);
    ipv4ToBytes(f.dst_addr || '0.0.0.0', p, o + 16);
  }
  o += ipLen;
  if (proto === 6 || proto === 17) {
    put16(p, o, f.src_port ?? 0);
    put16(p, o + 2, f.dst_port ?? 0);
    if (proto === 6) {
      p[o + 12] = 5 << 4;
      p[o + 13] = (f.tcp_flags ?? 0) & 0xff;
    } else {
      put16(p, o + 4, ipTotal - ipLen);
    }
  } else if (proto === 1 || proto === 58) {
    p[o] = f.icmp_type ?? 0;
    p[o + 1] = f.icmp_code ?? 0;
  }
  return p;
}

function writeAddress(w: XdrWriter, addr: string): void {
  if (isIpv6Text(addr)) {
    w.u32(2);
    const b = new Uint8Array(16);
    ipv6ToBytes(addr, b, 0);
    w.bytes(b);
  } else {
    w.u32(1);
    const b = new Uint8Array(4);
    ipv4ToBytes(addr, b, 0);
    w.bytes(b);
  }
}

function put16(p: Uint8Array, o: number, v: number): void {
  p[o] = (v >> 8) & 0xff;
  p[o + 1] = v & 0xff;
}

function put32(p: Uint8Array, o: number, v: number): void {
  p[o] = (v >>> 24) & 0xff;
  p[o + 1] = (v >>> 16) & 0xff;
  p[o + 2] = (v >>> 8) & 0xff;
  p[o + 3] = v & 0xff;
}

/** A growing big-endian buffer with back-patched lengths (XDR, RFC 4506). */
class XdrWriter {
  private buf = new Uint8Array(512);
  private dv = new DataView(this.buf.buffer);
  private n = 0;

  private ensure(extra: number): void {
    if (this.n + extra <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + extra));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  u32(v: number): void {
    this.ensure(4);
    this.dv.setUint32(this.n, v >>> 0);
    this.n += 4;
  }

  u64(v: number): void {
    this.u32(Math.floor(v / 0x1_0000_0000));
    this.u32(v % 0x1_0000_0000);
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }

  /** Bytes padded to a multiple of 4 (XDR opaque without its length word). */
  opaque(b: Uint8Array): void {
    this.bytes(b);
    const pad = (4 - (b.length % 4)) % 4;
    this.ensure(pad);
    this.buf.fill(0, this.n, this.n + pad);
    this.n += pad;
  }

  /** Reserves a length word; fill() later writes the byte count that followed it. */
  reserve(): number {
    const at = this.n;
    this.u32(0);
    return at;
  }

  fill(at: number): void {
    this.dv.setUint32(at, this.n - at - 4);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}
