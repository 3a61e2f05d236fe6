import type { FlowRecord } from '@flowwatch/flow-schema';
import { VARIABLE_LENGTH } from './compiled-template.js';

/**
 * Shared machinery of the NetFlow v9 and IPFIX encoders (tests and the traffic simulator): field
 * values from FlowRecord-like input, big-endian writing with reduced-size integers, addresses,
 * MACs and (IPFIX) variable-length values. Not a hot path.
 */

/** One template field. `length` 65535 = variable-length (IPFIX); `enterprise` sets the E bit (IPFIX). */
export interface EncoderField {
  id: number;
  length: number;
  enterprise?: number;
}

/** A template (data), or an options template when `scopeFields` is given (may be empty in v9). */
export interface EncoderTemplate {
  id: number;
  fields: EncoderField[];
  scopeFields?: EncoderField[];
}

/** A value given directly for an Information Element: an integer, an address/MAC text, or bytes. */
export type EncoderValue = number | string | Uint8Array;

/**
 * A data record: FlowRecord fields, plus `values` keyed by IE id (`"1"`, or `"29305/1"` for an
 * enterprise field) for what FlowRecord does not hold (sampler ids, options fields, raw bytes).
 * `values` win over FlowRecord fields.
 */
export type EncoderRecord = Partial<FlowRecord> & { values?: Record<string, EncoderValue> };

/** One set of a message, in order. */
export type EncoderSet =
  | { kind: 'templates'; templates: EncoderTemplate[] }
  | { kind: 'data'; template: EncoderTemplate; records: EncoderRecord[]; padding?: number }
  /** IPFIX only (RFC 7011 s8.1): ids to withdraw; 2 (or 3 with options) withdraws all. */
  | { kind: 'withdraw'; templateIds: number[]; options?: boolean }
  /** Raw bytes as a set body, under `setId`: for malformed-input tests. */
  | { kind: 'raw'; setId: number; body: Uint8Array };

/** Times the encoder needs to express record times the way the template asks. */
export interface TimeBase {
  /** Export time, seconds since the epoch. */
  exportSecs: number;
  /** Exporter uptime at export (ms): v9 header sysUptime; for IPFIX, export time minus systemInit. */
  sysUptimeMs: number;
}

export class ByteWriter {
  private buf = new Uint8Array(1500);
  private dv = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.room(1);
    this.dv.setUint8(this.length, v & 0xff);
    this.length += 1;
  }

  u16(v: number): void {
    this.room(2);
    this.dv.setUint16(this.length, v & 0xffff);
    this.length += 2;
  }

  u32(v: number): void {
    this.room(4);
    this.dv.setUint32(this.length, v >>> 0);
    this.length += 4;
  }

  /** Unsigned big-endian in `len` bytes (reduced-size encoding keeps the low-order bytes). */
  uint(v: number, len: number): void {
    this.room(len);
    let x = Math.max(0, Math.floor(v));
    for (let i = len - 1; i >= 0; i--) {
      this.buf[this.length + i] = x % 256;
      x = Math.floor(x / 256);
    }
    this.length += len;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  zeros(n: number): void {
    this.room(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }

  set16(at: number, v: number): void {
    this.dv.setUint16(at, v & 0xffff);
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

export function parseIPv4(s: string): Uint8Array {
  const out = new Uint8Array(4);
  const parts = s.split('.');
  if (parts.length !== 4) return out;
  for (let i = 0; i < 4; i++) out[i] = Number(parts[i]) & 0xff;
  return out;
}

export function parseIPv6(s: string): Uint8Array {
  const out = new Uint8Array(16);
  if (s === '') return out;
  let text = s;
  let tail: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) > 0) {
    tail = parseIPv4(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head = '', rest] = text.split('::');
  const hs = head === '' ? [] : head.split(':');
  const ts = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? hs : [...hs, ...new Array<string>(8 - hs.length - ts.length).fill('0'), ...ts];
  for (let i = 0; i < 8; i++) {
    const g = Number.parseInt(groups[i] ?? '0', 16) || 0;
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

export function parseMac(s: string): Uint8Array {
  const out = new Uint8Array(6);
  const parts = s.split(':');
  for (let i = 0; i < 6 && i < parts.length; i++) out[i] = Number.parseInt(parts[i]!, 16) & 0xff;
  return out;
}

const NTP_UNIX_OFFSET_S = 2_208_988_800;

/**
 * Milliseconds of a nanosecond time, truncated. Today's times in float64 nanoseconds are exact to
 * 256 ns only, so a whole millisecond (t * 1e6) can divide back to t - 0.0002 and truncate to the
 * millisecond before: go through whole microseconds (exact below 2^53) first.
 */
function wholeMs(ns: number): number {
  return Math.floor(Math.round(ns / 1e3) / 1e3);
}

/** The value of a (non-enterprise) IE taken from a FlowRecord, or undefined when it has no mapping. */
function flowValue(id: number, r: Partial<FlowRecord>, tb: TimeBase): EncoderValue | undefined {
  const startMs = wholeMs(r.time_flow_start_ns ?? 0);
  const endMs = wholeMs(r.time_flow_end_ns ?? 0);
  const nowMs = tb.exportSecs * 1000;
  switch (id) {
    case 1:
    case 85:
    case 23:
    case 231:
      return r.bytes;
    case 2:
    case 86:
    case 24:
    case 298:
      return r.packets;
    case 4:
      return r.proto;
    case 5:
      return r.ip_tos;
    case 6:
      return r.tcp_flags;
    case 7:
      return r.src_port;
    case 8:
    case 27:
      return r.src_addr;
    case 9:
    case 29:
      return r.src_net;
    case 10:
      return r.in_if;
    case 11:
      return r.dst_port;
    case 12:
    case 28:
      return r.dst_addr;
    case 13:
    case 30:
      return r.dst_net;
    case 14:
      return r.out_if;
    case 15:
    case 62:
      return r.next_hop;
    case 16:
      return r.src_as;
    case 17:
      return r.dst_as;
    case 18:
    case 63:
      return r.bgp_next_hop;
    case 128:
      return r.next_hop_as;
    case 21:
      return (tb.sysUptimeMs - (nowMs - endMs)) >>> 0;
    case 22:
      return (tb.sysUptimeMs - (nowMs - startMs)) >>> 0;
    case 31:
      return r.ipv6_flow_label;
    case 32:
    case 139:
      return ((r.icmp_type ?? 0) << 8) | (r.icmp_code ?? 0);
    case 176:
    case 178:
      return r.icmp_type;
    case 177:
    case 179:
      return r.icmp_code;
    case 34:
    case 50:
      return r.sampling_rate;
    case 305:
      return 1;
    case 306:
      return Math.max(0, (r.sampling_rate ?? 1) - 1);
    case 56:
    case 81:
      return r.src_mac;
    case 80:
    case 57:
      return r.dst_mac;
    case 58:
    case 243:
      return r.src_vlan;
    case 59:
    case 254:
      return r.dst_vlan;
    case 60:
      return r.etype === 34525 ? 6 : r.etype === 2048 ? 4 : 0;
    case 61:
      return r.flow_direction;
    case 70:
      return r.mpls_label ? ((r.mpls_label << 4) | 1) >>> 0 : 0;
    case 89:
      return r.forwarding_status;
    case 192:
    case 52:
    case 53:
      return r.ip_ttl;
    case 225:
    case 281:
      return r.post_nat_src_addr;
    case 226:
    case 282:
      return r.post_nat_dst_addr;
    case 227:
      return r.post_nat_src_port;
    case 228:
      return r.post_nat_dst_port;
    case 138:
      return r.observation_point_id;
    case 150:
      return Math.floor(startMs / 1000);
    case 151:
      return Math.floor(endMs / 1000);
    case 152:
      return startMs;
    case 153:
      return endMs;
    case 154:
    case 156:
      return ntp(r.time_flow_start_ns ?? 0);
    case 155:
    case 157:
      return ntp(r.time_flow_end_ns ?? 0);
    case 158:
      return (nowMs - startMs) * 1000;
    case 159:
      return (nowMs - endMs) * 1000;
    case 160:
      return nowMs - tb.sysUptimeMs;
    case 161:
      return endMs - startMs;
    case 162:
      return (endMs - startMs) * 1000;
    default:
      return undefined;
  }
}

/** NTP timestamp (RFC 7011 s6.1.10) as 8 bytes. */
function ntp(ns: number): Uint8Array {
  const out = new Uint8Array(8);
  const dv = new DataView(out.buffer);
  const secs = Math.floor(ns / 1e9);
  const frac = Math.round(((ns - secs * 1e9) / 1e9) * 4_294_967_296);
  dv.setUint32(0, secs + NTP_UNIX_OFFSET_S);
  dv.setUint32(4, Math.min(frac, 0xffff_ffff));
  return out;
}

/** Write one field's value: integers in `length` bytes, addresses, MACs, bytes, variable-length. */
export function writeField(w: ByteWriter, f: EncoderField, r: EncoderRecord, tb: TimeBase): void {
  const key = f.enterprise ? `${f.enterprise}/${f.id}` : `${f.id}`;
  let v = r.values?.[key];
  if (v === undefined && !f.enterprise) v = flowValue(f.id, r, tb);
  if (f.length === VARIABLE_LENGTH) {
    const b = typeof v === 'string' ? new TextEncoder().encode(v) : v instanceof Uint8Array ? v : new Uint8Array(0);
    // RFC 7011 s7: 1-byte length below 255, else 255 and a 2-byte length.
    if (b.length < 255) w.u8(b.length);
    else {
      w.u8(255);
      w.u16(b.length);
    }
    w.bytes(b);
    return;
  }
  if (typeof v === 'string') {
    if (f.length === 4) w.bytes(parseIPv4(v));
    else if (f.length === 16) w.bytes(parseIPv6(v));
    else if (f.length === 6) w.bytes(parseMac(v));
    else w.zeros(f.length);
    return;
  }
  if (v instanceof Uint8Array) {
    const b = new Uint8Array(f.length);
    b.set(v.subarray(0, f.length));
    w.bytes(b);
    return;
  }
  w.uint(v ?? 0, f.length);
}
