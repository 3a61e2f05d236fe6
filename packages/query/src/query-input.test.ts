import { describe, expect, it } from 'vitest';
import {
  autoInterval,
  bucketCount,
  flowsQuerySchema,
  matrixQuerySchema,
  parseAddress,
  parseInterval,
  parseQuery,
  parseWhere,
  QUERY_LIMITS,
  topQuerySchema,
  trafficQuerySchema,
} from './query-input.js';

const range = { from: '2026-11-20T10:00:00Z', to: '2026-11-20T14:00:00Z' };
const error = (schema: Parameters<typeof parseQuery>[0], input: unknown) => {
  const r = parseQuery(schema, input);
  return r.ok ? 'valid' : r.error;
};

describe('times', () => {
  it('take ISO-8601 with Z or an offset, or a date; the range is half-open and must not be empty', () => {
    const q = trafficQuerySchema.parse({ from: '2026-11-20T11:00+01:00', to: '2026-11-21', interval: '1h' });
    expect(q.from.toISOString()).toBe('2026-11-20T10:00:00.000Z');
    expect(q.to.toISOString()).toBe('2026-11-21T00:00:00.000Z');
    expect(trafficQuerySchema.parse({ from: '2026-11-20T10:00:00.123456Z', to: range.to }).from.toISOString()).toBe(
      '2026-11-20T10:00:00.123Z',
    );
    expect(error(trafficQuerySchema, { ...range, from: '2026-11-20T10:00:00' })).toBe(
      "from: '2026-11-20T10:00:00' is not an ISO-8601 time with Z or an offset (e.g. 2026-11-21T10:00:00Z)",
    );
    expect(error(trafficQuerySchema, { ...range, to: 'yesterday' })).toMatch(/^to: 'yesterday' is not an ISO-8601 time/);
    expect(error(trafficQuerySchema, { ...range, to: range.from })).toBe('to: must be after from');
    expect(error(trafficQuerySchema, { from: range.from })).toBe('to: Invalid input: expected string, received undefined');
  });

  it('limit the length of the range', () => {
    expect(error(topQuerySchema, { of: 'src_org', from: '2024-01-01T00:00:00Z', to: '2026-11-20T00:00:00Z' })).toBe(
      `to: the range is longer than ${QUERY_LIMITS.maxRangeDays} days`,
    );
    expect(error(flowsQuerySchema, { from: '2026-10-01T00:00:00Z', to: '2026-11-20T00:00:00Z' })).toBe(
      `to: the range is longer than ${QUERY_LIMITS.maxFlowsRangeDays} days`,
    );
  });
});

describe('intervals', () => {
  it('are minutes dividing an hour, hours dividing a day, or a day', () => {
    expect(['1m', '5m', '15m', '30m', '1h', '2h', '6h', '12h', '1d'].map((s) => parseInterval(s)?.seconds)).toEqual([
      60, 300, 900, 1800, 3600, 7200, 21_600, 43_200, 86_400,
    ]);
    for (const bad of ['7m', '5h', '2d', '0m', '60s', '1w', 'm', '1.5h', '01m', ' 1m']) expect(parseInterval(bad)).toBeUndefined();
    expect(error(trafficQuerySchema, { ...range, interval: '7m' })).toBe(
      "interval: '7m': use Nm (N divides 60), Nh (N divides 24) or 1d, e.g. 1m, 5m, 1h, 1d",
    );
  });

  it('default to the finest usual one giving at most 500 buckets', () => {
    const i = (from: string, to: string) => autoInterval(new Date(from), new Date(to)).text;
    expect(i('2026-11-20T10:00:00Z', '2026-11-20T14:00:00Z')).toBe('1m');
    expect(i('2026-11-20T00:00:00Z', '2026-11-21T00:00:00Z')).toBe('5m');
    expect(i('2026-11-14T00:00:00Z', '2026-11-21T00:00:00Z')).toBe('1h');
    expect(i('2026-01-01T00:00:00Z', '2026-11-21T00:00:00Z')).toBe('1d');
    expect(trafficQuerySchema.parse(range).interval).toEqual({ text: '1m', seconds: 60 });
  });

  it('count the buckets a range touches, partial ones included', () => {
    const b = (from: string, to: string, s: number) => bucketCount(new Date(from), new Date(to), s);
    expect(b('2026-11-20T10:00:00Z', '2026-11-20T14:00:00Z', 3600)).toBe(4);
    expect(b('2026-11-20T10:30:00Z', '2026-11-20T14:00:01Z', 3600)).toBe(5);
    expect(b('2026-11-20T10:00:00Z', '2026-11-22T00:00:00Z', 86_400)).toBe(2);
  });

  it('bound the buckets and points of a series', () => {
    expect(error(trafficQuerySchema, { from: '2026-11-01T00:00:00Z', to: '2026-11-21T00:00:00Z', interval: '1m' })).toBe(
      `interval: 1m gives 28800 buckets over this range, more than ${QUERY_LIMITS.maxBuckets}: use a coarser interval or a shorter range`,
    );
    expect(
      error(trafficQuerySchema, { from: '2026-11-19T00:00:00Z', to: '2026-11-21T00:00:00Z', interval: '1m', by: 'src_org', top: 40 }),
    ).toBe(
      `top: 2880 buckets x 41 series is more than ${QUERY_LIMITS.maxPoints} points: fewer series, a coarser interval or a shorter range`,
    );
    expect(
      error(trafficQuerySchema, { from: '2026-11-19T00:00:00Z', to: '2026-11-21T00:00:00Z', interval: '1m', by: 'src_org', top: 30 }),
    ).toBe('valid');
  });
});

describe('series, top-N and matrix options', () => {
  it('come from fixed lists, with defaults', () => {
    const q = trafficQuerySchema.parse({ ...range, by: 'supplier' });
    expect({ by: q.by, top: q.top, rank: q.rank, rest: q.rest, where: q.where, table: q.table }).toEqual({
      by: 'supplier',
      top: 10,
      rank: 'bytes',
      rest: 'other',
      where: [],
      table: undefined,
    });
    expect(error(trafficQuerySchema, { ...range, by: 'src_org; DROP TABLE flows_raw' })).toMatch(
      /^by: Invalid option: expected one of "supplier"\|"src_org"/,
    );
    expect(error(trafficQuerySchema, { ...range, by: 'org_pair' })).toMatch(/^by: Invalid option/);
    expect(error(trafficQuerySchema, { ...range, rank: 'bytes DESC' })).toMatch(/^rank: Invalid option/);
    expect(error(trafficQuerySchema, { ...range, table: 'system.users' })).toMatch(/^table: Invalid option/);
    expect(error(trafficQuerySchema, { ...range, top: 51 })).toBe('top: must be at most 50');
    expect(error(trafficQuerySchema, { ...range, top: 'ten' })).toBe('top: must be a whole number');
    expect(error(trafficQuerySchema, { ...range, top: '2.5' })).toBe('top: must be a whole number');
    expect(error(trafficQuerySchema, { ...range, colour: 'red' })).toBe('Unrecognized key: "colour"');
    expect(topQuerySchema.parse({ ...range, of: 'host_pair', limit: '25' })).toMatchObject({ of: 'host_pair', metric: 'bytes', limit: 25 });
    expect(error(topQuerySchema, { ...range, of: 'src_org', limit: 1001 })).toBe('limit: must be at most 1000');
    expect(error(topQuerySchema, { ...range })).toMatch(/^of: Invalid option/);
    expect(matrixQuerySchema.parse(range)).toMatchObject({ level: 'org', metric: 'bytes', limit: 1000 });
    expect(error(matrixQuerySchema, { ...range, level: 'host' })).toBe('level: Invalid option: expected one of "org"|"supplier"');
    expect(error(flowsQuerySchema, { ...range, limit: 0 })).toBe('limit: must be at least 1');
    expect(error(flowsQuerySchema, { ...range, table: 'flows_1m' })).toBe('Unrecognized key: "table"');
  });
});

describe('where', () => {
  it('groups terms by field; a repeated field matches any of its values', () => {
    expect(parseWhere(['supplier=sup-a', 'src_org=RR8', 'supplier_id=sup-b', 'dst_port=443', 'proto=TCP', 'src_org='])).toEqual({
      ok: true,
      filters: [
        {
          field: 'supplier_id',
          values: [
            { kind: 'eq', value: 'sup-a' },
            { kind: 'eq', value: 'sup-b' },
          ],
        },
        {
          field: 'src_org',
          values: [
            { kind: 'eq', value: 'RR8' },
            { kind: 'eq', value: '' },
          ],
        },
        { field: 'dst_port', values: [{ kind: 'eq', value: 443 }] },
        { field: 'proto', values: [{ kind: 'eq', value: 6 }] },
      ],
    });
  });

  it('keeps everything after the first = as the value, whatever it holds', () => {
    const hostile = "x' OR 1=1; DROP TABLE flows_raw; -- {p0:String}";
    expect(parseWhere([`service=${hostile}`])).toEqual({
      ok: true,
      filters: [{ field: 'service', values: [{ kind: 'eq', value: hostile }] }],
    });
  });

  it('names the term and what is wrong with it', () => {
    expect(parseWhere(['src_org=RR8', 'colour=red'])).toEqual({
      ok: false,
      index: 1,
      message: expect.stringMatching(/^unknown field 'colour' \(fields: supplier_id, src_org, dst_org, org, /),
    });
    expect(parseWhere(['RR8'])).toMatchObject({ ok: false, message: "'RR8' is not field=value" });
    expect(parseWhere(['dst_port=65536'])).toMatchObject({ message: 'dst_port=65536: not a whole number from 0 to 65535' });
    expect(parseWhere(['proto=quic'])).toMatchObject({ message: 'proto=quic: not a whole number from 0 to 255 or a protocol name' });
    expect(parseWhere(['dst_port=-1'])).toMatchObject({ ok: false });
    expect(parseWhere(['dst_port=4e2'])).toMatchObject({ ok: false });
    expect(parseWhere(['kafka_offset=18446744073709551616'])).toMatchObject({
      message: 'kafka_offset=18446744073709551616: not a whole number',
    });
    expect(parseWhere(['kafka_offset=18446744073709551615'])).toMatchObject({ ok: true });
    expect(parseWhere([`service=${'x'.repeat(257)}`])).toMatchObject({
      ok: false,
      message: expect.stringMatching(/longer than 256 characters$/),
    });
    expect(error(flowsQuerySchema, { ...range, where: ['src_org=RR8', 'src_addr=10.1.2.300'] })).toBe(
      'where[1]: src_addr=10.1.2.300: not an IPv4 or IPv6 address or CIDR prefix (e.g. 10.1.0.0/16)',
    );
    expect(error(flowsQuerySchema, { ...range, where: Array.from({ length: 33 }, () => 'src_org=RR8') })).toBe(
      'where: Too big: expected array to have <=32 items',
    );
  });
});

describe('addresses', () => {
  it('match as stored: IPv4 as IPv4-mapped IPv6, an IPv4 /n as the mapped /(96+n)', () => {
    expect(parseAddress('10.1.2.3')).toEqual({ kind: 'eq', value: '::ffff:10.1.2.3' });
    expect(parseAddress('10.1.0.0/16')).toEqual({ kind: 'prefix', address: '::ffff:10.1.0.0', bits: 112 });
    expect(parseAddress('0.0.0.0/0')).toEqual({ kind: 'prefix', address: '::ffff:0.0.0.0', bits: 96 });
    expect(parseAddress('2001:DB8::1')).toEqual({ kind: 'eq', value: '2001:db8::1' });
    expect(parseAddress('2001:db8::/32')).toEqual({ kind: 'prefix', address: '2001:db8::', bits: 32 });
    expect(parseAddress('::ffff:10.1.2.3')).toEqual({ kind: 'eq', value: '::ffff:10.1.2.3' });
    for (const bad of ['10.1.2.3/33', '2001:db8::/129', '10.1.2.3/', '10.1.2.3/x', '10.1.2', 'host.example', '']) {
      expect(typeof parseAddress(bad), bad).toBe('string');
    }
    expect(parseWhere(['host=10.1.2.3'])).toMatchObject({ ok: true, filters: [{ field: 'addr' }] });
  });
});
