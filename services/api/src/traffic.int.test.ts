import { enrichedFlowRows, rawRowTimeMs, startTestApi, type TestApi } from '@flowwatch/test-support';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The traffic endpoints answer what @flowwatch/query answers (its own tests check the numbers
 * against the rows); here: parameters pass through, a supplier only ever sees its own flows, and
 * limits and unanswerable questions come back as 400 and 422.
 */
const HOUR = 3_600_000;
const NOW = Date.now();
// Six whole hours ending at least an hour ago: the exporters' status reads the last 15 minutes,
// which must hold only the `recent` rows below, whatever the time of day the test runs.
const BASE = Math.floor(NOW / HOUR) * HOUR - 7 * HOUR;
const FROM = new Date(BASE).toISOString();
const TO = new Date(BASE + 6 * HOUR).toISOString();
const rows = enrichedFlowRows(3000, BASE, 6 * HOUR, 11);
// And a few just now, from one exporter of sup-a, for the exporters' status.
const recent = enrichedFlowRows(20, NOW - 30_000, 20_000, 12).map((r) => ({ ...r, supplier_id: 'sup-a', exporter_id: 'sup-a-r1' }));

let t: TestApi;
let app: FastifyInstance;
const get = async (token: string, url: string, status = 200) => {
  const r = await app.inject({ url, headers: { authorization: `Bearer ${token}` } });
  expect(r.statusCode, r.body).toBe(status);
  return r.json();
};

beforeAll(async () => {
  t = await startTestApi();
  app = t.api.app();
  for (let i = 0; i < rows.length; i += 1000) {
    await t.clickhouse.client.insert({ table: 'flows_raw', values: rows.slice(i, i + 1000), format: 'JSONEachRow' });
  }
  await t.clickhouse.client.insert({ table: 'flows_raw', values: recent, format: 'JSONEachRow' });
});
afterAll(async () => t?.stop());

const sum = (xs: readonly { bytes: number }[]) => xs.reduce((a, r) => a + r.bytes, 0);
const inRange = rows.filter((r) => rawRowTimeMs(r.time_received) >= Date.parse(FROM) && rawRowTimeMs(r.time_received) < Date.parse(TO));

describe('traffic for the operations centre', () => {
  it('series per supplier from the coarsest table that answers, totals equal to the rows', async () => {
    const r = await get(t.tokens.viewer, `/api/v1/traffic/series?from=${FROM}&to=${TO}&interval=1h&by=supplier`);
    expect(r.table).toBe('flows_1h');
    expect(r.series).toHaveLength(3);
    const total = r.series
      .flatMap((s: { points: { bytes: number }[] }) => s.points)
      .reduce((a: number, p: { bytes: number }) => a + p.bytes, 0);
    expect(total).toBe(sum(inRange));
    expect(r.series[0].points).toHaveLength(6);
  });

  it('top-N, matrix and flows pass their parameters through', async () => {
    const top = await get(t.tokens.viewer, `/api/v1/traffic/top?from=${FROM}&to=${TO}&of=dst_port&limit=3&where=proto=tcp`);
    expect(top.rows).toHaveLength(3);
    expect(top.totals.bytes).toBe(sum(inRange.filter((r) => r.proto === 6)));
    const matrix = await get(t.tokens.viewer, `/api/v1/traffic/matrix?from=${FROM}&to=${TO}&level=supplier`);
    expect(matrix.totals.bytes).toBe(sum(inRange));
    const flows = await get(t.tokens.viewer, `/api/v1/flows?from=${FROM}&to=${TO}&where=src_org=RR8&where=dst_port=22&limit=5`);
    expect(flows.flows.length).toBeGreaterThan(0);
    expect(flows.flows.every((f: { src_org: string; dst_port: number }) => f.src_org === 'RR8' && f.dst_port === 22)).toBe(true);
  });

  it('computes only the metrics asked for: the others are absent, a wrong name is a 400 naming the field', async () => {
    const only = `from=${FROM}&to=${TO}&metrics=bytes`;
    const series = await get(t.tokens.viewer, `/api/v1/traffic/series?${only}&interval=1h&by=supplier&rank=bytes`);
    const points = series.series.flatMap((s: { points: object[] }) => s.points);
    expect(points.every((p: object) => Object.keys(p).sort().join() === 'bytes,ts')).toBe(true);
    expect(sum(points)).toBe(sum(inRange));
    const top = await get(t.tokens.viewer, `/api/v1/traffic/top?${only}&of=dst_port&metric=flows`);
    expect(Object.keys(top.totals).sort()).toEqual(['bytes', 'flows']);
    expect(top.totals).toEqual({ bytes: sum(inRange), flows: inRange.length });
    const matrix = await get(t.tokens.viewer, `/api/v1/traffic/matrix?${only}&metric=bytes&level=supplier`);
    expect(matrix.totals).toEqual({ bytes: sum(inRange) });
    const bad = await get(t.tokens.viewer, `/api/v1/traffic/top?from=${FROM}&to=${TO}&of=dst_port&metrics=bytes,colour`, 400);
    expect(bad.message).toMatch(/metrics.*'colour' is not a metric/);
  });

  it('refuses a question no table can answer with 422 and the reason', async () => {
    const r = await get(t.tokens.viewer, '/api/v1/traffic/top?from=2020-01-01T00:00:00.5Z&to=2020-01-02T00:00:00Z&of=src_addr', 422);
    expect(r).toMatchObject({ error: 'unanswerable', message: expect.stringContaining('flows_raw') });
  });
});

describe('a supplier sees its own flows only', () => {
  const mine = inRange.filter((r) => r.supplier_id === 'sup-b');

  it('in every traffic answer, whatever it asks', async () => {
    const series = await get(t.tokens.supplierB, `/api/v1/traffic/series?from=${FROM}&to=${TO}&interval=1h&by=supplier`);
    expect(series.series.map((s: { key: string }) => s.key)).toEqual(['sup-b']);
    const top = await get(t.tokens.supplierB, `/api/v1/traffic/top?from=${FROM}&to=${TO}&of=src_org&limit=1000`);
    expect(top.totals.bytes).toBe(sum(mine));
    const matrix = await get(t.tokens.supplierB, `/api/v1/traffic/matrix?from=${FROM}&to=${TO}`);
    expect(matrix.totals.bytes).toBe(sum(mine));
    const flows = await get(t.tokens.supplierB, `/api/v1/flows?from=${FROM}&to=${TO}&limit=10000`);
    expect(flows.flows).toHaveLength(mine.length);
    expect(new Set(flows.flows.map((f: { supplier_id: string }) => f.supplier_id))).toEqual(new Set(['sup-b']));
    // Naming itself is fine; an alias of the field too.
    const own = await get(t.tokens.supplierB, `/api/v1/flows?from=${FROM}&to=${TO}&where=supplier=sup-b&limit=10000`);
    expect(own.flows).toHaveLength(mine.length);
  });

  it("asking for another supplier's flows is a 403 naming the filter, even mixed with its own", async () => {
    for (const where of ['supplier_id=sup-a', 'supplier=sup-a', 'supplier_id=sup-b&where=supplier_id=sup-a']) {
      const r = await get(t.tokens.supplierB, `/api/v1/flows?from=${FROM}&to=${TO}&where=${where}`, 403);
      expect(r).toMatchObject({ error: 'forbidden', field: 'query.where' });
    }
  });

  it('exporters: only its own, with their telemetry status', async () => {
    const all = await get(t.tokens.viewer, '/api/v1/exporters');
    const status = Object.fromEntries(
      all.exporters.map((e: { supplier: string; exporter: string; status: string }) => [`${e.supplier}/${e.exporter}`, e.status]),
    );
    expect(status).toEqual({
      'sup-a/sup-a-r1': 'ok',
      'sup-a/sup-a-r2': 'silent',
      'sup-b/sup-b-r1': 'silent',
      'sup-b/sup-b-r2': 'silent',
      'sup-c/sup-c-r1': 'silent',
      'sup-c/sup-c-r2': 'silent',
    });
    const a = all.exporters.find((e: { exporter: string }) => e.exporter === 'sup-a-r1');
    expect(a).toMatchObject({ registered: true, flows: 20 });
    expect(Date.parse(a.last_flow)).toBeGreaterThan(NOW - 60_000);
    const b = await get(t.tokens.supplierB, '/api/v1/exporters');
    expect(b.exporters.map((e: { exporter: string }) => e.exporter)).toEqual(['sup-b-r1', 'sup-b-r2']);
  });

  it('registry: its own supplier and organisations, no prefixes or token hashes', async () => {
    const r = await get(t.tokens.supplierB, '/api/v1/registry');
    expect(r.suppliers).toEqual([{ id: 'sup-b', name: 'Supplier B', exporters: ['sup-b-r1', 'sup-b-r2'] }]);
    expect(r.organisations.map((o: { code: string }) => o.code)).toEqual(['RTH', 'RJ1', 'B86']);
    expect(r.groups).toEqual([]);
    expect(JSON.stringify(r)).not.toMatch(/prefixes|pushTokens|sha256/);
    const all = await get(t.tokens.viewer, '/api/v1/registry');
    expect(all.suppliers).toHaveLength(3);
    expect(all.groups).toEqual([{ id: 'acute', name: 'Acute trusts', organisations: ['RR8', 'RTH'] }]);
  });
});

describe("each role's query budget", () => {
  it('refuses a question over the budget with 422 query_budget, and the limit does not outlive it', async () => {
    // A second API on the same ClickHouse, with a supplier budget of 100 rows read.
    const tight = await startTestApi({ clickhouse: t.clickhouse, config: { queryBudgets: { supplier: { maxRowsRead: 100 } } } });
    try {
      const ask = (token: string, url: string) => tight.api.app().inject({ url, headers: { authorization: `Bearer ${token}` } });
      for (const url of [
        `/api/v1/flows?from=${FROM}&to=${TO}&limit=10000`,
        `/api/v1/traffic/top?from=${FROM}&to=${TO}&of=src_org&table=flows_raw`,
      ]) {
        const over = await ask(tight.tokens.supplierB, url);
        expect(over.statusCode, over.body).toBe(422);
        expect(over.json()).toMatchObject({
          error: 'query_budget',
          message: expect.stringMatching(/reads more than 100 rows, the supplier role's limit \(api\.queryBudgets\.supplier\)/),
        });
      }
      // The next questions, of roles with room (on the same embedded engine), are answered whole.
      const flows = await ask(tight.tokens.analyst, `/api/v1/flows?from=${FROM}&to=${TO}&limit=10000`);
      expect(flows.statusCode, flows.body).toBe(200);
      expect(flows.json().flows).toHaveLength(inRange.length);
      expect((await get(t.tokens.supplierB, `/api/v1/flows?from=${FROM}&to=${TO}&limit=10000`)).flows.length).toBeGreaterThan(100);
    } finally {
      await tight.stop();
    }
  });
});
