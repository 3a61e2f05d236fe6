import { isAddress, NativeColumn, type NativeType } from '@flowwatch/clickhouse';
import { estimated, type FlowClass } from '@flowwatch/enrichment';
import type { FlowColumns } from '@flowwatch/flow-schema';
import { RAW_COLUMNS } from './raw-row.js';

const TIME = "DateTime64(3, 'UTC')" as const;

/**
 * The Native type each flows_raw column is sent as. LowCardinality(String) columns go as String
 * (ClickHouse converts them on insert); the rest as stored.
 */
export const RAW_TYPES = {
  time_received: TIME,
  time_flow_start: TIME,
  time_flow_end: TIME,
  type: 'String',
  supplier_id: 'String',
  exporter_id: 'String',
  sampler_address: 'String',
  sequence_num: 'UInt32',
  sampling_rate: 'UInt32',
  src_addr: 'IPv6',
  dst_addr: 'IPv6',
  src_port: 'UInt16',
  dst_port: 'UInt16',
  proto: 'UInt8',
  etype: 'UInt16',
  tcp_flags: 'UInt16',
  icmp_type: 'UInt8',
  icmp_code: 'UInt8',
  ip_tos: 'UInt8',
  bytes: 'UInt64',
  packets: 'UInt64',
  bytes_est: 'UInt64',
  packets_est: 'UInt64',
  in_if: 'UInt32',
  out_if: 'UInt32',
  vlan_id: 'UInt16',
  src_as: 'UInt32',
  dst_as: 'UInt32',
  next_hop: 'String',
  src_org: 'String',
  dst_org: 'String',
  src_org_supplier: 'String',
  dst_org_supplier: 'String',
  service: 'String',
  direction: 'String',
  kafka_topic: 'String',
  kafka_partition: 'UInt16',
  kafka_offset: 'UInt64',
  kafka_batch_first: 'UInt64',
} as const satisfies Record<(typeof RAW_COLUMNS)[number], NativeType>;

/** ns since the epoch -> ms, as DateTime64(3) stores it; unknown or invalid times are the epoch. */
export function nsToMs(ns: number): number {
  const ms = Math.floor(ns / 1e6);
  return Number.isFinite(ms) && ms > 0 && ms <= 8.64e15 ? ms : 0;
}

/** Columns whose value is the same for every row of an insert: written when the insert is cut (RawBlock.columns). */
const PER_INSERT = ['kafka_topic', 'kafka_partition', 'kafka_batch_first'] as const;
type PerRow = Exclude<(typeof RAW_COLUMNS)[number], (typeof PER_INSERT)[number]>;
const PER_ROW = RAW_COLUMNS.filter((name): name is PerRow => !(PER_INSERT as readonly string[]).includes(name));

/** A Kafka offset's text as the number written for it, or -1 past 2^53 (written from the text: NativeColumn.decimal). */
function offsetNumber(text: string): number {
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= 0 ? n : -1;
}

function writeOffset(column: NativeColumn, text: string, n: number): void {
  if (n >= 0) column.number(n);
  else column.decimal(text);
}

const SRC_NOT_ADDRESS = 'src_addr is not an address';
const DST_NOT_ADDRESS = 'dst_addr is not an address';

/** What RawBlock.append would say of a record with these addresses: for a record refused before it gets there. */
export function addressProblem(srcAddr: string, dstAddr: string): string | undefined {
  return !isAddress(srcAddr) ? SRC_NOT_ADDRESS : !isAddress(dstAddr) ? DST_NOT_ADDRESS : undefined;
}

/** How far a RawBlock was written: its rows and each column's bytes (RawBlock.mark). */
export interface BlockMark {
  rows: number;
  bytes: number[];
}

/**
 * Rows of flows_raw built column by column for Native inserts, straight from the flows of
 * messages read column by column (FlowColumns) and their classification: no object per row, no
 * date or address text. Same columns and values as toRawRow + JSONEachRow wrote (raw-block.int.test).
 * A batch's messages go into one block; the rows between two marks are one insert (`columns`).
 */
export class RawBlock {
  readonly #own: NativeColumn[];
  private readonly c: Record<PerRow, NativeColumn>;
  // Where each field of the current message's records starts in its FlowColumns (`source`).
  #from: FlowColumns | undefined;
  #offset = '0';
  #offsetNumber = 0;
  #received = 0;
  #start = 0;
  #end = 0;
  #type = 0;
  #supplier = 0;
  #exporter = 0;
  #sampler = 0;
  #sequence = 0;
  #rate = 0;
  #srcAddr = 0;
  #dstAddr = 0;
  #srcPort = 0;
  #dstPort = 0;
  #proto = 0;
  #etype = 0;
  #tcpFlags = 0;
  #icmpType = 0;
  #icmpCode = 0;
  #tos = 0;
  #bytes = 0;
  #packets = 0;
  #inIf = 0;
  #outIf = 0;
  #vlan = 0;
  #srcAs = 0;
  #dstAs = 0;
  #nextHop = 0;

  constructor(capacity = 1024) {
    this.c = Object.fromEntries(PER_ROW.map((name) => [name, new NativeColumn(name, RAW_TYPES[name], capacity)])) as Record<
      PerRow,
      NativeColumn
    >;
    this.#own = PER_ROW.map((name) => this.c[name]);
  }

  get rows(): number {
    return this.c.time_received.rows;
  }

  /** The records of the message at Kafka offset `offset` that the next `append`s take rows from. */
  source(from: FlowColumns, offset: string): void {
    this.#from = from;
    this.#offset = offset;
    this.#offsetNumber = offsetNumber(offset);
    this.#received = from.numberBase('time_received_ns');
    this.#start = from.numberBase('time_flow_start_ns');
    this.#end = from.numberBase('time_flow_end_ns');
    this.#type = from.stringBase('type');
    this.#supplier = from.stringBase('supplier_id');
    this.#exporter = from.stringBase('exporter_id');
    this.#sampler = from.stringBase('sampler_address');
    this.#sequence = from.numberBase('sequence_num');
    this.#rate = from.numberBase('sampling_rate');
    this.#srcAddr = from.stringBase('src_addr');
    this.#dstAddr = from.stringBase('dst_addr');
    this.#srcPort = from.numberBase('src_port');
    this.#dstPort = from.numberBase('dst_port');
    this.#proto = from.numberBase('proto');
    this.#etype = from.numberBase('etype');
    this.#tcpFlags = from.numberBase('tcp_flags');
    this.#icmpType = from.numberBase('icmp_type');
    this.#icmpCode = from.numberBase('icmp_code');
    this.#tos = from.numberBase('ip_tos');
    this.#bytes = from.numberBase('bytes');
    this.#packets = from.numberBase('packets');
    this.#inIf = from.numberBase('in_if');
    this.#outIf = from.numberBase('out_if');
    this.#vlan = from.numberBase('vlan_id');
    this.#srcAs = from.numberBase('src_as');
    this.#dstAs = from.numberBase('dst_as');
    this.#nextHop = from.stringBase('next_hop');
  }

  /**
   * Record `i` of the source message as a row, with what the registry says of it (`cls`); or,
   * when one of its addresses is not one (checked as it is written), nothing appended and what is
   * wrong. Its other fields are RowCheck's to check first.
   */
  append(i: number, cls: FlowClass): string | undefined {
    const from = this.#from;
    if (from === undefined) throw new Error('RawBlock.append before source');
    const num = from.numbers;
    const str = from.strings;
    const c = this.c;
    if (!c.src_addr.tryAddress(str[this.#srcAddr + i] as string)) return SRC_NOT_ADDRESS;
    if (!c.dst_addr.tryAddress(str[this.#dstAddr + i] as string)) {
      c.src_addr.pop();
      return DST_NOT_ADDRESS;
    }
    const rate = num[this.#rate + i] as number;
    const bytes = num[this.#bytes + i] as number;
    const packets = num[this.#packets + i] as number;
    c.time_received.number(nsToMs(num[this.#received + i] as number));
    c.time_flow_start.number(nsToMs(num[this.#start + i] as number));
    c.time_flow_end.number(nsToMs(num[this.#end + i] as number));
    c.type.text(str[this.#type + i] as string);
    c.supplier_id.text(str[this.#supplier + i] as string);
    c.exporter_id.text(str[this.#exporter + i] as string);
    c.sampler_address.text(str[this.#sampler + i] as string);
    c.sequence_num.number(num[this.#sequence + i] as number);
    c.sampling_rate.number(rate);
    c.src_port.number(num[this.#srcPort + i] as number);
    c.dst_port.number(num[this.#dstPort + i] as number);
    c.proto.number(num[this.#proto + i] as number);
    c.etype.number(num[this.#etype + i] as number);
    c.tcp_flags.number(num[this.#tcpFlags + i] as number);
    c.icmp_type.number(num[this.#icmpType + i] as number);
    c.icmp_code.number(num[this.#icmpCode + i] as number);
    c.ip_tos.number(num[this.#tos + i] as number);
    c.bytes.number(bytes);
    c.packets.number(packets);
    c.bytes_est.number(estimated(bytes, rate));
    c.packets_est.number(estimated(packets, rate));
    c.in_if.number(num[this.#inIf + i] as number);
    c.out_if.number(num[this.#outIf + i] as number);
    c.vlan_id.number(num[this.#vlan + i] as number);
    c.src_as.number(num[this.#srcAs + i] as number);
    c.dst_as.number(num[this.#dstAs + i] as number);
    c.next_hop.text(str[this.#nextHop + i] as string);
    c.src_org.text(cls.src_org);
    c.dst_org.text(cls.dst_org);
    c.src_org_supplier.text(cls.src_org_supplier);
    c.dst_org_supplier.text(cls.dst_org_supplier);
    c.service.text(cls.service);
    c.direction.text(cls.direction);
    writeOffset(c.kafka_offset, this.#offset, this.#offsetNumber);
    return undefined;
  }

  /** How far the block is written now. */
  mark(): BlockMark {
    return { rows: this.rows, bytes: this.#own.map((column) => column.data.length) };
  }

  /**
   * The rows written between two marks as the columns of one insert: the block's bytes, not
   * copied, plus the columns every row of the insert shares (its topic and partition, and the
   * first offset of the insert, which its deduplication token is built from).
   */
  columns(from: BlockMark, to: BlockMark, topic: string, partition: number, batchFirst: string): NativeColumn[] {
    const rows = to.rows - from.rows;
    const columns = this.#own.map((column, k) => column.slice(from.bytes[k] as number, to.bytes[k] as number, rows));
    const kafkaTopic = new NativeColumn('kafka_topic', RAW_TYPES.kafka_topic, rows);
    const kafkaPartition = new NativeColumn('kafka_partition', RAW_TYPES.kafka_partition, rows);
    const first = new NativeColumn('kafka_batch_first', RAW_TYPES.kafka_batch_first, rows);
    const firstNumber = offsetNumber(batchFirst);
    for (let r = 0; r < rows; r++) {
      kafkaTopic.text(topic);
      kafkaPartition.number(partition);
      writeOffset(first, batchFirst, firstNumber);
    }
    columns.push(kafkaTopic, kafkaPartition, first);
    return columns;
  }
}
