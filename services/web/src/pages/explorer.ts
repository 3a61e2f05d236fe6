import { get } from '../api.js';
import type { App, Page } from '../app.js';
import { lineChart } from '../charts/line-chart.js';
import { clear, h } from '../dom.js';
import { bps, bytes, count, proto, time } from '../format.js';
import { go, href } from '../router.js';
import type { Flows, Series, Top } from '../types.js';
import { card } from '../widgets.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const RANGES: Record<string, { ms: number; interval: string; align: number; label: string }> = {
  '15m': { ms: 15 * MINUTE, interval: '1m', align: MINUTE, label: 'last 15 minutes' },
  '1h': { ms: HOUR, interval: '1m', align: MINUTE, label: 'last hour' },
  '6h': { ms: 6 * HOUR, interval: '5m', align: 5 * MINUTE, label: 'last 6 hours' },
  '24h': { ms: 24 * HOUR, interval: '15m', align: 15 * MINUTE, label: 'last 24 hours' },
  '7d': { ms: 7 * 24 * HOUR, interval: '1h', align: HOUR, label: 'last 7 days' },
};
const KINDS: Record<string, { label: string; field: string; placeholder: string }> = {
  all: { label: 'Whole network', field: '', placeholder: '' },
  org: { label: 'Organisation', field: 'org', placeholder: 'ODS code, e.g. RR8' },
  supplier: { label: 'Supplier', field: 'supplier_id', placeholder: 'supplier id' },
  host: { label: 'Host or prefix', field: 'addr', placeholder: '10.1.2.3 or 10.1.0.0/16' },
  service: { label: 'Service', field: 'service', placeholder: 'service id' },
  port: { label: 'Destination port', field: 'dst_port', placeholder: '443' },
};

/** An interval for an explicit range: the finest of the usual ones giving at most 360 buckets. */
function intervalFor(from: number, to: number): string {
  for (const [text, ms] of [
    ['1m', MINUTE],
    ['5m', 5 * MINUTE],
    ['15m', 15 * MINUTE],
    ['1h', HOUR],
    ['6h', 6 * HOUR],
    ['1d', 24 * HOUR],
  ] as const) {
    if ((to - from) / ms <= 360) return text;
  }
  return '1d';
}

/**
 * Pick an entity and a range; see its traffic, top talkers, ports and peers; click any of them
 * through to the flows. Alerts link here with their addresses and time (`where`, `from`, `to`).
 */
export const explorerPage: Page = (main, app, route) => {
  const p = route.params;
  const kind = KINDS[p.get('kind') ?? ''] ? (p.get('kind') as string) : 'all';
  const id = p.get('id') ?? '';
  const rangeKey = RANGES[p.get('range') ?? ''] ? (p.get('range') as string) : '1h';
  const extra = p.getAll('where');
  const tab = p.get('tab') === 'flows' ? 'flows' : 'traffic';
  let from: number;
  let to: number;
  let interval: string;
  if (p.get('from') && p.get('to')) {
    from = Date.parse(p.get('from') as string);
    to = Date.parse(p.get('to') as string);
    interval = intervalFor(from, to);
  } else {
    const r = RANGES[rangeKey] as (typeof RANGES)[string];
    to = Math.ceil(Date.now() / r.align) * r.align;
    from = to - r.ms;
    interval = r.interval;
  }
  const where = [...(kind !== 'all' && id ? [`${(KINDS[kind] as { field: string }).field}=${id}`] : []), ...extra];
  const state = {
    kind,
    id,
    range: p.get('from') ? undefined : rangeKey,
    from: p.get('from') ?? undefined,
    to: p.get('to') ?? undefined,
    where: extra,
    tab,
  };
  const link = (over: Partial<typeof state>) => href('explorer', { ...state, ...over });
  const range = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };

  // The picker.
  const kindSelect = h(
    'select',
    { name: 'kind', 'aria-label': 'Entity kind' },
    Object.entries(KINDS).map(([k, v]) => h('option', { value: k, selected: k === kind }, v.label)),
  );
  const idInput = h('input', {
    name: 'id',
    value: id,
    list: 'entity-options',
    placeholder: (KINDS[kind] as { placeholder: string }).placeholder,
    'aria-label': 'Entity',
  });
  const options = h('datalist', { id: 'entity-options' });
  const fillOptions = () => {
    const k = kindSelect.value;
    const list =
      k === 'org'
        ? app.registry.organisations.map((o) => [o.code, o.name])
        : k === 'supplier'
          ? app.registry.suppliers.map((s) => [s.id, s.name])
          : k === 'service'
            ? app.registry.services.map((s) => [s.id, s.name])
            : [];
    clear(
      options,
      list.map(([v, label]) => h('option', { value: v }, label)),
    );
    idInput.placeholder = (KINDS[k] as { placeholder: string }).placeholder;
    idInput.disabled = k === 'all';
  };
  kindSelect.addEventListener('change', fillOptions);
  fillOptions();
  const rangeSelect = h(
    'select',
    { name: 'range', 'aria-label': 'Range' },
    state.from ? h('option', { value: '' }, `${time(range.from)} – ${time(range.to)}`) : null,
    Object.entries(RANGES).map(([k, v]) => h('option', { value: k, selected: !state.from && k === rangeKey }, v.label)),
  );
  const form = h(
    'form',
    { class: 'filters card', id: 'explorer-form' },
    kindSelect,
    idInput,
    options,
    rangeSelect,
    h('button', { type: 'submit', class: 'primary' }, 'Show'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const r = rangeSelect.value;
    go('explorer', {
      kind: kindSelect.value,
      id: kindSelect.value === 'all' ? undefined : idInput.value.trim(),
      range: r || undefined,
      from: r ? undefined : state.from,
      to: r ? undefined : state.to,
      where: extra,
      tab,
    });
  });

  const chips = extra.length
    ? h(
        'div',
        { class: 'chips' },
        'Filters: ',
        extra.map((term) =>
          h('a', { class: 'chip', href: link({ where: extra.filter((x) => x !== term) }), title: 'Remove this filter' }, term, ' ×'),
        ),
      )
    : null;
  const tabs = h(
    'div',
    { class: 'tabs', role: 'tablist' },
    h('a', { href: link({ tab: 'traffic' }), class: tab === 'traffic' ? 'active' : '', role: 'tab' }, 'Traffic'),
    h('a', { href: link({ tab: 'flows' }), class: tab === 'flows' ? 'active' : '', role: 'tab', id: 'flows-tab' }, 'Flows'),
  );
  const title =
    kind === 'all' || !id
      ? 'Whole network'
      : `${(KINDS[kind] as { label: string }).label} ${kind === 'org' ? `${id} · ${app.orgName(id)}` : kind === 'supplier' ? app.supplierName(id) : id}`;
  main.append(h('div', { class: 'page-head' }, h('h1', null, 'Explorer'), h('p', { class: 'muted' }, title)), form);
  if (chips) main.append(chips);
  main.append(tabs);

  const body = h('div', { id: 'explorer-body' });
  main.append(body);
  const drill = (terms: string[]) => link({ where: [...extra, ...terms], tab: 'flows' });

  if (tab === 'traffic') {
    const chart = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
    const talkers = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
    const ports = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
    const peers = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
    body.append(
      card('Traffic by direction (estimated, bit/s)', chart),
      h('div', { class: 'grid-3' }, card('Top talkers', talkers), card('Ports', ports), card('Peers', peers)),
    );
    const seconds = (iv: string) => ({ m: 60, h: 3600, d: 86_400 })[iv.slice(-1) as 'm' | 'h' | 'd'] * Number(iv.slice(0, -1));
    get<Series>('/api/v1/traffic/series', {
      ...range,
      interval,
      by: 'direction',
      top: 6,
      rank: 'bytes_est',
      metrics: 'bytes_est',
      where,
    }).then(
      (r) => {
        const step = seconds(interval);
        clear(
          chart,
          lineChart({
            series: r.series.map((x, i) => ({
              name: String(x.key ?? 'other'),
              colour: i,
              points: x.points.map((pt) => ({ t: Date.parse(pt.ts), v: (pt.bytes_est * 8) / step })),
            })),
            from,
            to: to - step * 1000,
            format: bps,
          }),
          h('p', { class: 'muted small' }, `From ${r.table}, ${r.interval} buckets.`),
        );
      },
      (err: Error) => clear(chart, h('p', { class: 'error' }, err.message)),
    );
    const top = (
      box: HTMLElement,
      of: string,
      cols: string[],
      row: (k: Record<string, string | number>) => { cells: string[]; terms: string[] },
    ) =>
      get<Top>('/api/v1/traffic/top', { ...range, of, metric: 'bytes_est', metrics: 'bytes_est', limit: 10, where }).then(
        (r) =>
          clear(
            box,
            r.rows.length === 0
              ? h('p', { class: 'muted' }, 'Nothing in this range.')
              : h(
                  'table',
                  { class: 'data compact clickable', 'data-top': of },
                  h(
                    'thead',
                    null,
                    h(
                      'tr',
                      null,
                      cols.map((c) => h('th', null, c)),
                      h('th', { class: 'num' }, 'Bytes'),
                      h('th', { class: 'num' }, 'Share'),
                    ),
                  ),
                  h(
                    'tbody',
                    null,
                    r.rows.map((x) => {
                      const { cells, terms } = row(x.key);
                      return h(
                        'tr',
                        null,
                        cells.map((label, i) =>
                          h('td', null, i === 0 ? h('a', { href: drill(terms), title: 'Show these flows' }, label) : label),
                        ),
                        h('td', { class: 'num' }, bytes(x.bytes_est)),
                        h('td', { class: 'num' }, r.totals.bytes_est ? `${((100 * x.bytes_est) / r.totals.bytes_est).toFixed(1)}%` : ''),
                      );
                    }),
                  ),
                ),
          ),
        (err: Error) => clear(box, h('p', { class: 'error' }, err.message)),
      );
    void top(talkers, 'src_addr', ['Host'], (k) => ({ cells: [String(k.src_addr)], terms: [`src_addr=${k.src_addr}`] }));
    void top(ports, 'dst_port', ['Port'], (k) => ({ cells: [String(k.dst_port)], terms: [`dst_port=${k.dst_port}`] }));
    void top(peers, 'org_pair', ['From', 'To'], (k) => ({
      cells: [app.orgName(String(k.src_org)), app.orgName(String(k.dst_org))],
      terms: [`src_org=${k.src_org}`, `dst_org=${k.dst_org}`],
    }));
  } else {
    const box = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
    body.append(card('Flows (newest first)', box));
    get<Flows>('/api/v1/flows', { ...range, where, limit: 200 }).then(
      (r) => clear(box, flowsTable(app, r)),
      (err: Error) => clear(box, h('p', { class: 'error' }, err.message)),
    );
  }
  return undefined;
};

function flowsTable(app: App, r: Flows): Node {
  if (r.flows.length === 0) return h('p', { class: 'muted', id: 'no-flows' }, 'No flows match in this range.');
  return h(
    'div',
    null,
    h(
      'p',
      { class: 'muted small' },
      `${count(r.flows.length)} flows${r.truncated ? ` (the newest ${r.limit}; narrow the filters for the rest)` : ''}, from ${r.table}.`,
      ...r.notes.map((n) => h('span', { class: 'warn' }, ` ${n}`)),
    ),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { class: 'data compact', id: 'flows-table' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            [
              'Received',
              'Supplier / exporter',
              'Source',
              'Destination',
              'Proto',
              'Bytes',
              'Packets',
              'Sampling',
              'Direction',
              'Service',
            ].map((c) => h('th', null, c)),
          ),
        ),
        h(
          'tbody',
          null,
          r.flows.map((f) =>
            h(
              'tr',
              null,
              h('td', null, time(f.time_received)),
              h('td', null, `${app.supplierName(f.supplier_id)} / ${f.exporter_id}`),
              h('td', null, `${f.src_addr}:${f.src_port}`, f.src_org ? h('span', { class: 'muted' }, ` ${f.src_org}`) : null),
              h('td', null, `${f.dst_addr}:${f.dst_port}`, f.dst_org ? h('span', { class: 'muted' }, ` ${f.dst_org}`) : null),
              h('td', null, proto(f.proto)),
              h('td', { class: 'num' }, bytes(f.bytes)),
              h('td', { class: 'num' }, count(f.packets)),
              h('td', { class: 'num' }, f.sampling_rate > 1 ? `1:${f.sampling_rate}` : '–'),
              h('td', null, f.direction),
              h('td', null, f.service),
            ),
          ),
        ),
      ),
    ),
  );
}
