import { describe, expect, it } from 'vitest';
import { flowToJson } from './flow-json.js';
import { emptyFlow, type FlowRecord } from './flow-record.js';
import { decodeFlows, encodeFlows } from './messages.js';

describe('flowToJson', () => {
  it('writes every FlowRecord field, parsing back to the same record', () => {
    const r: FlowRecord = {
      ...emptyFlow('IPFIX'),
      time_received_ns: 1_795_290_849_013_000_000,
      src_addr: '2001:db8::1',
      dst_addr: '10.0.0.1',
      bytes: 123_456_789_012,
      exporter_id: 'probe "7" \\ \n',
      src_mac: '00:11:22:33:44:55',
    };
    const parsed = JSON.parse(flowToJson(r));
    expect(parsed).toEqual(r);
    expect(Object.keys(parsed)).toEqual(Object.keys(emptyFlow('JSON')));
    for (const key of Object.keys(emptyFlow('JSON')) as (keyof FlowRecord)[]) {
      const changed = { ...emptyFlow('SFLOW_5'), [key]: typeof r[key] === 'number' ? 7 : '10.9.9.9' } as FlowRecord;
      expect(JSON.parse(flowToJson(changed))[key]).toBe(changed[key]);
    }
  });

  it('round-trips messages of many records', () => {
    const records = Array.from({ length: 5 }, (_, i) => ({ ...emptyFlow('NETFLOW_V5'), packets: i }));
    expect(decodeFlows(encodeFlows(records, 1, 4))).toEqual({ records: records.slice(1, 4), badLines: 0 });
    expect(decodeFlows('{"a":1}\nnot json\n[1]\n')).toEqual({ records: [{ a: 1 }], badLines: 2 });
  });
});
