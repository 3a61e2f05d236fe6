import { dedupInsertSettings, insertNative, migrate, SCHEMA } from '@flowwatch/clickhouse';
import { Enricher, emptyFlowClass } from '@flowwatch/enrichment';
import { decodeFlowColumns, emptyFlow, encodeFlows, type FlowColumns, type FlowRecord, flowColumnsOf } from '@flowwatch/flow-schema';
import { dayStartAgo, openTestClickHouse, silentLogger } from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawBlock } from './raw-block.js';
import { toRawRow } from './raw-row.js';

const ch = await openTestClickHouse();
beforeAll(async () => {
  await migrate(ch.client, SCHEMA, silentLogger);
  // A twin of flows_raw without views: the reference the rows written the old way go to.
  await ch.client.command({ query: 'CREATE TABLE flows_ref AS flows_raw' });
});
afterAll(async () => {
  await ch.client.close();
});

const enricher = new Enricher({
  suppliers: [{ id: 's1', name: 'S1', exporters: [], pushTokens: [], clientCertFingerprints: [] }],
  organisations: [{ code: 'RA1', name: 'Org A', type: 'acute', supplier: 's1', prefixes: ['10.1.0.0/16', '2001:db8:1::/48'] }],
  services: [],
  groups: [],
});

function flows(n: number): FlowRecord[] {
  // The last second of yesterday, UTC (flows_raw drops rows past its retention at insert).
  const t = dayStartAgo(0) - 1000;
  return Array.from({ length: n }, (_, i) => ({
    ...emptyFlow(i % 2 ? 'IPFIX' : 'SFLOW_5'),
    // Across midnight: two daily partitions in one insert.
    time_received_ns: (t + i * 7) * 1e6 + 123_456,
    time_flow_start_ns: i === 0 ? 0 : (t - 30_000 + i) * 1e6,
    time_flow_end_ns: (t + i) * 1e6,
    src_addr: ['10.1.2.3', '2001:db8:1::42', '', '192.0.2.255', '::ffff:10.1.0.9', 'fe80::1:2'][i % 6] as string,
    dst_addr: ['2001:db8:1:0:0:0:0:7', '10.1.200.1', '203.0.113.7', '::', '0.0.0.0', '64:ff9b::198.51.100.7'][i % 6] as string,
    src_port: (i * 7919) % 65_536,
    dst_port: 65_535 - (i % 3),
    proto: [6, 17, 1, 58, 255][i % 5] as number,
    // The largest exact byte count, at sampling rate 1 (an estimate past 2^53 is a double: not compared here).
    bytes: i === 3 ? Number.MAX_SAFE_INTEGER : 40 + i * 1000,
    packets: 1 + i,
    sampling_rate: [1, 1000, 0xffffffff][i % 3] as number,
    sequence_num: 0xffffffff - i,
    in_if: i,
    out_if: 0xffffffff,
    vlan_id: 4095,
    src_as: 0xfffffffe,
    tcp_flags: 0x1ff,
    supplier_id: i % 4 === 0 ? 's1' : 'supplier é ü',
    exporter_id: `r\t${i % 3}\\n`,
    sampler_address: i % 2 ? '127.0.0.1' : '',
    next_hop: i % 5 === 0 ? '2001:db8::1' : '',
  }));
}

const cls = emptyFlowClass();

/** Writes every record of one message into `block`, as the aggregator does. */
function appendMessage(block: RawBlock, columns: FlowColumns, offset: string): void {
  block.source(columns, offset);
  const src = columns.stringBase('src_addr');
  const dst = columns.stringBase('dst_addr');
  const sport = columns.numberBase('src_port');
  const dport = columns.numberBase('dst_port');
  for (let i = 0; i < columns.n; i++) {
    const s = columns.strings;
    const n = columns.numbers;
    enricher.classify(s[src + i] as string, s[dst + i] as string, n[sport + i] as number, n[dport + i] as number, cls);
    block.append(i, cls);
  }
}

/** Records `from` to `to` column by column, read from a binary message or laid out from the objects. */
const columnsOf = (records: FlowRecord[], from: number, to: number, binary: boolean) =>
  binary ? decodeFlowColumns(encodeFlows(records, from, to, 'binary')) : flowColumnsOf(records, from, to);

const rowsOf = async (table: string) =>
  (
    await ch.client.query({
      query: `SELECT * FROM ${table} ORDER BY kafka_offset, src_port SETTINGS output_format_json_quote_64bit_integers = 1`,
      format: 'JSONEachRow',
    })
  ).json<Record<string, unknown>>();

describe('RawBlock (Native insert)', () => {
  it('stores every column exactly as the JSONEachRow rows of toRawRow do, from binary messages and from records', async () => {
    const records = flows(600);
    const block = new RawBlock(16);
    const start = block.mark();
    // Two flows a message; offsets beyond 2^53, where odd ones are not doubles.
    const offset = (i: number) => String(2n ** 53n + BigInt(i >> 1));
    for (let m = 0; m < 300; m++) appendMessage(block, columnsOf(records, 2 * m, 2 * m + 2, m % 2 === 0), offset(2 * m));
    const reference = records.map((r, i) => toRawRow(enricher.enrich(r), 'flows', 7, offset(i), String(2 ** 53)));
    await insertNative(ch.client, { table: 'flows_raw', columns: block.columns(start, block.mark(), 'flows', 7, String(2 ** 53)) });
    await ch.client.insert({ table: 'flows_ref', values: reference, format: 'JSONEachRow' });
    const [got, want] = [await rowsOf('flows_raw'), await rowsOf('flows_ref')];
    expect(got).toHaveLength(600);
    expect(got).toEqual(want);
    expect(new Set(got.map((r) => r.kafka_offset)).size).toBe(300);
    expect(got.some((r) => r.supplier_id === 'supplier é ü')).toBe(true);
  });

  it('inserts the rows between two marks only, as an insert of its own', async () => {
    await ch.client.command({ query: 'TRUNCATE TABLE flows_raw' });
    await ch.client.command({ query: 'TRUNCATE TABLE flows_ref' });
    const records = flows(90);
    const block = new RawBlock(4);
    const marks = [block.mark()];
    for (let m = 0; m < 3; m++) {
      appendMessage(block, columnsOf(records, 30 * m, 30 * m + 30, m !== 1), String(40 + m));
      marks.push(block.mark());
    }
    // The middle message, then the last two, each with the first offset of its insert.
    await insertNative(ch.client, { table: 'flows_raw', columns: block.columns(marks[1]!, marks[2]!, 'flows', 2, '41') });
    await insertNative(ch.client, { table: 'flows_raw', columns: block.columns(marks[2]!, marks[3]!, 'flows', 2, '42') });
    const reference = records
      .slice(30)
      .map((r, i) => toRawRow(enricher.enrich(r), 'flows', 2, String(41 + Math.floor(i / 30)), String(41 + Math.floor(i / 30))));
    await ch.client.insert({ table: 'flows_ref', values: reference, format: 'JSONEachRow' });
    const [got, want] = [await rowsOf('flows_raw'), await rowsOf('flows_ref')];
    expect(got).toHaveLength(60);
    expect(got).toEqual(want);
  });

  it('a retried Native insert with the same token is stored once, in the raw table and both rollups', async () => {
    await ch.client.command({ query: 'TRUNCATE TABLE flows_raw' });
    await ch.client.command({ query: 'TRUNCATE TABLE flows_1m' });
    await ch.client.command({ query: 'TRUNCATE TABLE flows_1h' });
    const block = new RawBlock();
    const start = block.mark();
    const records = flows(200);
    for (let i = 0; i < 200; i++) appendMessage(block, columnsOf(records, i, i + 1, true), String(1000 + i));
    const columns = block.columns(start, block.mark(), 'flows', 1, '1000');
    const settings = dedupInsertSettings('flows:1:1000-1199');
    await insertNative(ch.client, { table: 'flows_raw', columns, clickhouse_settings: settings });
    await insertNative(ch.client, { table: 'flows_raw', columns, clickhouse_settings: settings });
    // And a different token is a different insert.
    await insertNative(ch.client, {
      table: 'flows_raw',
      columns,
      clickhouse_settings: dedupInsertSettings('flows:1:1000-1199b'),
    });
    const count = async (q: string) =>
      Number((await (await ch.client.query({ query: q, format: 'JSONEachRow' })).json<{ n: string }>())[0]?.n);
    expect(await count('SELECT count() AS n FROM flows_raw')).toBe(400);
    expect(await count('SELECT sum(flows) AS n FROM flows_1m')).toBe(400);
    expect(await count('SELECT sum(flows) AS n FROM flows_1h')).toBe(400);
    expect(await count('SELECT (SELECT sum(bytes) FROM flows_1m) - (SELECT sum(bytes) FROM flows_raw) AS n')).toBe(0);
  });
});
