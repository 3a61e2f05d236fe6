import type { ClickHouseClient } from '@flowwatch/clickhouse';
import type { Answer, AnswerMeta, QueryContext } from './answer.js';
import type { Metric, MetricValues } from './fields.js';
import type { MatrixQuery } from './query-input.js';
import { ranked } from './top-n.js';

export interface MatrixCell extends MetricValues {
  /** Source and destination organisation codes (or their suppliers); '' is outside the registry (the Internet, a gap). */
  src: string;
  dst: string;
}

export interface MatrixResult extends AnswerMeta {
  from: string;
  to: string;
  level: 'org' | 'supplier';
  metric: Metric;
  /** Pairs with traffic in the range; `cells` holds the largest `limit` of them. */
  pairs: number;
  truncated: boolean;
  cells: MatrixCell[];
  totals: MetricValues;
}

/** Who talks to whom: src_org x dst_org (or supplier x supplier) with sums and distinct address counts. */
export async function orgMatrix(client: ClickHouseClient, q: MatrixQuery, ctx: QueryContext): Promise<Answer<MatrixResult>> {
  const of = q.level === 'org' ? 'org_pair' : 'supplier_pair';
  const answer = await ranked(client, { ...q, of }, ctx);
  if (!answer.ok) return answer;
  const { table, reason, notes, keys, rows, totals } = answer.result;
  const [srcName, dstName] = q.level === 'org' ? ['src_org', 'dst_org'] : ['src_org_supplier', 'dst_org_supplier'];
  return {
    ok: true,
    result: {
      table,
      reason,
      notes,
      from: q.from.toISOString(),
      to: q.to.toISOString(),
      level: q.level,
      metric: q.metric,
      pairs: keys,
      truncated: keys > rows.length,
      cells: rows.map(({ key, ...metrics }) => ({ src: String(key[srcName as string]), dst: String(key[dstName as string]), ...metrics })),
      totals,
    },
  };
}
