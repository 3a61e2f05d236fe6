import { emptyFlowClass } from '@flowwatch/enrichment';
import { emptyFlow, type FlowRecord, flowColumnsOf } from '@flowwatch/flow-schema';
import { describe, expect, it } from 'vitest';
import { RowCheck, recordTypeProblem } from './aggregator.js';
import { nsToMs, RawBlock } from './raw-block.js';
import { nsToDateTime64 } from './raw-row.js';

describe('nsToDateTime64 and nsToMs', () => {
  it('turn nanoseconds into DateTime64(3) text and milliseconds; unknown times are the epoch', () => {
    expect(nsToDateTime64(Date.UTC(2026, 10, 21, 23, 59, 59, 999) * 1e6 + 400_000)).toBe('2026-11-21 23:59:59.999');
    expect(nsToMs(Date.UTC(2026, 10, 21, 23, 59, 59, 999) * 1e6 + 400_000)).toBe(Date.UTC(2026, 10, 21, 23, 59, 59, 999));
    for (const ns of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(nsToDateTime64(ns)).toBe('1970-01-01 00:00:00.000');
      expect(nsToMs(ns)).toBe(0);
    }
  });
});

/**
 * A JSON record's problem as the aggregator finds it: its types, then its values column by column,
 * then its addresses as they are written.
 */
function checkRecord(r: FlowRecord): string | undefined {
  const typed = recordTypeProblem(r);
  if (typed) return typed;
  const columns = flowColumnsOf([r]);
  const values = new RowCheck().source(columns).problem(0);
  if (values) return values;
  const block = new RawBlock(1);
  block.source(columns, '0');
  return block.append(0, emptyFlowClass());
}

describe('recordTypeProblem and RowCheck', () => {
  const ok = { ...emptyFlow('NETFLOW_V9'), src_addr: '10.0.0.1', dst_addr: '10.0.0.2', supplier_id: 's', bytes: 10, packets: 1 };
  it('accepts a valid record', () => {
    expect(checkRecord(ok)).toBeUndefined();
  });
  it.each([
    [{ src_addr: '10.0.0.300' }, /src_addr/],
    [{ dst_addr: 'fe80::1%eth0' }, /dst_addr/],
    [{ bytes: 1.5 }, /bytes is not an integer/],
    [{ bytes: -1 }, /bytes/],
    [{ bytes: 2 ** 64 }, /bytes/],
    [{ dst_port: 65_536 }, /dst_port/],
    [{ proto: 256 }, /proto/],
    [{ vlan_id: 5000.5 }, /vlan_id/],
    [{ in_if: 2 ** 32 }, /in_if/],
    [{ time_received_ns: Number.NaN }, /time_received_ns/],
    [{ exporter_id: 5 }, /exporter_id/],
    [{ bytes: '10' }, /bytes is not an integer/],
    [{ src_addr: 7 }, /src_addr/],
    [{ time_flow_end_ns: -1 }, /time_flow_end_ns/],
  ])('rejects %j with a reason', (change, reason) => {
    expect(checkRecord({ ...ok, ...change } as never)).toMatch(reason);
  });
});

describe('RawBlock.append', () => {
  it('appends nothing for a record whose address it cannot write, and goes on after it', () => {
    const ok = { ...emptyFlow('IPFIX'), src_addr: '10.0.0.1', dst_addr: '2001:db8::1', supplier_id: 's' };
    const records = [ok, { ...ok, dst_addr: '10.0.0.256' }, { ...ok, src_addr: 'nope' }, { ...ok, src_addr: '' }];
    const block = new RawBlock(1);
    const start = block.mark();
    block.source(flowColumnsOf(records), '7');
    const problems = records.map((_, i) => block.append(i, emptyFlowClass()));
    expect(problems).toEqual([undefined, 'dst_addr is not an address', 'src_addr is not an address', undefined]);
    const end = block.mark();
    expect(end.rows).toBe(2);
    // Every column holds two rows' worth: the refused records left nothing behind.
    const columns = block.columns(start, end, 'flows', 0, '7');
    expect(columns.every((c) => c.rows === 2)).toBe(true);
    expect(columns.find((c) => c.name === 'src_addr')?.data.length).toBe(32);
    expect(columns.find((c) => c.name === 'dst_addr')?.data.length).toBe(32);
  });
});
