import { emptyFlow, type FlowRecord, type FlowType } from './flow-record.js';

/**
 * FlowRecords in a binary, column-wise message (the `flowwatch.flows.bin.v1` schema of `flows`):
 * the same records as the NDJSON messages, 6-8 times smaller before compression and without
 * JSON.parse on the consumers' side (docs/foundation.md, "Flow messages").
 *
 * Layout, little-endian:
 *   magic "FWFB", u8 layout version (1)
 *   u32 record count n
 *   u32 string count, then each string: u32 byte length, UTF-8 bytes (the message's distinct strings)
 *   u8 column count, then each column: u8 name length, name (ASCII), u8 encoding, its data:
 *     0 one number for every record (f64)     16 one string for every record (u32 string index)
 *     1 f64 x n   2 u8 x n   3 u16 x n   4 u32 x n   17 u16 string index x n   18 u32 string index x n
 * Columns are named, so a reader skips columns it does not know and gives the absent value (0 or
 * '') to fields a writer did not send: a field can be added without a new schema version.
 * Numbers keep their float64 value exactly (times in ns exceed 2^53, as in the JSON records).
 */
export const FLOWS_BINARY_MAGIC = Buffer.from('FWFB', 'latin1');
const LAYOUT_VERSION = 1;
/**
 * Records per message at most. A constant column costs the same for any count, so without a bound
 * a forged count of a few bytes would make a reader allocate gigabytes; the collector writes at
 * most 10,000 (collector.flowsPerMessage).
 */
export const MAX_BINARY_RECORDS = 65_536;

type NumberField = { [K in keyof FlowRecord]: FlowRecord[K] extends number ? K : never }[keyof FlowRecord];
type StringField = Exclude<keyof FlowRecord, NumberField>;

const TEMPLATE = emptyFlow('JSON');
const FIELDS = Object.keys(TEMPLATE) as (keyof FlowRecord)[];
const NUMBER_FIELDS = FIELDS.filter((f): f is NumberField => typeof TEMPLATE[f] === 'number');
const STRING_FIELDS = FIELDS.filter((f): f is StringField => typeof TEMPLATE[f] === 'string');
const NUMBER_INDEX = new Map<string, number>(NUMBER_FIELDS.map((f, i) => [f, i]));
const STRING_INDEX = new Map<string, number>(STRING_FIELDS.map((f, i) => [f, i]));

enum Encoding {
  ConstNumber = 0,
  F64 = 1,
  U8 = 2,
  U16 = 3,
  U32 = 4,
  ConstString = 16,
  StringU16 = 17,
  StringU32 = 18,
}

const NAMES = new Map<string, Buffer>(FIELDS.map((f) => [f, Buffer.from(f, 'latin1')]));

/** Whether a message value is a binary flows message (NDJSON messages start with `{` or whitespace). */
export function isBinaryFlows(value: Uint8Array): boolean {
  return value.length >= 5 && value[0] === 0x46 && value[1] === 0x57 && value[2] === 0x46 && value[3] === 0x42;
}

// Scratch columns, reused across messages (encoding is synchronous).
let numbers: Float64Array[] = [];
let indices: Uint32Array[] = [];
let capacity = 0;

function ensureCapacity(n: number) {
  if (n <= capacity) return;
  capacity = Math.max(n, capacity * 2, 256);
  numbers = NUMBER_FIELDS.map(() => new Float64Array(capacity));
  indices = STRING_FIELDS.map(() => new Uint32Array(capacity));
}

function numberEncoding(column: Float64Array, n: number): Encoding {
  const first = column[0] as number;
  let constant = true;
  let max = 0;
  let integral = true;
  for (let i = 0; i < n; i++) {
    const v = column[i] as number;
    if (v !== first || Object.is(v, -0)) constant = false;
    if (!(v >= 0 && v <= 0xffff_ffff && Math.floor(v) === v) || Object.is(v, -0)) integral = false;
    else if (v > max) max = v;
  }
  if (constant && !Number.isNaN(first)) return Encoding.ConstNumber;
  if (!integral) return Encoding.F64;
  return max <= 0xff ? Encoding.U8 : max <= 0xffff ? Encoding.U16 : Encoding.U32;
}

/** The distinct strings of one message, numbered in order of first use. */
class StringTable {
  readonly values: string[] = [];
  readonly #index = new Map<string, number>();

  indexOf(s: string): number {
    let k = this.#index.get(s);
    if (k === undefined) {
      k = this.values.length;
      this.values.push(s);
      this.#index.set(s, k);
    }
    return k;
  }
}

/** One string field's indices; a value equal to the previous record's skips the table look-up. */
class StringColumn {
  #last: string | undefined;
  #lastIndex = 0;

  constructor(
    private readonly indices: Uint32Array,
    private readonly table: StringTable,
  ) {}

  set(i: number, value: unknown) {
    const s = typeof value === 'string' ? value : String(value ?? '');
    if (s !== this.#last) {
      this.#last = s;
      this.#lastIndex = this.table.indexOf(s);
    }
    this.indices[i] = this.#lastIndex;
  }
}

/** Records `from` to `to` of `records` as one binary flows message. */
export function encodeFlowsBinary(records: readonly FlowRecord[], from = 0, to = records.length): Buffer {
  const n = Math.max(0, to - from);
  if (n > MAX_BINARY_RECORDS) throw new RangeError(`${n} records in one binary flows message; at most ${MAX_BINARY_RECORDS}`);
  ensureCapacity(n);
  const strings = new StringTable();
  // Named columns and one line per field: reading fields by name in a loop is a megamorphic load
  // per field, about twice the cost of the whole encoding.
  const num = (f: NumberField) => numbers[NUMBER_INDEX.get(f) as number] as Float64Array;
  const str = (f: StringField) => new StringColumn(indices[STRING_INDEX.get(f) as number] as Uint32Array, strings);
  const type = str('type');
  const time_received_ns = num('time_received_ns');
  const sequence_num = num('sequence_num');
  const sampling_rate = num('sampling_rate');
  const sampler_address = str('sampler_address');
  const time_flow_start_ns = num('time_flow_start_ns');
  const time_flow_end_ns = num('time_flow_end_ns');
  const bytes = num('bytes');
  const packets = num('packets');
  const src_addr = str('src_addr');
  const dst_addr = str('dst_addr');
  const etype = num('etype');
  const proto = num('proto');
  const src_port = num('src_port');
  const dst_port = num('dst_port');
  const in_if = num('in_if');
  const out_if = num('out_if');
  const src_mac = str('src_mac');
  const dst_mac = str('dst_mac');
  const src_vlan = num('src_vlan');
  const dst_vlan = num('dst_vlan');
  const vlan_id = num('vlan_id');
  const ip_tos = num('ip_tos');
  const forwarding_status = num('forwarding_status');
  const ip_ttl = num('ip_ttl');
  const tcp_flags = num('tcp_flags');
  const icmp_type = num('icmp_type');
  const icmp_code = num('icmp_code');
  const ipv6_flow_label = num('ipv6_flow_label');
  const src_as = num('src_as');
  const dst_as = num('dst_as');
  const next_hop = str('next_hop');
  const next_hop_as = num('next_hop_as');
  const bgp_next_hop = str('bgp_next_hop');
  const src_net = num('src_net');
  const dst_net = num('dst_net');
  const observation_domain_id = num('observation_domain_id');
  const observation_point_id = num('observation_point_id');
  const flow_direction = num('flow_direction');
  const post_nat_src_addr = str('post_nat_src_addr');
  const post_nat_dst_addr = str('post_nat_dst_addr');
  const post_nat_src_port = num('post_nat_src_port');
  const post_nat_dst_port = num('post_nat_dst_port');
  const mpls_label = num('mpls_label');
  const supplier_id = str('supplier_id');
  const exporter_id = str('exporter_id');
  for (let i = 0; i < n; i++) {
    const r = records[from + i] as FlowRecord;
    type.set(i, r.type);
    time_received_ns[i] = r.time_received_ns;
    sequence_num[i] = r.sequence_num;
    sampling_rate[i] = r.sampling_rate;
    sampler_address.set(i, r.sampler_address);
    time_flow_start_ns[i] = r.time_flow_start_ns;
    time_flow_end_ns[i] = r.time_flow_end_ns;
    bytes[i] = r.bytes;
    packets[i] = r.packets;
    src_addr.set(i, r.src_addr);
    dst_addr.set(i, r.dst_addr);
    etype[i] = r.etype;
    proto[i] = r.proto;
    src_port[i] = r.src_port;
    dst_port[i] = r.dst_port;
    in_if[i] = r.in_if;
    out_if[i] = r.out_if;
    src_mac.set(i, r.src_mac);
    dst_mac.set(i, r.dst_mac);
    src_vlan[i] = r.src_vlan;
    dst_vlan[i] = r.dst_vlan;
    vlan_id[i] = r.vlan_id;
    ip_tos[i] = r.ip_tos;
    forwarding_status[i] = r.forwarding_status;
    ip_ttl[i] = r.ip_ttl;
    tcp_flags[i] = r.tcp_flags;
    icmp_type[i] = r.icmp_type;
    icmp_code[i] = r.icmp_code;
    ipv6_flow_label[i] = r.ipv6_flow_label;
    src_as[i] = r.src_as;
    dst_as[i] = r.dst_as;
    next_hop.set(i, r.next_hop);
    next_hop_as[i] = r.next_hop_as;
    bgp_next_hop.set(i, r.bgp_next_hop);
    src_net[i] = r.src_net;
    dst_net[i] = r.dst_net;
    observation_domain_id[i] = r.observation_domain_id;
    observation_point_id[i] = r.observation_point_id;
    flow_direction[i] = r.flow_direction;
    post_nat_src_addr.set(i, r.post_nat_src_addr);
    post_nat_dst_addr.set(i, r.post_nat_dst_addr);
    post_nat_src_port[i] = r.post_nat_src_port;
    post_nat_dst_port[i] = r.post_nat_dst_port;
    mpls_label[i] = r.mpls_label;
    supplier_id.set(i, r.supplier_id);
    exporter_id.set(i, r.exporter_id);
  }
  const encoded = strings.values.map((s) => Buffer.from(s, 'utf8'));
  const numberEncodings = NUMBER_FIELDS.map((_, f) => (n === 0 ? Encoding.ConstNumber : numberEncoding(numbers[f] as Float64Array, n)));
  const stringEncoding = n === 0 ? Encoding.ConstString : strings.values.length <= 0x10000 ? Encoding.StringU16 : Encoding.StringU32;
  const stringEncodings = STRING_FIELDS.map((_, f) => {
    if (n === 0) return Encoding.ConstString;
    const column = indices[f] as Uint32Array;
    for (let i = 1; i < n; i++) if (column[i] !== column[0]) return stringEncoding;
    return Encoding.ConstString;
  });

  let size = 5 + 4 + 4 + 1;
  for (const b of encoded) size += 4 + b.length;
  const columnSize = (e: Encoding) =>
    e === Encoding.ConstNumber
      ? 8
      : e === Encoding.ConstString
        ? 4
        : e === Encoding.F64
          ? 8 * n
          : e === Encoding.U8
            ? n
            : e === Encoding.U32 || e === Encoding.StringU32
              ? 4 * n
              : 2 * n;
  NUMBER_FIELDS.forEach((f, i) => {
    size += 2 + f.length + columnSize(numberEncodings[i] as Encoding);
  });
  STRING_FIELDS.forEach((f, i) => {
    size += 2 + f.length + columnSize(stringEncodings[i] as Encoding);
  });

  const out = Buffer.allocUnsafe(size);
  FLOWS_BINARY_MAGIC.copy(out, 0);
  let o = out.writeUInt8(LAYOUT_VERSION, 4);
  o = out.writeUInt32LE(n, o);
  o = out.writeUInt32LE(encoded.length, o);
  for (const b of encoded) {
    o = out.writeUInt32LE(b.length, o);
    o += b.copy(out, o);
  }
  o = out.writeUInt8(NUMBER_FIELDS.length + STRING_FIELDS.length, o);
  const name = (f: string) => {
    const b = NAMES.get(f) as Buffer;
    o = out.writeUInt8(b.length, o);
    o += b.copy(out, o);
  };
  for (let f = 0; f < NUMBER_FIELDS.length; f++) {
    name(NUMBER_FIELDS[f] as string);
    const e = numberEncodings[f] as Encoding;
    const column = numbers[f] as Float64Array;
    o = out.writeUInt8(e, o);
    if (e === Encoding.ConstNumber) o = out.writeDoubleLE(n === 0 ? 0 : (column[0] as number), o);
    else if (e === Encoding.F64) for (let i = 0; i < n; i++) o = out.writeDoubleLE(column[i] as number, o);
    else if (e === Encoding.U8) for (let i = 0; i < n; i++) out[o++] = column[i] as number;
    else if (e === Encoding.U16) for (let i = 0; i < n; i++) o = out.writeUInt16LE(column[i] as number, o);
    else for (let i = 0; i < n; i++) o = out.writeUInt32LE(column[i] as number, o);
  }
  for (let f = 0; f < STRING_FIELDS.length; f++) {
    name(STRING_FIELDS[f] as string);
    const e = stringEncodings[f] as Encoding;
    const column = indices[f] as Uint32Array;
    o = out.writeUInt8(e, o);
    if (e === Encoding.ConstString) o = out.writeUInt32LE(n === 0 ? 0 : (column[0] as number), o);
    else if (e === Encoding.StringU16) for (let i = 0; i < n; i++) o = out.writeUInt16LE(column[i] as number, o);
    else for (let i = 0; i < n; i++) o = out.writeUInt32LE(column[i] as number, o);
  }
  return out;
}

/** A binary flows message that could not be read: what was wrong, in one line. */
export class BinaryFlowsError extends Error {}

/**
 * The records of a binary flows message. A message that is not well formed (truncated, a string
 * index out of range, a column of the wrong kind for its field) throws BinaryFlowsError: its
 * records cannot be trusted, so none are returned and the caller dead-letters the message.
 */
export function decodeFlowsBinary(value: Uint8Array): FlowRecord[] {
  const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (!isBinaryFlows(buf)) throw new BinaryFlowsError('not a binary flows message (no FWFB magic)');
  const version = buf[4] as number;
  if (version !== LAYOUT_VERSION) throw new BinaryFlowsError(`binary flows layout version ${version} is not 1`);
  let o = 5;
  const need = (bytes: number, what: string) => {
    if (o + bytes > buf.length) throw new BinaryFlowsError(`truncated at byte ${o}: ${what} needs ${bytes} bytes, ${buf.length - o} left`);
  };
  need(8, 'the counts');
  const n = buf.readUInt32LE(o);
  const stringCount = buf.readUInt32LE(o + 4);
  o += 8;
  if (n > MAX_BINARY_RECORDS) throw new BinaryFlowsError(`${n} records; a message holds at most ${MAX_BINARY_RECORDS}`);
  // Every string takes at least its 4-byte length: a count beyond that is a lie.
  if (stringCount > (buf.length - o) / 4) throw new BinaryFlowsError(`${stringCount} strings cannot fit in the message`);
  const strings: string[] = new Array(stringCount);
  for (let s = 0; s < stringCount; s++) {
    need(4, 'a string length');
    const len = buf.readUInt32LE(o);
    o += 4;
    need(len, 'a string');
    strings[s] = buf.toString('utf8', o, o + len);
    o += len;
  }
  need(1, 'the column count');
  const columnCount = buf[o++] as number;
  const numberColumns: (Float64Array | number)[] = NUMBER_FIELDS.map(() => 0);
  const stringColumns: (string[] | string)[] = STRING_FIELDS.map(() => '');
  const stringAt = (k: number) => {
    if (k >= stringCount) throw new BinaryFlowsError(`string index ${k} out of range (${stringCount} strings)`);
    return strings[k] as string;
  };
  for (let c = 0; c < columnCount; c++) {
    need(1, 'a column name length');
    const nameLength = buf[o++] as number;
    need(nameLength + 1, 'a column name');
    const name = buf.toString('latin1', o, o + nameLength);
    o += nameLength;
    const e = buf[o++] as Encoding;
    const width =
      e === Encoding.ConstNumber
        ? 8
        : e === Encoding.ConstString
          ? 4
          : e === Encoding.F64
            ? 8 * n
            : e === Encoding.U8
              ? n
              : e === Encoding.U16 || e === Encoding.StringU16
                ? 2 * n
                : e === Encoding.U32 || e === Encoding.StringU32
                  ? 4 * n
                  : -1;
    if (width < 0) throw new BinaryFlowsError(`column ${name}: unknown encoding ${e}`);
    need(width, `column ${name}`);
    const numeric = e < Encoding.ConstString;
    const ni = NUMBER_INDEX.get(name);
    const si = STRING_INDEX.get(name);
    if ((ni !== undefined && !numeric) || (si !== undefined && numeric))
      throw new BinaryFlowsError(`column ${name}: a ${numeric ? 'number' : 'string'} column for a ${numeric ? 'string' : 'number'} field`);
    if (ni !== undefined) {
      if (e === Encoding.ConstNumber) numberColumns[ni] = buf.readDoubleLE(o);
      else {
        const column = new Float64Array(n);
        if (e === Encoding.F64) for (let i = 0; i < n; i++) column[i] = buf.readDoubleLE(o + 8 * i);
        else if (e === Encoding.U8) for (let i = 0; i < n; i++) column[i] = buf[o + i] as number;
        else if (e === Encoding.U16) for (let i = 0; i < n; i++) column[i] = buf.readUInt16LE(o + 2 * i);
        else for (let i = 0; i < n; i++) column[i] = buf.readUInt32LE(o + 4 * i);
        numberColumns[ni] = column;
      }
    } else if (si !== undefined) {
      if (e === Encoding.ConstString) stringColumns[si] = n === 0 ? '' : stringAt(buf.readUInt32LE(o));
      else {
        const column: string[] = new Array(n);
        if (e === Encoding.StringU16) for (let i = 0; i < n; i++) column[i] = stringAt(buf.readUInt16LE(o + 2 * i));
        else for (let i = 0; i < n; i++) column[i] = stringAt(buf.readUInt32LE(o + 4 * i));
        stringColumns[si] = column;
      }
    }
    o += width;
  }
  if (o !== buf.length) throw new BinaryFlowsError(`${buf.length - o} bytes after the last column`);

  // Every column as n values, then one object literal per record: a record built field by field
  // from names in a loop is 2-3 times slower (a megamorphic store per field).
  const num = (f: NumberField): Float64Array => {
    const c = numberColumns[NUMBER_INDEX.get(f) as number] as Float64Array | number;
    return typeof c === 'number' ? new Float64Array(n).fill(c) : c;
  };
  const str = (f: StringField): string[] => {
    const c = stringColumns[STRING_INDEX.get(f) as number] as string[] | string;
    return typeof c === 'string' ? new Array<string>(n).fill(c) : c;
  };
  const type = str('type');
  const time_received_ns = num('time_received_ns');
  const sequence_num = num('sequence_num');
  const sampling_rate = num('sampling_rate');
  const sampler_address = str('sampler_address');
  const time_flow_start_ns = num('time_flow_start_ns');
  const time_flow_end_ns = num('time_flow_end_ns');
  const bytes = num('bytes');
  const packets = num('packets');
  const src_addr = str('src_addr');
  const dst_addr = str('dst_addr');
  const etype = num('etype');
  const proto = num('proto');
  const src_port = num('src_port');
  const dst_port = num('dst_port');
  const in_if = num('in_if');
  const out_if = num('out_if');
  const src_mac = str('src_mac');
  const dst_mac = str('dst_mac');
  const src_vlan = num('src_vlan');
  const dst_vlan = num('dst_vlan');
  const vlan_id = num('vlan_id');
  const ip_tos = num('ip_tos');
  const forwarding_status = num('forwarding_status');
  const ip_ttl = num('ip_ttl');
  const tcp_flags = num('tcp_flags');
  const icmp_type = num('icmp_type');
  const icmp_code = num('icmp_code');
  const ipv6_flow_label = num('ipv6_flow_label');
  const src_as = num('src_as');
  const dst_as = num('dst_as');
  const next_hop = str('next_hop');
  const next_hop_as = num('next_hop_as');
  const bgp_next_hop = str('bgp_next_hop');
  const src_net = num('src_net');
  const dst_net = num('dst_net');
  const observation_domain_id = num('observation_domain_id');
  const observation_point_id = num('observation_point_id');
  const flow_direction = num('flow_direction');
  const post_nat_src_addr = str('post_nat_src_addr');
  const post_nat_dst_addr = str('post_nat_dst_addr');
  const post_nat_src_port = num('post_nat_src_port');
  const post_nat_dst_port = num('post_nat_dst_port');
  const mpls_label = num('mpls_label');
  const supplier_id = str('supplier_id');
  const exporter_id = str('exporter_id');
  const records: FlowRecord[] = new Array(n);
  for (let i = 0; i < n; i++) {
    records[i] = {
      type: type[i] as FlowType,
      time_received_ns: time_received_ns[i] as number,
      sequence_num: sequence_num[i] as number,
      sampling_rate: sampling_rate[i] as number,
      sampler_address: sampler_address[i] as string,
      time_flow_start_ns: time_flow_start_ns[i] as number,
      time_flow_end_ns: time_flow_end_ns[i] as number,
      bytes: bytes[i] as number,
      packets: packets[i] as number,
      src_addr: src_addr[i] as string,
      dst_addr: dst_addr[i] as string,
      etype: etype[i] as number,
      proto: proto[i] as number,
      src_port: src_port[i] as number,
      dst_port: dst_port[i] as number,
      in_if: in_if[i] as number,
      out_if: out_if[i] as number,
      src_mac: src_mac[i] as string,
      dst_mac: dst_mac[i] as string,
      src_vlan: src_vlan[i] as number,
      dst_vlan: dst_vlan[i] as number,
      vlan_id: vlan_id[i] as number,
      ip_tos: ip_tos[i] as number,
      forwarding_status: forwarding_status[i] as number,
      ip_ttl: ip_ttl[i] as number,
      tcp_flags: tcp_flags[i] as number,
      icmp_type: icmp_type[i] as number,
      icmp_code: icmp_code[i] as number,
      ipv6_flow_label: ipv6_flow_label[i] as number,
      src_as: src_as[i] as number,
      dst_as: dst_as[i] as number,
      next_hop: next_hop[i] as string,
      next_hop_as: next_hop_as[i] as number,
      bgp_next_hop: bgp_next_hop[i] as string,
      src_net: src_net[i] as number,
      dst_net: dst_net[i] as number,
      observation_domain_id: observation_domain_id[i] as number,
      observation_point_id: observation_point_id[i] as number,
      flow_direction: flow_direction[i] as number,
      post_nat_src_addr: post_nat_src_addr[i] as string,
      post_nat_dst_addr: post_nat_dst_addr[i] as string,
      post_nat_src_port: post_nat_src_port[i] as number,
      post_nat_dst_port: post_nat_dst_port[i] as number,
      mpls_label: mpls_label[i] as number,
      supplier_id: supplier_id[i] as string,
      exporter_id: exporter_id[i] as string,
    };
  }
  return records;
}
