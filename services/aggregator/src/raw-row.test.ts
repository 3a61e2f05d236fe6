import { Enricher } from '@flowwatch/enrichment';
import { emptyFlow } from '@flowwatch/flow-schema';
import { describe, expect, it } from 'vitest';
import { checkRecord } from './aggregator.js';
import { nsToDateTime64, RAW_COLUMNS, rawRowsToTsv, toRawRow, tsvField } from './raw-row.js';

const enricher = new Enricher({ suppliers: [], organisations: [], services: [], groups: [] });

/** ClickHouse's TabSeparated unescaping, written independently of the writer. */
function tsvUnescape(field: string): string {
  let out = '';
  for (let i = 0; i < field.length; i++) {
    const c = field[i] as string;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = field[++i];
    out += n === 't' ? '\t' : n === 'n' ? '\n' : n === 'r' ? '\r' : (n as string);
  }
  return out;
}

describe('rawRowsToTsv', () => {
  it('writes every column in RAW_COLUMNS order, one line per row, strings escaped', () => {
    const flow = {
      ...emptyFlow('IPFIX'),
      time_received_ns: Date.UTC(2026, 10, 21, 10, 0, 1, 234) * 1e6,
      src_addr: '10.1.2.3',
      dst_addr: '2001:db8::1',
      bytes: 123_456_789_012,
      packets: 7,
      supplier_id: 'supplier\tA\\b',
      exporter_id: 'line\nbreak\r',
    };
    const rows = [
      toRawRow(enricher.enrich(flow), 'flows', 3, '42', '40'),
      toRawRow(enricher.enrich({ ...flow, bytes: 1 }), 'flows', 3, '43', '40'),
    ];
    const lines = rawRowsToTsv(rows).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(2);
    for (const [i, line] of lines.entries()) {
      const fields = line.split('\t').map(tsvUnescape);
      expect(fields).toHaveLength(RAW_COLUMNS.length);
      const row = rows[i] as unknown as Record<string, unknown>;
      expect(Object.fromEntries(RAW_COLUMNS.map((c, k) => [c, fields[k]]))).toEqual(
        Object.fromEntries(RAW_COLUMNS.map((c) => [c, String(row[c])])),
      );
    }
    expect(lines[0]).toContain('supplier\\tA\\\\b\tline\\nbreak\\r');
  });

  it('leaves plain strings alone and escapes the four special characters', () => {
    expect(tsvField('RR8')).toBe('RR8');
    expect(tsvField('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e');
    expect(nsToDateTime64(Date.UTC(2026, 10, 21, 23, 59, 59, 999) * 1e6)).toBe('2026-11-21 23:59:59.999');
  });
});

describe('checkRecord', () => {
  const ok = { ...emptyFlow('NETFLOW_V9'), src_addr: '10.0.0.1', dst_addr: '10.0.0.2', supplier_id: 's', bytes: 10, packets: 1 };
  it('accepts a valid record', () => {
    expect(checkRecord(ok)).toBeUndefined();
  });
  it.each([
    [{ src_addr: '10.0.0.300' }, /src_addr/],
    [{ bytes: 1.5 }, /bytes is not an integer/],
    [{ bytes: -1 }, /bytes/],
    [{ bytes: 2 ** 64 }, /bytes/],
    [{ dst_port: 65_536 }, /dst_port/],
    [{ proto: 256 }, /proto/],
    [{ vlan_id: 5000.5 }, /vlan_id/],
    [{ in_if: 2 ** 32 }, /in_if/],
    [{ time_received_ns: Number.NaN }, /time_received_ns/],
    [{ exporter_id: 5 }, /exporter_id/],
  ])('rejects %j with a reason', (change, reason) => {
    expect(checkRecord({ ...ok, ...change } as never)).toMatch(reason);
  });
});
