import { get } from '../api.js';
import type { Page } from '../app.js';
import { h } from '../dom.js';
import { count, TYPE_NAMES } from '../format.js';
import * as live from '../live.js';
import { go, href } from '../router.js';
import { type AlertSummary, SEVERITIES, STATUSES } from '../types.js';
import { agoSpan, entityLine, refreshAgo, severityBadge, statusBadge, typeName } from '../widgets.js';

const SORTS = [
  ['detected_at', 'Detected'],
  ['severity', 'Severity'],
  ['score', 'Score'],
  ['last_seen', 'Last seen'],
] as const;

const list = (v: string | null) => (v ? v.split(',').filter(Boolean) : []);

/**
 * Alerts, filtered by status, severity, type, supplier and text, sorted by a column, paged with
 * the API's cursor ("more"); new and changed alerts that match the filters appear as they happen.
 */
export const alertsPage: Page = (main, app, route) => {
  const p = route.params;
  const filter = {
    status: p.has('status') ? list(p.get('status')) : ['open', 'acknowledged'],
    severity: list(p.get('severity')),
    type: list(p.get('type')),
    supplier: list(p.get('supplier')),
    q: p.get('q') ?? '',
    sort: p.get('sort') ?? 'detected_at',
    order: p.get('order') === 'asc' ? 'asc' : 'desc',
  };
  const params = (over: Partial<typeof filter>) => {
    const f = { ...filter, ...over };
    return {
      status: f.status.join(','),
      severity: f.severity.join(','),
      type: f.type.join(','),
      supplier: f.supplier.join(','),
      q: f.q,
      sort: f.sort,
      order: f.order,
    };
  };
  const apply = (over: Partial<typeof filter>) => go('alerts', params(over));

  const checks = (name: 'status' | 'severity', values: readonly string[]) =>
    h(
      'fieldset',
      { class: 'checks' },
      h('legend', null, name),
      values.map((v) => {
        const box = h('input', { type: 'checkbox', name, value: v, checked: filter[name].includes(v) });
        box.addEventListener('change', () => apply({ [name]: box.checked ? [...filter[name], v] : filter[name].filter((x) => x !== v) }));
        return h('label', null, box, ` ${v}`);
      }),
    );
  const select = (name: 'type' | 'supplier', options: [string, string][]) => {
    const el = h(
      'select',
      { name, 'aria-label': name },
      h('option', { value: '' }, `any ${name}`),
      options.map(([v, label]) => h('option', { value: v, selected: filter[name][0] === v }, label)),
    );
    el.addEventListener('change', () => apply({ [name]: el.value ? [el.value] : [] }));
    return el;
  };
  const search = h('input', {
    type: 'search',
    name: 'q',
    value: filter.q,
    placeholder: 'Search summary, entity, address…',
    'aria-label': 'Search',
  });
  search.addEventListener('change', () => apply({ q: search.value.trim() }));

  const total = h('span', { class: 'muted', id: 'alerts-total' }, '');
  const tbody = h('tbody', { id: 'alerts-body' });
  const more = h('button', { type: 'button', class: 'ghost', hidden: true }, 'More');
  const head = h(
    'tr',
    null,
    h('th', null, sortLink('severity', 'Severity')),
    h('th', null, 'Status'),
    h('th', null, 'Type'),
    h('th', null, 'Entity'),
    h('th', { class: 'wide' }, 'Summary'),
    h('th', null, 'Suppliers'),
    h('th', null, sortLink('detected_at', 'Detected')),
    h('th', { class: 'num' }, sortLink('score', 'Score')),
  );
  function sortLink(key: string, label: string) {
    const active = filter.sort === key;
    const order = active && filter.order === 'desc' ? 'asc' : 'desc';
    return h(
      'a',
      {
        href: href('alerts', params({ sort: key, order })),
        class: active ? `sorted ${filter.order}` : '',
        'aria-sort': active ? (filter.order === 'asc' ? 'ascending' : 'descending') : null,
      },
      label,
      active ? (filter.order === 'asc' ? ' ▲' : ' ▼') : '',
    );
  }

  main.append(
    h('div', { class: 'page-head' }, h('h1', null, 'Alerts'), total),
    h(
      'div',
      { class: 'filters card' },
      checks('status', STATUSES),
      checks('severity', SEVERITIES),
      select(
        'type',
        Object.entries(TYPE_NAMES).map(([k, v]) => [k, v]),
      ),
      app.user.supplier
        ? null
        : select(
            'supplier',
            app.registry.suppliers.map((s) => [s.id, s.name]),
          ),
      search,
      h(
        'label',
        { class: 'sort-select' },
        'Sort ',
        (() => {
          const el = h(
            'select',
            { name: 'sort' },
            SORTS.map(([k, label]) => h('option', { value: k, selected: filter.sort === k }, label)),
          );
          el.addEventListener('change', () => apply({ sort: el.value }));
          return el;
        })(),
      ),
    ),
    h(
      'div',
      { class: 'card flush' },
      h('table', { class: 'data alerts', id: 'alerts-table' }, h('thead', null, head), tbody),
      h('div', { class: 'more' }, more),
    ),
  );

  let cursor: string | null = null;
  let shown = 0;
  let totalCount = 0;
  const rowOf = (a: AlertSummary, fresh = false) =>
    h(
      'tr',
      { 'data-id': a.id, class: `${fresh ? 'fresh ' : ''}row-${a.status}`, tabindex: 0 },
      h('td', null, severityBadge(a.severity)),
      h('td', null, statusBadge(a.status)),
      h('td', null, typeName(a.type)),
      h('td', null, entityLine(a)),
      h('td', { class: 'wide' }, h('a', { href: `#/alerts/${encodeURIComponent(a.id)}` }, a.summary)),
      h('td', null, a.supplier_ids.map(app.supplierName).join(', ')),
      h('td', null, agoSpan(a.detected_at)),
      h('td', { class: 'num' }, a.score.toFixed(1)),
    );
  tbody.addEventListener('click', (e) => {
    const tr = (e.target as HTMLElement).closest('tr');
    if (tr?.dataset.id && !(e.target as HTMLElement).closest('a')) location.hash = `#/alerts/${encodeURIComponent(tr.dataset.id)}`;
  });
  tbody.addEventListener('keydown', (e) => {
    const tr = (e.target as HTMLElement).closest('tr');
    if (e.key === 'Enter' && tr?.dataset.id) location.hash = `#/alerts/${encodeURIComponent(tr.dataset.id)}`;
  });
  const setTotal = () => {
    total.textContent = `${count(totalCount)} matching`;
  };

  const load = async () => {
    more.disabled = true;
    try {
      const r = await get<{ alerts: AlertSummary[]; next_cursor: string | null; total: number }>('/api/v1/alerts', {
        ...params({}),
        limit: 50,
        cursor: cursor ?? undefined,
      });
      if (shown === 0 && r.alerts.length === 0) tbody.append(h('tr', { class: 'empty' }, h('td', { colspan: 8 }, 'No alerts match.')));
      for (const a of r.alerts) tbody.append(rowOf(a));
      shown += r.alerts.length;
      cursor = r.next_cursor;
      totalCount = r.total;
      setTotal();
      more.hidden = !cursor;
    } catch (err) {
      tbody.append(h('tr', null, h('td', { colspan: 8, class: 'error' }, err instanceof Error ? err.message : String(err))));
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', () => void load());
  void load();

  const matches = (a: AlertSummary) =>
    (filter.status.length === 0 || filter.status.includes(a.status)) &&
    (filter.severity.length === 0 || filter.severity.includes(a.severity)) &&
    (filter.type.length === 0 || filter.type.includes(a.type)) &&
    (filter.supplier.length === 0 || a.supplier_ids.some((s) => filter.supplier.includes(s))) &&
    (filter.q === '' ||
      [a.summary, a.entity.name, a.entity.id, a.src_addr, a.dst_addr, a.service, a.id]
        .join(' ')
        .toLowerCase()
        .includes(filter.q.toLowerCase()));

  const off = live.on('alert', ({ alert }) => {
    const existing = tbody.querySelector<HTMLElement>(`tr[data-id="${CSS.escape(alert.id)}"]`);
    if (!matches(alert)) {
      if (existing) {
        existing.remove();
        totalCount = Math.max(0, totalCount - 1);
        setTotal();
      }
      return;
    }
    tbody.querySelector('tr.empty')?.remove();
    const row = rowOf(alert, true);
    if (existing) existing.replaceWith(row);
    else {
      // New alerts go on top in the default order; in another order they are added on top too, marked new.
      tbody.prepend(row);
      totalCount++;
      setTotal();
    }
  });
  const ticker = window.setInterval(() => refreshAgo(main), 10_000);
  return () => {
    off();
    window.clearInterval(ticker);
  };
};
