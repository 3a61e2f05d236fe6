import { emptyFlow, type FlowRecord, type FlowType } from './flow-record.js';

/**
 * FlowRecords in a binary, column-wise message (the `flowwatch.flows.bin.v1` schema of `flows`):
 * the same records as the NDJSON messages, about 11 times smaller before compression and without
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
const LAYOUT_VERSION = 1;
/**
 * Records per message at most. A constant column costs the same for any count, so without a bound
 * a forged count of a few bytes would make a reader allocate gigabytes; the collector writes at
 * most 10,000 (collector.flowsPerMessage).
 */
export const MAX_BINARY_RECORDS = 65_536;

/** The FlowRecord fields holding numbers, and those holding strings. */
export type NumberField = { [K in keyof FlowRecord]: FlowRecord[K] extends number ? K : never }[keyof FlowRecord];
export type StringField = Exclude<keyof FlowRecord, NumberField>;

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

const NAMES: readonly Uint8Array[] = [...NUMBER_FIELDS, ...STRING_FIELDS].map((f) => Buffer.from(f, 'latin1'));

/** Whether a message value is a binary flows message (NDJSON messages start with `{` or whitespace). */
export function isBinaryFlows(value: Uint8Array): boolean {
  return value.length >= 5 && value[0] === 0x46 && value[1] === 0x57 && value[2] === 0x46 && value[3] === 0x42;
}

// Scratch space of the writer and of the reader, reused across messages (both are synchronous):
// column f of a message of n records is at f * n. Allocating a typed array per column made a
// message of 30 records (one IPFIX datagram) cost twice as much to read.
let writeNumbers = new Float64Array(0);
let writeIndices = new Uint32Array(0);
let readNumbers = new Float64Array(0);
let readStrings: string[] = [];
const encodings = new Uint8Array(NUMBER_FIELDS.length + STRING_FIELDS.length);
const seen = new Uint8Array(NUMBER_FIELDS.length + STRING_FIELDS.length);

function numberEncoding(column: Float64Array, from: number, n: number): Encoding {
  const first = column[from] as number;
  let constant = true;
  let max = 0;
  let integral = true;
  for (let i = from; i < from + n; i++) {
    const v = column[i] as number;
    if (v !== first) constant = false;
    if (v >= 0 && v <= 0xffff_ffff && Math.floor(v) === v) {
      if (v > max) max = v;
      else if (v === 0 && 1 / v < 0) integral = constant = false; // -0
    } else integral = constant = false;
  }
  if (constant) return Encoding.ConstNumber;
  if (!integral) return Encoding.F64;
  return max <= 0xff ? Encoding.U8 : max <= 0xffff ? Encoding.U16 : Encoding.U32;
}

function columnBytes(e: Encoding, n: number): number {
  switch (e) {
    case Encoding.ConstNumber:
      return 8;
    case Encoding.ConstString:
      return 4;
    case Encoding.F64:
      return 8 * n;
    case Encoding.U8:
      return n;
    case Encoding.U16:
    case Encoding.StringU16:
      return 2 * n;
    case Encoding.U32:
    case Encoding.StringU32:
      return 4 * n;
    default:
      return -1;
  }
}

/** The distinct strings of one message, numbered in order of first use, and their UTF-8 size. */
class StringTable {
  readonly values: string[] = [];
  /** UTF-8 length of each value. */
  readonly lengths: number[] = [];
  bytes = 0;
  readonly #index = new Map<string, number>();

  constructor(
    private readonly indices: Uint32Array,
    private readonly n: number,
  ) {}

  column(f: StringField): StringColumn {
    return new StringColumn(this.indices, (STRING_INDEX.get(f) as number) * this.n, this);
  }

  indexOf(s: string): number {
    let k = this.#index.get(s);
    if (k === undefined) {
      k = this.values.length;
      const length = utf8Length(s);
      this.values.push(s);
      this.lengths.push(length);
      this.#index.set(s, k);
      this.bytes += 4 + length;
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
    private readonly offset: number,
    private readonly table: StringTable,
  ) {}

  set(i: number, value: unknown) {
    const s = typeof value === 'string' ? value : String(value ?? '');
    if (s !== this.#last) {
      this.#last = s;
      this.#lastIndex = this.table.indexOf(s);
    }
    this.indices[this.offset + i] = this.#lastIndex;
  }
}

function utf8Length(s: string): number {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

/** Writes `s` at `o` (its UTF-8 bytes, `length` of them); ASCII, the usual case, without a native call. */
function writeString(out: Buffer, s: string, o: number, length: number): void {
  if (length === s.length) for (let k = 0; k < length; k++) out[o + k] = s.charCodeAt(k);
  else out.write(s, o, length, 'utf8');
}

/** Records `from` to `to` of `records` as one binary flows message. */
export function encodeFlowsBinary(records: readonly FlowRecord[], from = 0, to = records.length): Buffer {
  const n = Math.max(0, to - from);
  if (n > MAX_BINARY_RECORDS) throw new RangeError(`${n} records in one binary flows message; at most ${MAX_BINARY_RECORDS}`);
  if (writeNumbers.length < NUMBER_FIELDS.length * n) writeNumbers = new Float64Array(NUMBER_FIELDS.length * Math.max(n, 256));
  if (writeIndices.length < STRING_FIELDS.length * n) writeIndices = new Uint32Array(STRING_FIELDS.length * Math.max(n, 256));
  const nums = writeNumbers;
  const strings = new StringTable(writeIndices, n);
  // Named columns and one line per field: reading fields by name in a loop is a megamorphic load
  // per field, about twice the cost of the whole encoding.
  const at = (f: NumberField) => (NUMBER_INDEX.get(f) as number) * n;
  const type = strings.column('type');
  const time_received_ns = at('time_received_ns');
  const sequence_num = at('sequence_num');
  const sampling_rate = at('sampling_rate');
  const sampler_address = strings.column('sampler_address');
  const time_flow_start_ns = at('time_flow_start_ns');
  const time_flow_end_ns = at('time_flow_end_ns');
  const bytes = at('bytes');
  const packets = at('packets');
  const src_addr = strings.column('src_addr');
  const dst_addr = strings.column('dst_addr');
  const etype = at('etype');
  const proto = at('proto');
  const src_port = at('src_port');
  const dst_port = at('dst_port');
  const in_if = at('in_if');
  const out_if = at('out_if');
  const src_mac = strings.column('src_mac');
  const dst_mac = strings.column('dst_mac');
  const src_vlan = at('src_vlan');
  const dst_vlan = at('dst_vlan');
  const vlan_id = at('vlan_id');
  const ip_tos = at('ip_tos');
  const forwarding_status = at('forwarding_status');
  const ip_ttl = at('ip_ttl');
  const tcp_flags = at('tcp_flags');
  const icmp_type = at('icmp_type');
  const icmp_code = at('icmp_code');
  const ipv6_flow_label = at('ipv6_flow_label');
  const src_as = at('src_as');
  const dst_as = at('dst_as');
  const next_hop = strings.column('next_hop');
  const next_hop_as = at('next_hop_as');
  const bgp_next_hop = strings.column('bgp_next_hop');
  const src_net = at('src_net');
  const dst_net = at('dst_net');
  const observation_domain_id = at('observation_domain_id');
  const observation_point_id = at('observation_point_id');
  const flow_direction = at('flow_direction');
  const post_nat_src_addr = strings.column('post_nat_src_addr');
  const post_nat_dst_addr = strings.column('post_nat_dst_addr');
  const post_nat_src_port = at('post_nat_src_port');
  const post_nat_dst_port = at('post_nat_dst_port');
  const mpls_label = at('mpls_label');
  const supplier_id = strings.column('supplier_id');
  const exporter_id = strings.column('exporter_id');
  for (let i = 0; i < n; i++) {
    const r = records[from + i] as FlowRecord;
    type.set(i, r.type);
    nums[time_received_ns + i] = r.time_received_ns;
    nums[sequence_num + i] = r.sequence_num;
    nums[sampling_rate + i] = r.sampling_rate;
    sampler_address.set(i, r.sampler_address);
    nums[time_flow_start_ns + i] = r.time_flow_start_ns;
    nums[time_flow_end_ns + i] = r.time_flow_end_ns;
    nums[bytes + i] = r.bytes;
    nums[packets + i] = r.packets;
    src_addr.set(i, r.src_addr);
    dst_addr.set(i, r.dst_addr);
    nums[etype + i] = r.etype;
    nums[proto + i] = r.proto;
    nums[src_port + i] = r.src_port;
    nums[dst_port + i] = r.dst_port;
    nums[in_if + i] = r.in_if;
    nums[out_if + i] = r.out_if;
    src_mac.set(i, r.src_mac);
    dst_mac.set(i, r.dst_mac);
    nums[src_vlan + i] = r.src_vlan;
    nums[dst_vlan + i] = r.dst_vlan;
    nums[vlan_id + i] = r.vlan_id;
    nums[ip_tos + i] = r.ip_tos;
    nums[forwarding_status + i] = r.forwarding_status;
    nums[ip_ttl + i] = r.ip_ttl;
    nums[tcp_flags + i] = r.tcp_flags;
    nums[icmp_type + i] = r.icmp_type;
    nums[icmp_code + i] = r.icmp_code;
    nums[ipv6_flow_label + i] = r.ipv6_flow_label;
    nums[src_as + i] = r.src_as;
    nums[dst_as + i] = r.dst_as;
    next_hop.set(i, r.next_hop);
    nums[next_hop_as + i] = r.next_hop_as;
    bgp_next_hop.set(i, r.bgp_next_hop);
    nums[src_net + i] = r.src_net;
    nums[dst_net + i] = r.dst_net;
    nums[observation_domain_id + i] = r.observation_domain_id;
    nums[observation_point_id + i] = r.observation_point_id;
    nums[flow_direction + i] = r.flow_direction;
    post_nat_src_addr.set(i, r.post_nat_src_addr);
    post_nat_dst_addr.set(i, r.post_nat_dst_addr);
    nums[post_nat_src_port + i] = r.post_nat_src_port;
    nums[post_nat_dst_port + i] = r.post_nat_dst_port;
    nums[mpls_label + i] = r.mpls_label;
    supplier_id.set(i, r.supplier_id);
    exporter_id.set(i, r.exporter_id);
  }

  let size = 5 + 4 + 4 + strings.bytes + 1;
  for (let f = 0; f < NUMBER_FIELDS.length; f++) {
    const e = n === 0 ? Encoding.ConstNumber : numberEncoding(nums, f * n, n);
    encodings[f] = e;
    size += 2 + (NAMES[f] as Uint8Array).length + columnBytes(e, n);
  }
  const varying = strings.values.length <= 0x10000 ? Encoding.StringU16 : Encoding.StringU32;
  for (let f = 0; f < STRING_FIELDS.length; f++) {
    let e = Encoding.ConstString;
    for (let i = f * n + 1; i < (f + 1) * n; i++) {
      if (writeIndices[i] !== writeIndices[f * n]) {
        e = varying;
        break;
      }
    }
    encodings[NUMBER_FIELDS.length + f] = e;
    size += 2 + (NAMES[NUMBER_FIELDS.length + f] as Uint8Array).length + columnBytes(e, n);
  }

  const out = Buffer.allocUnsafe(size);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[0] = 0x46; // FWFB
  out[1] = 0x57;
  out[2] = 0x46;
  out[3] = 0x42;
  out[4] = LAYOUT_VERSION;
  view.setUint32(5, n, true);
  view.setUint32(9, strings.values.length, true);
  let o = 13;
  for (let k = 0; k < strings.values.length; k++) {
    const s = strings.values[k] as string;
    const length = strings.lengths[k] as number;
    view.setUint32(o, length, true);
    writeString(out, s, o + 4, length);
    o += 4 + length;
  }
  out[o++] = NAMES.length;
  for (let c = 0; c < NAMES.length; c++) {
    const name = NAMES[c] as Uint8Array;
    out[o++] = name.length;
    for (let k = 0; k < name.length; k++) out[o++] = name[k] as number;
    const e = encodings[c] as Encoding;
    out[o++] = e;
    const start = c < NUMBER_FIELDS.length ? c * n : (c - NUMBER_FIELDS.length) * n;
    switch (e) {
      case Encoding.ConstNumber:
        view.setFloat64(o, n === 0 ? 0 : (nums[start] as number), true);
        o += 8;
        break;
      case Encoding.F64:
        for (let i = 0; i < n; i++, o += 8) view.setFloat64(o, nums[start + i] as number, true);
        break;
      case Encoding.U8:
        for (let i = 0; i < n; i++) out[o++] = nums[start + i] as number;
        break;
      case Encoding.U16:
        for (let i = 0; i < n; i++, o += 2) view.setUint16(o, nums[start + i] as number, true);
        break;
      case Encoding.U32:
        for (let i = 0; i < n; i++, o += 4) view.setUint32(o, nums[start + i] as number, true);
        break;
      case Encoding.ConstString:
        view.setUint32(o, n === 0 ? 0 : (writeIndices[start] as number), true);
        o += 4;
        break;
      case Encoding.StringU16:
        for (let i = 0; i < n; i++, o += 2) view.setUint16(o, writeIndices[start + i] as number, true);
        break;
      default:
        for (let i = 0; i < n; i++, o += 4) view.setUint32(o, writeIndices[start + i] as number, true);
    }
  }
  return out;
}

/** A binary flows message that could not be read: what was wrong, in one line. */
export class BinaryFlowsError extends Error {}

/** The column index (numbers first, then strings) of the name at `o`, or -1 for a name this reader does not know. */
function columnOf(buf: Buffer, o: number, length: number, expected: number): number {
  // Writers send the columns in this reader's order: compare with the expected name before decoding one.
  const name = NAMES[expected];
  if (name !== undefined && name.length === length) {
    let k = 0;
    while (k < length && buf[o + k] === name[k]) k++;
    if (k === length) return expected;
  }
  const text = buf.toString('latin1', o, o + length);
  const ni = NUMBER_INDEX.get(text);
  if (ni !== undefined) return ni;
  const si = STRING_INDEX.get(text);
  return si === undefined ? -1 : NUMBER_FIELDS.length + si;
}

/** What is wrong with the column whose name is at `at` (only called for a column that is wrong). */
function columnProblem(buf: Buffer, at: number, nameLength: number, e: Encoding, width: number): string {
  const name = buf.toString('latin1', at, at + nameLength);
  const o = at + nameLength + 1;
  if (width < 0) return `column ${name}: unknown encoding ${e}`;
  if (o + width > buf.length) return `truncated at byte ${o}: column ${name} needs ${width} bytes, ${buf.length - o} left`;
  const numeric = e < Encoding.ConstString;
  return `column ${name}: a ${numeric ? 'number' : 'string'} column for a ${numeric ? 'string' : 'number'} field`;
}

/**
 * The records of a binary flows message. A message that is not well formed (truncated, a string
 * index out of range, a column of the wrong kind for its field) throws BinaryFlowsError: its
 * records cannot be trusted, so none are returned and the caller dead-letters the message.
 */
export function decodeFlowsBinary(value: Uint8Array): FlowRecord[] {
  return decodeFlowColumns(value).records();
}

/**
 * A message's records column by column, as decodeFlowColumns and flowColumnsOf give them: field f
 * of record i is `numbers[numberBase(f) + i]` or `strings[stringBase(f) + i]`. A reader that
 * writes records elsewhere field by field (the aggregator's Native block) reads them here without
 * an object per record. The arrays are scratch space shared by every decode in this thread:
 * valid until the next decodeFlowColumns, decodeFlowsBinary or flowColumnsOf.
 */
export class FlowColumns {
  constructor(
    readonly n: number,
    readonly numbers: Float64Array,
    readonly strings: readonly string[],
  ) {}

  numberBase(f: NumberField): number {
    return (NUMBER_INDEX.get(f) as number) * this.n;
  }

  stringBase(f: StringField): number {
    return (STRING_INDEX.get(f) as number) * this.n;
  }

  /** Record i as a FlowRecord of its own (a dead letter's content). */
  record(i: number): FlowRecord {
    return this.records(i, i + 1)[0] as FlowRecord;
  }

  /** Records `from` to `to` as FlowRecords. */
  records(from = 0, to = this.n): FlowRecord[] {
    const nums = this.numbers;
    const strs = this.strings;
    const numAt = (f: NumberField) => this.numberBase(f);
    const strAt = (f: StringField) => this.stringBase(f);

    // One object literal per record: a record built field by field from names in a loop is 2-3
    // times slower (a megamorphic store per field).
    const type = strAt('type');
    const time_received_ns = numAt('time_received_ns');
    const sequence_num = numAt('sequence_num');
    const sampling_rate = numAt('sampling_rate');
    const sampler_address = strAt('sampler_address');
    const time_flow_start_ns = numAt('time_flow_start_ns');
    const time_flow_end_ns = numAt('time_flow_end_ns');
    const bytes = numAt('bytes');
    const packets = numAt('packets');
    const src_addr = strAt('src_addr');
    const dst_addr = strAt('dst_addr');
    const etype = numAt('etype');
    const proto = numAt('proto');
    const src_port = numAt('src_port');
    const dst_port = numAt('dst_port');
    const in_if = numAt('in_if');
    const out_if = numAt('out_if');
    const src_mac = strAt('src_mac');
    const dst_mac = strAt('dst_mac');
    const src_vlan = numAt('src_vlan');
    const dst_vlan = numAt('dst_vlan');
    const vlan_id = numAt('vlan_id');
    const ip_tos = numAt('ip_tos');
    const forwarding_status = numAt('forwarding_status');
    const ip_ttl = numAt('ip_ttl');
    const tcp_flags = numAt('tcp_flags');
    const icmp_type = numAt('icmp_type');
    const icmp_code = numAt('icmp_code');
    const ipv6_flow_label = numAt('ipv6_flow_label');
    const src_as = numAt('src_as');
    const dst_as = numAt('dst_as');
    const next_hop = strAt('next_hop');
    const next_hop_as = numAt('next_hop_as');
    const bgp_next_hop = strAt('bgp_next_hop');
    const src_net = numAt('src_net');
    const dst_net = numAt('dst_net');
    const observation_domain_id = numAt('observation_domain_id');
    const observation_point_id = numAt('observation_point_id');
    const flow_direction = numAt('flow_direction');
    const post_nat_src_addr = strAt('post_nat_src_addr');
    const post_nat_dst_addr = strAt('post_nat_dst_addr');
    const post_nat_src_port = numAt('post_nat_src_port');
    const post_nat_dst_port = numAt('post_nat_dst_port');
    const mpls_label = numAt('mpls_label');
    const supplier_id = strAt('supplier_id');
    const exporter_id = strAt('exporter_id');
    const records: FlowRecord[] = new Array(Math.max(0, to - from));
    for (let i = from; i < to; i++) {
      records[i - from] = {
        type: strs[type + i] as FlowType,
        time_received_ns: nums[time_received_ns + i] as number,
        sequence_num: nums[sequence_num + i] as number,
        sampling_rate: nums[sampling_rate + i] as number,
        sampler_address: strs[sampler_address + i] as string,
        time_flow_start_ns: nums[time_flow_start_ns + i] as number,
        time_flow_end_ns: nums[time_flow_end_ns + i] as number,
        bytes: nums[bytes + i] as number,
        packets: nums[packets + i] as number,
        src_addr: strs[src_addr + i] as string,
        dst_addr: strs[dst_addr + i] as string,
        etype: nums[etype + i] as number,
        proto: nums[proto + i] as number,
        src_port: nums[src_port + i] as number,
        dst_port: nums[dst_port + i] as number,
        in_if: nums[in_if + i] as number,
        out_if: nums[out_if + i] as number,
        src_mac: strs[src_mac + i] as string,
        dst_mac: strs[dst_mac + i] as string,
        src_vlan: nums[src_vlan + i] as number,
        dst_vlan: nums[dst_vlan + i] as number,
        vlan_id: nums[vlan_id + i] as number,
        ip_tos: nums[ip_tos + i] as number,
        forwarding_status: nums[forwarding_status + i] as number,
        ip_ttl: nums[ip_ttl + i] as number,
        tcp_flags: nums[tcp_flags + i] as number,
        icmp_type: nums[icmp_type + i] as number,
        icmp_code: nums[icmp_code + i] as number,
        ipv6_flow_label: nums[ipv6_flow_label + i] as number,
        src_as: nums[src_as + i] as number,
        dst_as: nums[dst_as + i] as number,
        next_hop: strs[next_hop + i] as string,
        next_hop_as: nums[next_hop_as + i] as number,
        bgp_next_hop: strs[bgp_next_hop + i] as string,
        src_net: nums[src_net + i] as number,
        dst_net: nums[dst_net + i] as number,
        observation_domain_id: nums[observation_domain_id + i] as number,
        observation_point_id: nums[observation_point_id + i] as number,
        flow_direction: nums[flow_direction + i] as number,
        post_nat_src_addr: strs[post_nat_src_addr + i] as string,
        post_nat_dst_addr: strs[post_nat_dst_addr + i] as string,
        post_nat_src_port: nums[post_nat_src_port + i] as number,
        post_nat_dst_port: nums[post_nat_dst_port + i] as number,
        mpls_label: nums[mpls_label + i] as number,
        supplier_id: strs[supplier_id + i] as string,
        exporter_id: strs[exporter_id + i] as string,
      };
    }
    return records;
  }
}

/**
 * The records of a binary flows message column by column (FlowColumns: valid until the next
 * decode). Throws BinaryFlowsError as decodeFlowsBinary does.
 */
export function decodeFlowColumns(value: Uint8Array): FlowColumns {
  const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (!isBinaryFlows(buf)) throw new BinaryFlowsError('not a binary flows message (no FWFB magic)');
  const version = buf[4] as number;
  if (version !== LAYOUT_VERSION) throw new BinaryFlowsError(`binary flows layout version ${version} is not 1`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = 5;
  const need = (bytes: number, what: string) => {
    if (o + bytes > buf.length) throw new BinaryFlowsError(`truncated at byte ${o}: ${what} needs ${bytes} bytes, ${buf.length - o} left`);
  };
  need(8, 'the counts');
  const n = view.getUint32(o, true);
  const stringCount = view.getUint32(o + 4, true);
  o += 8;
  if (n > MAX_BINARY_RECORDS) throw new BinaryFlowsError(`${n} records; a message holds at most ${MAX_BINARY_RECORDS}`);
  // Every string takes at least its 4-byte length: a count beyond that is a lie.
  if (stringCount > (buf.length - o) / 4) throw new BinaryFlowsError(`${stringCount} strings cannot fit in the message`);
  const strings: string[] = new Array(stringCount);
  for (let s = 0; s < stringCount; s++) {
    need(4, 'a string length');
    const len = view.getUint32(o, true);
    o += 4;
    need(len, 'a string');
    strings[s] = buf.toString('utf8', o, o + len);
    o += len;
  }
  if (readNumbers.length < NUMBER_FIELDS.length * n) readNumbers = new Float64Array(NUMBER_FIELDS.length * Math.max(n, 256));
  if (readStrings.length < STRING_FIELDS.length * n) readStrings = new Array<string>(STRING_FIELDS.length * Math.max(n, 256)).fill('');
  const nums = readNumbers;
  const strs = readStrings;
  seen.fill(0);
  const stringAt = (k: number) => {
    if (k >= stringCount) throw new BinaryFlowsError(`string index ${k} out of range (${stringCount} strings)`);
    return strings[k] as string;
  };
  need(1, 'the column count');
  const columnCount = buf[o++] as number;
  for (let c = 0; c < columnCount; c++) {
    need(1, 'a column name length');
    const nameLength = buf[o++] as number;
    need(nameLength + 1, 'a column name');
    const column = columnOf(buf, o, nameLength, c);
    const nameAt = o;
    o += nameLength;
    const e = buf[o++] as Encoding;
    const width = columnBytes(e, n);
    if (width < 0 || o + width > buf.length || (column >= 0 && e < Encoding.ConstString !== column < NUMBER_FIELDS.length))
      throw new BinaryFlowsError(columnProblem(buf, nameAt, nameLength, e, width));
    if (column >= 0) {
      const numeric = e < Encoding.ConstString;
      seen[column] = 1;
      const start = (numeric ? column : column - NUMBER_FIELDS.length) * n;
      switch (e) {
        case Encoding.ConstNumber:
          nums.fill(view.getFloat64(o, true), start, start + n);
          break;
        case Encoding.F64:
          for (let i = 0; i < n; i++) nums[start + i] = view.getFloat64(o + 8 * i, true);
          break;
        case Encoding.U8:
          for (let i = 0; i < n; i++) nums[start + i] = buf[o + i] as number;
          break;
        case Encoding.U16:
          for (let i = 0; i < n; i++) nums[start + i] = view.getUint16(o + 2 * i, true);
          break;
        case Encoding.U32:
          for (let i = 0; i < n; i++) nums[start + i] = view.getUint32(o + 4 * i, true);
          break;
        case Encoding.ConstString:
          strs.fill(n === 0 ? '' : stringAt(view.getUint32(o, true)), start, start + n);
          break;
        case Encoding.StringU16:
          for (let i = 0; i < n; i++) strs[start + i] = stringAt(view.getUint16(o + 2 * i, true));
          break;
        default:
          for (let i = 0; i < n; i++) strs[start + i] = stringAt(view.getUint32(o + 4 * i, true));
      }
    }
    o += width;
  }
  if (o !== buf.length) throw new BinaryFlowsError(`${buf.length - o} bytes after the last column`);
  // Fields the writer did not send get their absent value.
  for (let c = 0; c < NAMES.length; c++) {
    if (seen[c] === 1) continue;
    if (c < NUMBER_FIELDS.length) nums.fill(0, c * n, (c + 1) * n);
    else strs.fill('', (c - NUMBER_FIELDS.length) * n, (c - NUMBER_FIELDS.length + 1) * n);
  }
  return new FlowColumns(n, nums, strs);
}

/**
 * `records` from `from` to `to` column by column, in the scratch space decodeFlowColumns uses (so
 * valid until the next decode). A field that is absent or of the wrong type reads as 0 or '': the
 * caller checks the fields it keeps on the records first (records parsed from JSON are untyped).
 */
export function flowColumnsOf(records: readonly FlowRecord[], from = 0, to = records.length): FlowColumns {
  const n = Math.max(0, to - from);
  if (readNumbers.length < NUMBER_FIELDS.length * n) readNumbers = new Float64Array(NUMBER_FIELDS.length * Math.max(n, 256));
  if (readStrings.length < STRING_FIELDS.length * n) readStrings = new Array<string>(STRING_FIELDS.length * Math.max(n, 256)).fill('');
  for (let c = 0; c < NUMBER_FIELDS.length; c++) {
    const f = NUMBER_FIELDS[c] as NumberField;
    for (let i = 0; i < n; i++) {
      const v = (records[from + i] as FlowRecord)[f];
      readNumbers[c * n + i] = typeof v === 'number' ? v : 0;
    }
  }
  for (let c = 0; c < STRING_FIELDS.length; c++) {
    const f = STRING_FIELDS[c] as StringField;
    for (let i = 0; i < n; i++) {
      const v = (records[from + i] as FlowRecord)[f];
      readStrings[c * n + i] = typeof v === 'string' ? v : '';
    }
  }
  return new FlowColumns(n, readNumbers, readStrings);
}
