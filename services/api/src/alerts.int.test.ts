import { startTestApi, type TestApi, testAlert } from '@flowwatch/test-support';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertSummary } from './alerts/alert-record.js';

let t: TestApi;
let app: FastifyInstance;
const as = (token: string) => ({ authorization: `Bearer ${token}` });
const get = async (token: string, url: string) => {
  const r = await app.inject({ url, headers: as(token) });
  expect(r.statusCode, r.body).toBe(200);
  return r.json();
};
const post = (token: string, url: string, payload: unknown = {}) =>
  app.inject({ method: 'POST', url, headers: as(token), payload: payload as object });

beforeAll(async () => {
  t = await startTestApi();
  app = t.api.app();
});
afterAll(async () => t?.stop());

describe('alerts list', () => {
  const base = Date.parse('2026-10-01T12:00:00Z');
  const set = Array.from({ length: 60 }, (_, i) =>
    testAlert({
      id: `list_${String(i).padStart(3, '0')}`,
      type: (['port_scan', 'flood', 'exfiltration'] as const)[i % 3],
      severity: (['low', 'medium', 'high', 'critical'] as const)[i % 4],
      status: i % 10 === 0 ? 'resolved' : 'open',
      supplier_ids: i % 2 === 0 ? ['sup-a'] : ['sup-b', 'sup-c'],
      src_org: i % 2 === 0 ? 'RR8' : 'RTH',
      dst_org: '',
      entity: { kind: 'host', id: `10.9.${i}.1`, name: `host ${i}` },
      summary: i === 7 ? 'Exfiltration towards 203.0.113.9 from the PACS archive' : `Alert number ${i}`,
      first_seen: new Date(base + i * 60_000).toISOString(),
      last_seen: new Date(base + i * 60_000 + 30_000).toISOString(),
      detected_at: new Date(base + i * 60_000 + 40_000).toISOString(),
      score: i % 7,
    }),
  );

  beforeAll(async () => t.storeAlerts(set));
  const window = 'from=2026-10-01T00:00:00Z&to=2026-10-02T00:00:00Z';

  it('pages through every matching alert with the cursor, in order, exactly once', async () => {
    for (const [sort, order] of [
      ['detected_at', 'desc'],
      ['severity', 'desc'],
      ['score', 'asc'],
    ] as const) {
      const seen: AlertSummary[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: { alerts: AlertSummary[]; next_cursor: string | null; total: number } = await get(
          t.tokens.viewer,
          `/api/v1/alerts?${window}&limit=7&sort=${sort}&order=${order}${cursor ? `&cursor=${cursor}` : ''}`,
        );
        expect(page.total).toBe(60);
        seen.push(...page.alerts);
        cursor = page.next_cursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(9);
      expect(new Set(seen.map((a) => a.id)).size).toBe(60);
      const key = (a: AlertSummary) =>
        sort === 'severity'
          ? ['low', 'medium', 'high', 'critical'].indexOf(a.severity)
          : sort === 'score'
            ? a.score
            : Date.parse(a.detected_at);
      const keys = seen.map(key);
      const sorted = [...keys].sort((a, b) => (order === 'asc' ? a - b : b - a));
      expect(keys).toEqual(sorted);
    }
  });

  it('filters by status, type, severity, supplier, organisation, time and text', async () => {
    const ids = async (q: string) =>
      ((await get(t.tokens.viewer, `/api/v1/alerts?${q.includes('from=') ? '' : `${window}&`}limit=500&${q}`)).alerts as AlertSummary[])
        .map((a) => a.id)
        .sort();
    const expectIds = (pred: (i: number) => boolean) =>
      set
        .map((a, i) => [a.id, i] as const)
        .filter(([, i]) => pred(i))
        .map(([id]) => id)
        .sort();
    expect(await ids('status=resolved')).toEqual(expectIds((i) => i % 10 === 0));
    expect(await ids('status=open&type=flood&severity=high,critical')).toEqual(expectIds((i) => i % 10 !== 0 && i % 3 === 1 && i % 4 >= 2));
    expect(await ids('supplier=sup-c')).toEqual(expectIds((i) => i % 2 === 1));
    expect(await ids('org=RR8')).toEqual(expectIds((i) => i % 2 === 0));
    expect(await ids('q=pacs ARCHIVE')).toEqual(['list_007']);
    expect(await ids('q=10.9.12.1')).toEqual(['list_012']);
    // Active in [12:10, 12:20): last seen at or after 12:10 and first seen before 12:20.
    expect(await ids('from=2026-10-01T12:10:00Z&to=2026-10-01T12:20:00Z')).toEqual(expectIds((i) => i >= 10 && i < 20));
  });

  it('limits a supplier to the alerts naming it, in lists, counts and single reads (404 for the others)', async () => {
    const page = await get(t.tokens.supplierB, `/api/v1/alerts?${window}&limit=500`);
    expect(page.total).toBe(30);
    expect(page.alerts.every((a: AlertSummary) => a.supplier_ids.includes('sup-b'))).toBe(true);
    // Asking for another supplier's alerts gives nothing, not an error that confirms they exist.
    expect((await get(t.tokens.supplierB, `/api/v1/alerts?${window}&supplier=sup-a`)).total).toBe(0);
    const r = await app.inject({ url: '/api/v1/alerts/list_000', headers: as(t.tokens.supplierB) });
    expect(r.statusCode).toBe(404);
    expect(r.json()).toMatchObject({ error: 'not_found' });
    expect((await get(t.tokens.supplierA, '/api/v1/alerts/list_000')).alert.id).toBe('list_000');
    // Open alerts count whenever they were raised; resolved ones only for 24 hours (these are from October).
    const counts = await get(t.tokens.supplierB, '/api/v1/alerts/summary');
    expect(counts).toEqual({
      open: { low: 0, medium: 15, high: 0, critical: 15 },
      acknowledged: { low: 0, medium: 0, high: 0, critical: 0 },
      resolved_24h: 0,
    });
    const all = await get(t.tokens.viewer, '/api/v1/alerts/summary');
    expect(all.open).toEqual({ low: 12, medium: 15, high: 12, critical: 15 });
  });
});

describe('one alert and its changes', () => {
  it('returns the evidence and the history; acknowledging, commenting and resolving write new versions, events and audit entries', async () => {
    const alert = testAlert({ severity: 'critical' });
    await t.storeAlerts([alert]);
    await t.clickhouse.client.insert({
      table: 'alert_events',
      format: 'JSONEachRow',
      values: [
        { alert_id: alert.id, at: alert.detected_at.replace('T', ' ').slice(0, 23), event: 'opened', actor: 'detector', detail: '' },
      ],
    });
    const first = await get(t.tokens.viewer, `/api/v1/alerts/${alert.id}`);
    expect(first.alert).toMatchObject({
      id: alert.id,
      status: 'open',
      version: 1,
      evidence: { top_flows: [{ dst_port: 22 }], details: { unit: 'ports' } },
    });
    expect(first.events.map((e: { event: string }) => e.event)).toEqual(['opened']);

    let r = await post(t.tokens.analyst, `/api/v1/alerts/${alert.id}/ack`, { comment: 'on it' });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().alert).toMatchObject({ status: 'acknowledged', version: 2 });
    r = await post(t.tokens.analyst, `/api/v1/alerts/${alert.id}/ack`);
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ error: 'conflict' });
    r = await post(t.tokens.admin, `/api/v1/alerts/${alert.id}/comment`, { text: 'blocked at the firewall' });
    expect(r.statusCode).toBe(200);
    r = await post(t.tokens.analyst, `/api/v1/alerts/${alert.id}/resolve`);
    expect(r.json().alert).toMatchObject({ status: 'resolved', version: 3 });
    r = await post(t.tokens.analyst, `/api/v1/alerts/${alert.id}/resolve`);
    expect(r.statusCode).toBe(409);

    const after = await get(t.tokens.viewer, `/api/v1/alerts/${alert.id}`);
    expect(after.alert).toMatchObject({ status: 'resolved', version: 3, evidence: first.alert.evidence, summary: alert.summary });
    expect(after.events.map((e: { event: string; actor: string; detail: string }) => [e.event, e.actor, e.detail])).toEqual([
      ['opened', 'detector', ''],
      ['acknowledged', 'anna analyst', 'on it'],
      ['commented', 'ada admin', 'blocked at the firewall'],
      ['resolved', 'anna analyst', ''],
    ]);
    // The old versions are still stored; every read sees the newest (FINAL), filters included.
    const [counted] = await (
      await t.clickhouse.client.query({
        query: `SELECT count() AS n FROM alerts WHERE id = {id:String}`,
        query_params: { id: alert.id },
        format: 'JSONEachRow',
      })
    ).json<{ n: string }>();
    expect(Number(counted?.n)).toBe(3);
    const open = await get(t.tokens.viewer, `/api/v1/alerts?status=open&q=${alert.id}`);
    expect(open.total).toBe(0);
    const resolved = await get(t.tokens.viewer, `/api/v1/alerts?status=resolved&q=${alert.id}`);
    expect(resolved.alerts.map((a: AlertSummary) => a.version)).toEqual([3]);

    const audit = await get(t.tokens.viewer, `/api/v1/audit?target=${alert.id}`);
    expect(audit.entries.map((e: { action: string; actor: string; role: string }) => `${e.action} ${e.actor} ${e.role}`).sort()).toEqual([
      'alert.acknowledge anna analyst analyst',
      'alert.comment ada admin admin',
      'alert.resolve anna analyst analyst',
    ]);
  });

  it("refuses changes to another supplier's alert as not found, and changes by viewers and suppliers as forbidden", async () => {
    const alert = testAlert({ supplier_ids: ['sup-a'] });
    await t.storeAlerts([alert]);
    expect((await post(t.tokens.viewer, `/api/v1/alerts/${alert.id}/ack`)).statusCode).toBe(403);
    expect((await post(t.tokens.supplierA, `/api/v1/alerts/${alert.id}/ack`)).statusCode).toBe(403);
    expect((await post(t.tokens.analyst, '/api/v1/alerts/no-such-alert/ack')).statusCode).toBe(404);
    expect((await get(t.tokens.viewer, `/api/v1/alerts/${alert.id}`)).alert.status).toBe('open');
  });

  it('serialises simultaneous acknowledgements: one wins, the other gets 409', async () => {
    const alert = testAlert();
    await t.storeAlerts([alert]);
    const codes = (await Promise.all([1, 2, 3].map(() => post(t.tokens.analyst, `/api/v1/alerts/${alert.id}/ack`)))).map(
      (r) => r.statusCode,
    );
    expect(codes.sort()).toEqual([200, 409, 409]);
  });
});

describe('suppressions', () => {
  it('are created (often from an alert), listed, read, replaced and deleted; each change is audited', async () => {
    const body = {
      types: ['port_scan'],
      entities: ['host:10.1.0.7'],
      reason: 'vulnerability scanner',
      alert_id: 'al_x',
      expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    };
    let r = await post(t.tokens.analyst, '/api/v1/suppressions', body);
    expect(r.statusCode, r.body).toBe(201);
    const created = r.json().suppression;
    expect(created).toMatchObject({
      ...body,
      expires_at: new Date(body.expires_at).toISOString(),
      created_by: 'anna analyst',
      active: true,
      version: 1,
    });

    const never = await post(t.tokens.admin, '/api/v1/suppressions', { organisations: ['RR8'], reason: 'migration weekend' });
    expect(never.json().suppression).toMatchObject({ expires_at: null, active: true });
    const soon = await post(t.tokens.admin, '/api/v1/suppressions', {
      suppliers: ['sup-c'],
      reason: 'short',
      expires_at: new Date(Date.now() + 300).toISOString(),
    });
    await new Promise((res) => setTimeout(res, 400));

    let list = await get(t.tokens.viewer, '/api/v1/suppressions');
    expect(list.suppressions.map((s: { id: string }) => s.id)).toEqual(expect.arrayContaining([created.id, never.json().suppression.id]));
    expect(list.suppressions.map((s: { id: string }) => s.id)).not.toContain(soon.json().suppression.id);
    list = await get(t.tokens.viewer, '/api/v1/suppressions?include=expired');
    expect(list.suppressions.find((s: { id: string }) => s.id === soon.json().suppression.id)).toMatchObject({ active: false });

    r = await app.inject({
      method: 'PUT',
      url: `/api/v1/suppressions/${created.id}`,
      headers: as(t.tokens.admin),
      payload: { ...body, reason: 'scanner, confirmed with RR8' },
    });
    expect(r.json().suppression).toMatchObject({
      reason: 'scanner, confirmed with RR8',
      updated_by: 'ada admin',
      created_by: 'anna analyst',
      version: 2,
    });
    r = await app.inject({ method: 'DELETE', url: `/api/v1/suppressions/${created.id}`, headers: as(t.tokens.analyst) });
    expect(r.statusCode).toBe(200);
    expect((await app.inject({ url: `/api/v1/suppressions/${created.id}`, headers: as(t.tokens.viewer) })).statusCode).toBe(404);
    expect(
      (await app.inject({ method: 'DELETE', url: `/api/v1/suppressions/${created.id}`, headers: as(t.tokens.analyst) })).statusCode,
    ).toBe(404);

    // What the detector reads (docs/api.md): the active ones.
    const active = await (
      await t.clickhouse.client.query({
        query: 'SELECT id FROM suppressions FINAL WHERE deleted = 0 AND (expires_at IS NULL OR expires_at > now64(3)) ORDER BY id',
        format: 'JSONEachRow',
      })
    ).json<{ id: string }>();
    expect(active.map((a) => a.id)).toContain(never.json().suppression.id);
    expect(active.map((a) => a.id)).not.toContain(created.id);

    const audit = await get(t.tokens.viewer, `/api/v1/audit?target=${created.id}`);
    expect(audit.entries.map((e: { action: string }) => e.action).sort()).toEqual([
      'suppression.create',
      'suppression.delete',
      'suppression.update',
    ]);
  });
});

describe('audit log', () => {
  it('pages newest first with a cursor', async () => {
    const all = await get(t.tokens.viewer, '/api/v1/audit?limit=1000');
    expect(all.entries.length).toBeGreaterThan(5);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { entries: { id: string }[]; next_cursor: string | null } = await get(
        t.tokens.viewer,
        `/api/v1/audit?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...page.entries.map((e) => e.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(all.entries.map((e: { id: string }) => e.id));
  });
});
