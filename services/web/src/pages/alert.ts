import { ApiFailure, api, get } from '../api.js';
import type { App, Page } from '../app.js';
import { observedVsExpected } from '../charts/bars.js';
import { clear, h } from '../dom.js';
import { bytes, count, proto, si, time } from '../format.js';
import * as live from '../live.js';
import { href } from '../router.js';
import type { Alert, AlertEvent, Suppression } from '../types.js';
import { agoSpan, card, entityLine, refreshAgo, severityBadge, statusBadge, typeName } from '../widgets.js';

const MINUTE = 60_000;

/** The explorer's flows for an alert: its addresses, port, organisations and service, around its time. */
export function flowsLinkFor(
  a:
    | Alert
    | {
        src_addr?: string;
        dst_addr?: string;
        dst_port?: number;
        src_org?: string;
        dst_org?: string;
        service?: string;
        first_seen: string;
        last_seen: string;
      },
): string {
  const where: string[] = [];
  if (a.src_addr) where.push(`src_addr=${a.src_addr}`);
  if (a.dst_addr) where.push(`dst_addr=${a.dst_addr}`);
  if (a.dst_port) where.push(`dst_port=${a.dst_port}`);
  if (!a.src_addr && !a.dst_addr) {
    if (a.src_org) where.push(`src_org=${a.src_org}`);
    if (a.dst_org) where.push(`dst_org=${a.dst_org}`);
  }
  if (a.service) where.push(`service=${a.service}`);
  const from = Math.floor((Date.parse(a.first_seen) - 5 * MINUTE) / MINUTE) * MINUTE;
  const to = Math.ceil((Date.parse(a.last_seen) + 5 * MINUTE) / MINUTE) * MINUTE;
  return href('explorer', { from: new Date(from).toISOString(), to: new Date(to).toISOString(), where, tab: 'flows' });
}

const EVENT_LABELS: Record<string, string> = {
  opened: 'Opened',
  updated: 'Updated',
  escalated: 'Escalated',
  acknowledged: 'Acknowledged',
  commented: 'Comment',
  resolved: 'Resolved',
  reopened: 'Re-opened',
};

export const alertPage: Page = (main, app, route) => {
  const id = route.path[1] as string;
  let alive = true;
  const render = async () => {
    let data: { alert: Alert; events: AlertEvent[] };
    try {
      data = await get<{ alert: Alert; events: AlertEvent[] }>(`/api/v1/alerts/${encodeURIComponent(id)}`);
    } catch (err) {
      if (!alive) return;
      clear(
        main,
        h('div', { class: 'page-head' }, h('h1', null, 'Alert')),
        h(
          'p',
          { class: 'error', id: 'alert-error' },
          err instanceof ApiFailure && err.status === 404 ? `No alert ${id} (or not one you may see).` : String(err),
        ),
        h('a', { href: '#/alerts' }, '← All alerts'),
      );
      return;
    }
    if (!alive) return;
    clear(main, view(app, data.alert, data.events, render));
  };
  void render();
  const offAlert = live.on('alert', (e) => {
    if (e.alert.id === id) void render();
  });
  const offEvent = live.on('alert_event', (e) => {
    if (e.id === id) void render();
  });
  const ticker = window.setInterval(() => refreshAgo(main), 10_000);
  return () => {
    alive = false;
    offAlert();
    offEvent();
    window.clearInterval(ticker);
  };
};

function view(app: App, a: Alert, events: AlertEvent[], reload: () => Promise<void>): HTMLElement {
  const message = h('p', { class: 'error', role: 'alert', hidden: true });
  const act = async (fn: () => Promise<unknown>) => {
    message.hidden = true;
    try {
      await fn();
      await reload();
    } catch (err) {
      message.textContent = err instanceof ApiFailure ? err.message : String(err);
      message.hidden = false;
    }
  };
  const base = `/api/v1/alerts/${encodeURIComponent(a.id)}`;
  const actions = h('div', { class: 'actions' });
  if (app.may.act && a.status === 'open') {
    const ack = h('button', { type: 'button', class: 'primary', id: 'ack' }, 'Acknowledge');
    ack.addEventListener('click', () => act(() => api('POST', `${base}/ack`, {})));
    actions.append(ack);
  }
  if (app.may.act && a.status !== 'resolved') {
    const resolve = h('button', { type: 'button', id: 'resolve' }, 'Resolve');
    resolve.addEventListener('click', () => act(() => api('POST', `${base}/resolve`, {})));
    actions.append(resolve);
  }
  actions.append(h('a', { class: 'button', id: 'view-flows', href: flowsLinkFor(a) }, 'View flows'));

  const suppressForm = app.may.suppress ? suppressor(a) : null;
  if (suppressForm) {
    const toggle = h('button', { type: 'button', id: 'suppress' }, 'Suppress…');
    toggle.addEventListener('click', () => {
      suppressForm.hidden = !suppressForm.hidden;
    });
    actions.append(toggle);
  }

  const fact = (label: string, value: Node | string | undefined | null) =>
    value === undefined || value === null || value === '' ? null : h('div', { class: 'fact' }, h('dt', null, label), h('dd', null, value));
  const unit = String(a.evidence.details.unit ?? '');
  const fmt = (v: number) => (unit === 'bytes' || unit === 'bytes/s' ? bytes(v) : si(v)) + (unit && unit !== 'bytes' ? ` ${unit}` : '');

  const comment = h('textarea', {
    name: 'comment',
    rows: 2,
    placeholder: 'Add to the timeline…',
    'aria-label': 'Comment',
    maxlength: 2000,
  });
  const commentButton = h('button', { type: 'button', id: 'comment' }, 'Comment');
  commentButton.addEventListener('click', () => {
    const text = comment.value.trim();
    if (text) void act(() => api('POST', `${base}/comment`, { text }));
  });

  return h(
    'div',
    { class: 'alert-page', 'data-status': a.status, 'data-id': a.id },
    h('a', { href: '#/alerts', class: 'back' }, '← All alerts'),
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, severityBadge(a.severity), ' ', typeName(a.type), ': ', entityLine(a)),
      statusBadge(a.status),
    ),
    h('p', { class: 'summary' }, a.summary),
    actions,
    message,
    suppressForm,
    h(
      'div',
      { class: 'grid-2' },
      card(
        'What',
        h(
          'dl',
          { class: 'facts' },
          fact(
            'Entity',
            `${a.entity.kind}: ${a.entity.name?.includes(a.entity.id) ? a.entity.name : `${a.entity.id}${a.entity.name ? ` (${a.entity.name})` : ''}`}`,
          ),
          fact('Suppliers', a.supplier_ids.map(app.supplierName).join(', ')),
          fact('From', [a.src_addr, a.src_org && app.orgName(a.src_org)].filter(Boolean).join(' · ')),
          fact('To', [a.dst_addr, a.dst_port ? `port ${a.dst_port}` : '', a.dst_org && app.orgName(a.dst_org)].filter(Boolean).join(' · ')),
          fact('Service', a.service),
          fact('First seen', time(a.first_seen)),
          fact('Last seen', time(a.last_seen)),
          fact('Detected', agoSpan(a.detected_at)),
          fact('Score', a.score.toFixed(2)),
          fact('Id', h('code', null, a.id)),
        ),
      ),
      card('Observed vs expected', observedVsExpected(a.observed, a.expected, fmt), detailsList(a.evidence.details)),
    ),
    card(
      'Evidence: top flows',
      a.evidence.top_flows.length === 0
        ? h('p', { class: 'muted' }, 'No flows recorded with the alert.')
        : h(
            'table',
            { class: 'data compact', id: 'evidence-flows' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ['Time', 'Source', 'Destination', 'Protocol', 'Bytes', 'Packets', 'Exporter', ''].map((x) => h('th', null, x)),
              ),
            ),
            h(
              'tbody',
              null,
              a.evidence.top_flows.map((f) =>
                h(
                  'tr',
                  null,
                  h('td', null, f.time ? time(f.time) : ''),
                  h(
                    'td',
                    null,
                    `${f.src_addr ?? ''}${f.src_port ? `:${f.src_port}` : ''}`,
                    f.src_org ? h('span', { class: 'muted' }, ` ${f.src_org}`) : null,
                  ),
                  h(
                    'td',
                    null,
                    `${f.dst_addr ?? ''}${f.dst_port !== undefined ? `:${f.dst_port}` : ''}`,
                    f.dst_org ? h('span', { class: 'muted' }, ` ${f.dst_org}`) : null,
                  ),
                  h('td', null, f.proto !== undefined ? proto(f.proto) : ''),
                  h('td', { class: 'num' }, f.bytes !== undefined ? bytes(f.bytes) : ''),
                  h('td', { class: 'num' }, f.packets !== undefined ? count(f.packets) : ''),
                  h('td', null, [f.supplier_id, f.exporter_id].filter(Boolean).join('/')),
                  h(
                    'td',
                    null,
                    h(
                      'a',
                      {
                        href: flowsLinkFor({
                          src_addr: f.src_addr,
                          dst_addr: f.dst_addr,
                          dst_port: f.dst_port,
                          first_seen: a.first_seen,
                          last_seen: a.last_seen,
                        }),
                      },
                      'flows',
                    ),
                  ),
                ),
              ),
            ),
          ),
    ),
    h(
      'div',
      { class: 'grid-2' },
      card(
        'Evidence: top sources',
        a.evidence.top_sources.length === 0
          ? h('p', { class: 'muted' }, 'None recorded.')
          : h(
              'table',
              { class: 'data compact' },
              h(
                'thead',
                null,
                h(
                  'tr',
                  null,
                  h('th', null, 'Address'),
                  h('th', null, 'Organisation'),
                  h('th', { class: 'num' }, 'Flows'),
                  h('th', { class: 'num' }, 'Bytes'),
                ),
              ),
              h(
                'tbody',
                null,
                a.evidence.top_sources.map((x) =>
                  h(
                    'tr',
                    null,
                    h('td', null, x.addr ?? ''),
                    h('td', null, x.org ? app.orgName(x.org) : ''),
                    h('td', { class: 'num' }, count(x.flows ?? 0)),
                    h('td', { class: 'num' }, bytes(x.bytes ?? 0)),
                  ),
                ),
              ),
            ),
      ),
      card(
        'Timeline',
        h(
          'ol',
          { class: 'timeline', id: 'timeline' },
          events.length === 0 ? h('li', { class: 'muted' }, 'No events yet.') : null,
          events.map((e) =>
            h(
              'li',
              { class: `ev ev-${e.event}`, 'data-event': e.event },
              h('span', { class: 'ev-name' }, EVENT_LABELS[e.event] ?? e.event),
              ' by ',
              h('strong', null, e.actor || 'detector'),
              ' · ',
              agoSpan(e.at),
              e.detail ? h('p', { class: 'ev-detail' }, e.detail) : null,
            ),
          ),
        ),
        app.may.act ? h('div', { class: 'comment-box' }, comment, commentButton) : null,
      ),
    ),
  );
}

function detailsList(details: Alert['evidence']['details']): HTMLElement | null {
  const entries = Object.entries(details).filter(([k]) => k !== 'unit');
  if (entries.length === 0) return null;
  return h(
    'dl',
    { class: 'facts small' },
    entries.map(([k, v]) => h('div', { class: 'fact' }, h('dt', null, k.replace(/_/g, ' ')), h('dd', null, String(v)))),
  );
}

function suppressor(a: Alert): HTMLElement {
  const entity = `${a.entity.kind}:${a.entity.id}`;
  const reason = h('input', {
    name: 'reason',
    required: true,
    maxlength: 500,
    placeholder: 'Why (shown to analysts)',
    'aria-label': 'Reason',
  });
  const duration = h(
    'select',
    { name: 'duration', 'aria-label': 'For how long' },
    [
      ['3600000', '1 hour'],
      ['86400000', '24 hours'],
      ['604800000', '7 days'],
      ['', 'until deleted'],
    ].map(([v, label]) => h('option', { value: v, selected: v === '86400000' }, label)),
  );
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Suppress');
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const form = h(
    'form',
    { class: 'card suppress-form', hidden: true, id: 'suppress-form' },
    h('h2', null, 'Suppress similar alerts'),
    h('p', { class: 'muted' }, `The detector stops raising ${typeName(a.type)} alerts for ${entity}.`),
    reason,
    duration,
    submit,
    error,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const ms = duration.value ? Number(duration.value) : 0;
    error.hidden = true;
    api<{ suppression: Suppression }>('POST', '/api/v1/suppressions', {
      types: [a.type],
      entities: [entity],
      reason: reason.value.trim(),
      alert_id: a.id,
      expires_at: ms ? new Date(Date.now() + ms).toISOString() : null,
    }).then(
      (r) =>
        form.replaceChildren(
          h(
            'p',
            { class: 'ok', id: 'suppressed' },
            `Suppressed ${typeName(a.type)} alerts for ${entity} (${r.suppression.expires_at ? `until ${time(r.suppression.expires_at)}` : 'until deleted'}).`,
          ),
        ),
      (err: unknown) => {
        error.textContent = err instanceof ApiFailure ? err.message : String(err);
        error.hidden = false;
      },
    );
  });
  return form;
}
