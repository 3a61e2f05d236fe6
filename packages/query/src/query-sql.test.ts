import { describe, expect, it } from 'vitest';
import { FLOW_TABLES } from './fields.js';
import { flowsSql } from './flow-search.js';
import { flowsQuerySchema, parseWhere, topQuerySchema, trafficQuerySchema } from './query-input.js';
import { filtersSql, SqlParams } from './query-sql.js';
import { topSql } from './top-n.js';
import { trafficRankedSeriesSql, trafficRankSql, trafficSeriesSql } from './traffic-series.js';

const range = { from: '2026-11-20T10:00:00Z', to: '2026-11-20T14:00:00Z' };
const HOSTILE = "RR8' OR 1=1; DROP TABLE flows_raw; --";

describe('built SQL', () => {
  it('binds every value as a typed parameter and never contains input text', () => {
    const where = [
      `src_org=${HOSTILE}`,
      `service=${HOSTILE}`,
      'src_addr=10.1.0.0/16',
      'dst_port=443',
      'dst_port=8443',
      'kafka_offset=123456789012345678',
    ];
    const built = [
      ...FLOW_TABLES.flatMap((table) => {
        const series = trafficQuerySchema.parse({ ...range, interval: '1h', by: 'src_org', where: where.slice(0, 2) });
        const top = topQuerySchema.parse({ ...range, of: 'org_pair', where: where.slice(0, 2) });
        const sums = trafficQuerySchema.parse({ ...range, interval: '1h', by: 'src_org', metrics: 'bytes', where: where.slice(0, 2) });
        return [
          trafficRankSql(table, series),
          trafficSeriesSql(table, series, [HOSTILE]),
          trafficRankedSeriesSql(table, sums),
          topSql(table, top),
        ];
      }),
      flowsSql(flowsQuerySchema.parse({ ...range, where })),
    ];
    for (const { sql, params } of built) {
      expect(sql).not.toContain('RR8');
      expect(sql).not.toContain('10.1.0.0');
      expect(sql).not.toContain('123456789012345678');
      expect(sql.replaceAll("'UTC'", '')).not.toContain("'"); // no string literal but the time zone
      expect(Object.values(params)).toContainEqual(HOSTILE);
      for (const name of Object.keys(params)) expect(sql).toMatch(new RegExp(`\\{${name}:[A-Za-z0-9()]+\\}`));
    }
  });

  it('matches a field against any of its values, either-side fields on either column, prefixes as ranges', () => {
    const parsed = parseWhere(['src_org=RR8', 'org=RAE', 'org=RYJ', 'addr=10.1.0.0/16', 'dst_port=443']);
    if (!parsed.ok) throw new Error(parsed.message);
    const p = new SqlParams();
    expect(filtersSql(parsed.filters, p)).toEqual([
      'src_org = {p0:String}',
      '(src_org IN {p1:Array(String)} OR dst_org IN {p1:Array(String)})',
      '(src_addr BETWEEN tupleElement(IPv6CIDRToRange({p2:IPv6}, {p3:UInt8}), 1) AND tupleElement(IPv6CIDRToRange({p2:IPv6}, {p3:UInt8}), 2) OR dst_addr BETWEEN tupleElement(IPv6CIDRToRange({p2:IPv6}, {p3:UInt8}), 1) AND tupleElement(IPv6CIDRToRange({p2:IPv6}, {p3:UInt8}), 2))',
      'dst_port = {p4:UInt16}',
    ]);
    expect(p.values).toEqual({ p0: 'RR8', p1: ['RAE', 'RYJ'], p2: '::ffff:10.1.0.0', p3: 112, p4: 443 });
  });

  it('computes only the metrics asked for, and always the one that orders the answer', () => {
    const series = trafficQuerySchema.parse({ ...range, interval: '1h', metrics: 'bytes_est' });
    expect(trafficSeriesSql('flows_1m', series).sql).toMatch(/SELECT .* AS bucket, sum\(bytes_est\) AS bytes_est\nFROM/);
    const top = topQuerySchema.parse({ ...range, of: 'src_org', metric: 'flows', metrics: 'dst_addrs,bytes' });
    expect(top.metrics).toEqual(['bytes', 'flows', 'dst_addrs']);
    expect(topSql('flows_1h', top).sql).not.toContain('src_addrs');
    expect(topSql('flows_1h', top).sql).not.toContain('OVER () AS total_'); // a distinct count: totals need their own query
    expect(topSql('flows_1h', { ...top, metrics: ['flows'] }).sql).toContain('sum(flows) OVER () AS total_flows');
    const bad = trafficQuerySchema.safeParse({ ...range, metrics: 'bytes,colour' });
    expect(bad.success || bad.error.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['metrics', "'colour' is not a metric (metrics: bytes, packets, bytes_est, packets_est, flows, src_addrs, dst_addrs)"],
    ]);
  });

  it('reads the rollups with merged aggregates and flows_raw with plain ones', () => {
    const q = trafficQuerySchema.parse({ ...range, interval: '1h' });
    expect(trafficSeriesSql('flows_1h', q).sql).toContain('sum(flows) AS flows, uniqMerge(src_addrs) AS src_addrs');
    expect(trafficSeriesSql('flows_1h', q).sql).toContain('FROM flows_1h');
    expect(trafficSeriesSql('flows_raw', q).sql).toContain('count() AS flows, uniq(src_addr) AS src_addrs');
  });
});
