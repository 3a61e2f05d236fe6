import { emptyFlow, type FlowRecord } from '@flowwatch/flow-schema';
import { FLOW_TYPE_OF, type SimExporter } from './network.js';

/** One side of a conversation as an exporter sees it. */
export interface Endpoint {
  addr: string;
  port: number;
  /** Interface the traffic from this side enters the exporter on. */
  ifIndex: number;
  /** Prefix length of the network the address is in (src_net/dst_net). */
  net: number;
  /** Autonomous system (Internet side), 0 inside the network of networks. */
  as: number;
}

/**
 * A conversation: the request record (client to server) and, when `respPackets` > 0, the answer
 * (server to client), as unidirectional flow records the way routers export them.
 */
export interface Conversation {
  exporter: SimExporter;
  proto: number;
  v6: boolean;
  client: Endpoint;
  server: Endpoint;
  /** When the request flow ended (ms since the epoch); the flow started `durationMs` before. */
  endMs: number;
  durationMs: number;
  reqBytes: number;
  reqPackets: number;
  respBytes: number;
  respPackets: number;
  reqFlags: number;
  respFlags: number;
  tos: number;
  /** ICMP(v6) echo: type of the request and of the reply. */
  icmpType: number;
  icmpReplyType: number;
}

export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;
/** FIN, SYN, PSH, ACK: a whole short TCP connection in one record. */
export const TCP_SESSION = 0x1b;
/** PSH, ACK: a record cut by the active timeout, neither start nor end. */
export const TCP_MIDDLE = 0x18;

export function newConversation(exporter: SimExporter): Conversation {
  const side = (): Endpoint => ({ addr: '', port: 0, ifIndex: 0, net: 0, as: 0 });
  return {
    exporter,
    proto: 6,
    v6: false,
    client: side(),
    server: side(),
    endMs: 0,
    durationMs: 0,
    reqBytes: 0,
    reqPackets: 0,
    respBytes: 0,
    respPackets: 0,
    reqFlags: TCP_SESSION,
    respFlags: TCP_SESSION,
    tos: 0,
    icmpType: 0,
    icmpReplyType: 0,
  };
}

/** Appends the conversation's records (1 or 2) to `out`. Times are whole milliseconds. */
export function emitConversation(c: Conversation, out: FlowRecord[]): void {
  const startMs = c.endMs - c.durationMs;
  out.push(record(c, c.client, c.server, startMs, c.endMs, c.reqBytes, c.reqPackets, c.reqFlags, c.icmpType));
  if (c.respPackets > 0) {
    // The answer starts a round trip after the request and ends with it.
    const rtt = Math.min(c.durationMs, 2 + (c.reqBytes % 23));
    out.push(record(c, c.server, c.client, startMs + rtt, c.endMs, c.respBytes, c.respPackets, c.respFlags, c.icmpReplyType));
  }
}

function record(
  c: Conversation,
  src: Endpoint,
  dst: Endpoint,
  startMs: number,
  endMs: number,
  bytes: number,
  packets: number,
  flags: number,
  icmpType: number,
): FlowRecord {
  const r = emptyFlow(FLOW_TYPE_OF[c.exporter.protocol]);
  r.sampling_rate = 1;
  r.sampler_address = c.exporter.address;
  r.time_flow_start_ns = startMs * 1e6;
  r.time_flow_end_ns = endMs * 1e6;
  r.bytes = bytes;
  r.packets = packets;
  r.src_addr = src.addr;
  r.dst_addr = dst.addr;
  r.etype = c.v6 ? 0x86dd : 0x0800;
  r.proto = c.proto === 1 && c.v6 ? 58 : c.proto;
  r.src_port = src.port;
  r.dst_port = dst.port;
  r.in_if = src.ifIndex;
  r.out_if = dst.ifIndex;
  r.ip_tos = c.tos;
  r.tcp_flags = c.proto === 6 ? flags : 0;
  if (c.proto === 1) r.icmp_type = icmpType;
  r.src_as = src.as;
  r.dst_as = dst.as;
  r.src_net = src.net;
  r.dst_net = dst.net;
  r.supplier_id = c.exporter.supplierId;
  r.exporter_id = c.exporter.id;
  return r;
}
