import { get, withQuery } from '../api.js';
import type { Page } from '../app.js';
import { lineChart } from '../charts/line-chart.js';
import { matrixChart } from '../charts/matrix-chart.js';
import { clear, h } from '../dom.js';
import { bps, bytes, count } from '../format.js';
import * as live from '../live.js';
import { href } from '../router.js';
import type { AlertSummary, Counts, Exporter, Matrix, Series, TrafficTick } from '../types.js';
import { agoSpan, card, entityLine, refreshAgo, severityBadge, statusBadge, typeName } from '../widgets.js';

const MINUTE = 60_000;
const WINDOW = 60 * MINUTE;

/**
 * The wall: open alerts by severity, live traffic per supplier (the last hour per minute, the
 * newest minutes from the event stream), who sends to whom between suppliers, every exporter's
 * telemetry status, and the newest open alerts.
 */
export const overviewPage: Page = (main, app) => {
  const tiles = h('div', { class: 'tiles', id: 'severity-tiles' });
  const trafficBox = h('div', { id: 'traffic-chart' }, h('p', { class: 'muted' }, 'Loading…'));
  const matrixBox = h('div', { id: 'supplier-matrix' }, h('p', { class: 'muted' }, 'Loading…'));
  const exportersBox = h('div', { id: 'exporters' }, h('p', { class: 'muted' }, 'Loading…'));
  const recentBox = h('div', { id: 'recent-alerts' }, h('p', { class: 'muted' }, 'Loading…'));
  main.append(
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, 'Overview'),
      h(
        'p',
        { class: 'muted' },
        app.user.supplier ? `Traffic and alerts of ${app.supplierName(app.user.supplier)}` : 'All suppliers, the last hour',
      ),
    ),
    tiles,
    h('div', { class: 'grid-2' }, card('Traffic per supplier (estimated, bit/s)', trafficBox), card('Open alerts, newest', recentBox)),
    h('div', { class: 'grid-2' }, card('Traffic between suppliers (last hour)', matrixBox), card('Exporters: telemetry', exportersBox)),
  );

  // Per-minute bytes_est by supplier: loaded for the hour, then the newest minutes from the stream.
  const perMinute = new Map<string, Map<number, number>>();
  let windowEnd = Math.ceil(Date.now() / MINUTE) * MINUTE;
  const drawTraffic = () => {
    const from = windowEnd - WINDOW;
    const suppliers = [...perMinute.keys()].sort();
    const series = suppliers.map((id, i) => {
      const points: { t: number; v: number }[] = [];
      for (let t = from; t < windowEnd; t += MINUTE) points.push({ t, v: ((perMinute.get(id)?.get(t) ?? 0) * 8) / 60 });
      return { name: app.supplierName(id), colour: i, points };
    });
    clear(
      trafficBox,
      series.length
        ? lineChart({ series, from, to: windowEnd - MINUTE, format: bps })
        : h('p', { class: 'muted' }, 'No traffic in the last hour.'),
    );
  };
  const loadTraffic = async () => {
    windowEnd = Math.ceil(Date.now() / MINUTE) * MINUTE;
    const r = await get<Series>('/api/v1/traffic/series', {
      from: new Date(windowEnd - WINDOW).toISOString(),
      to: new Date(windowEnd).toISOString(),
      interval: '1m',
      by: 'supplier',
      top: 20,
      rest: 'drop',
      rank: 'bytes_est',
      metrics: 'bytes_est',
    });
    perMinute.clear();
    for (const s of r.series) perMinute.set(String(s.key), new Map(s.points.map((p) => [Date.parse(p.ts), p.bytes_est])));
    drawTraffic();
  };
  const onTick = (tick: TrafficTick) => {
    const newest = Math.ceil(Date.parse(tick.at) / MINUTE) * MINUTE;
    if (newest > windowEnd) windowEnd = newest;
    for (const b of tick.buckets) {
      let m = perMinute.get(b.supplier);
      if (!m) perMinute.set(b.supplier, (m = new Map()));
      m.set(Date.parse(b.ts), b.bytes_est);
    }
    drawTraffic();
  };

  const loadCounts = async () => {
    const c = await get<Counts>('/api/v1/alerts/summary');
    clear(
      tiles,
      (['critical', 'high', 'medium', 'low'] as const).map((sev) =>
        h(
          'a',
          { class: `tile tile-${sev}`, href: href('alerts', { status: 'open,acknowledged', severity: sev }), 'data-severity': sev },
          h('span', { class: 'tile-n' }, count(c.open[sev] + c.acknowledged[sev])),
          h('span', { class: 'tile-label' }, `${sev}`),
          h('span', { class: 'tile-sub' }, `${count(c.acknowledged[sev])} acknowledged`),
        ),
      ),
      h(
        'a',
        { class: 'tile tile-resolved', href: href('alerts', { status: 'resolved' }) },
        h('span', { class: 'tile-n' }, count(c.resolved_24h)),
        h('span', { class: 'tile-label' }, 'resolved'),
        h('span', { class: 'tile-sub' }, 'last 24 hours'),
      ),
    );
  };

  const loadRecent = async () => {
    const r = await get<{ alerts: AlertSummary[]; total: number }>(
      withQuery('/api/v1/alerts', { status: 'open,acknowledged', sort: 'detected_at', limit: 8 }),
    );
    clear(
      recentBox,
      r.alerts.length === 0
        ? h('p', { class: 'muted' }, 'No open alerts.')
        : h(
            'ul',
            { class: 'recent' },
            r.alerts.map((a) =>
              h(
                'li',
                null,
                h(
                  'a',
                  { href: `#/alerts/${encodeURIComponent(a.id)}` },
                  severityBadge(a.severity),
                  ' ',
                  statusBadge(a.status),
                  ' ',
                  h('strong', null, typeName(a.type)),
                  ' ',
                  entityLine(a),
                  h('span', { class: 'muted' }, ' · ', agoSpan(a.detected_at)),
                ),
              ),
            ),
          ),
      r.total > r.alerts.length
        ? h('a', { href: href('alerts', { status: 'open,acknowledged' }) }, `All ${count(r.total)} open alerts →`)
        : null,
    );
  };

  const loadMatrix = async () => {
    const now = Math.ceil(Date.now() / MINUTE) * MINUTE;
    const m = await get<Matrix>('/api/v1/traffic/matrix', {
      from: new Date(now - WINDOW).toISOString(),
      to: new Date(now).toISOString(),
      level: 'supplier',
      metric: 'bytes_est',
      metrics: 'bytes_est',
      limit: 400,
    });
    clear(
      matrixBox,
      matrixChart(
        m.cells.map((c) => ({ src: c.src, dst: c.dst, value: c.bytes_est })),
        app.supplierName,
        bytes,
      ),
      h('p', { class: 'muted small' }, `Estimated bytes, by the suppliers of the organisations at each end; from ${m.table}.`),
    );
  };

  const loadExporters = async () => {
    const r = await get<{ exporters: Exporter[]; silent_after_seconds: number }>('/api/v1/exporters');
    const silent = r.exporters.filter((e) => e.status === 'silent').length;
    clear(
      exportersBox,
      h(
        'p',
        { class: silent ? 'warn' : 'muted' },
        silent
          ? `${silent} of ${r.exporters.length} exporters silent (nothing for ${r.silent_after_seconds} s)`
          : `All ${r.exporters.length} exporters sending`,
      ),
      h(
        'table',
        { class: 'data compact' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            h('th', null, 'Supplier'),
            h('th', null, 'Exporter'),
            h('th', null, 'Telemetry'),
            h('th', null, 'Last flow'),
            h('th', { class: 'num' }, 'Flows (15 min)'),
          ),
        ),
        h(
          'tbody',
          null,
          r.exporters.map((e) =>
            h(
              'tr',
              { 'data-exporter': `${e.supplier}/${e.exporter}` },
              h('td', null, app.supplierName(e.supplier)),
              h('td', null, e.exporter, e.registered ? '' : h('span', { class: 'muted' }, ' (unregistered)')),
              h('td', null, h('span', { class: `dot dot-${e.status}` }), e.status === 'ok' ? 'sending' : 'silent'),
              h('td', null, e.last_flow ? agoSpan(e.last_flow) : 'not in 15 min'),
              h('td', { class: 'num' }, count(e.flows)),
            ),
          ),
        ),
      ),
    );
  };

  const fail = (box: HTMLElement) => (err: unknown) =>
    clear(box, h('p', { class: 'error' }, err instanceof Error ? err.message : String(err)));
  const loadAll = () => {
    loadCounts().catch(fail(tiles));
    loadTraffic().catch(fail(trafficBox));
    loadRecent().catch(fail(recentBox));
    loadMatrix().catch(fail(matrixBox));
    loadExporters().catch(fail(exportersBox));
  };
  loadAll();

  let pending: number | undefined;
  const offAlert = live.on('alert', () => {
    // Bursts of alerts: one refresh per second at most.
    if (pending !== undefined) return;
    pending = window.setTimeout(() => {
      pending = undefined;
      loadCounts().catch(fail(tiles));
      loadRecent().catch(fail(recentBox));
    }, 1000);
  });
  const offTraffic = live.on('traffic', onTick);
  const slow = window.setInterval(() => {
    loadMatrix().catch(fail(matrixBox));
    loadExporters().catch(fail(exportersBox));
  }, 60_000);
  const ticker = window.setInterval(() => refreshAgo(main), 10_000);
  return () => {
    offAlert();
    offTraffic();
    window.clearInterval(slow);
    window.clearInterval(ticker);
    if (pending !== undefined) window.clearTimeout(pending);
  };
};
