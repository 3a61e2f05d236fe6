import { ApiFailure, api, get } from '../api.js';
import type { Page } from '../app.js';
import { clear, h } from '../dom.js';
import { time } from '../format.js';
import type { AuditEntry, Suppression } from '../types.js';
import { card } from '../widgets.js';

const ACTIONS = [
  'session.login',
  'session.login_failed',
  'session.logout',
  'alert.acknowledge',
  'alert.resolve',
  'alert.comment',
  'suppression.create',
  'suppression.update',
  'suppression.delete',
  'token.create',
  'token.revoke',
];

function describe(e: AuditEntry): string {
  const d = e.detail;
  switch (e.action) {
    case 'alert.comment':
      return String(d.text ?? '');
    case 'alert.acknowledge':
    case 'alert.resolve':
      return d.comment ? String(d.comment) : '';
    case 'suppression.create':
    case 'suppression.update':
      return [d.reason, ...(Array.isArray(d.types) ? d.types : []), ...(Array.isArray(d.entities) ? d.entities : [])]
        .filter(Boolean)
        .join(' · ');
    case 'token.create':
      return `${d.name} (${d.role}${d.supplier ? `, ${d.supplier}` : ''})`;
    case 'session.login_failed':
      return String(d.reason ?? '');
    default:
      return '';
  }
}

/** Who changed what, when (newest first), and the suppressions in force. */
export const auditPage: Page = (main, app, route) => {
  const action = route.params.get('action') ?? '';
  const select = h(
    'select',
    { name: 'action', 'aria-label': 'Action' },
    h('option', { value: '' }, 'every action'),
    ACTIONS.map((a) => h('option', { value: a, selected: a === action }, a)),
  );
  select.addEventListener('change', () => {
    location.hash = select.value ? `#/audit?action=${select.value}` : '#/audit';
  });
  const tbody = h('tbody', { id: 'audit-body' });
  const more = h('button', { type: 'button', class: 'ghost', hidden: true }, 'More');
  const suppressions = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  main.append(
    h('div', { class: 'page-head' }, h('h1', null, 'Audit log')),
    h('div', { class: 'filters card' }, select),
    h(
      'div',
      { class: 'card flush' },
      h(
        'table',
        { class: 'data', id: 'audit-table' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['When', 'Who', 'Role', 'Action', 'Target', 'Outcome', 'Detail', 'From'].map((c) => h('th', null, c)),
          ),
        ),
        tbody,
      ),
      h('div', { class: 'more' }, more),
    ),
    card('Suppressions in force', suppressions),
  );
  let cursor: string | null = null;
  const load = async () => {
    const r = await get<{ entries: AuditEntry[]; next_cursor: string | null }>('/api/v1/audit', {
      action: action || undefined,
      limit: 100,
      cursor: cursor ?? undefined,
    });
    for (const e of r.entries) {
      tbody.append(
        h(
          'tr',
          { class: e.outcome === 'failed' ? 'failed' : '' },
          h('td', null, time(e.at)),
          h('td', null, e.actor),
          h('td', null, e.role),
          h('td', null, h('code', null, e.action)),
          h(
            'td',
            null,
            e.target_kind === 'alert' ? h('a', { href: `#/alerts/${encodeURIComponent(e.target_id)}` }, e.target_id) : e.target_id,
          ),
          h('td', null, e.outcome),
          h('td', { class: 'wide' }, describe(e)),
          h('td', null, e.client_addr),
        ),
      );
    }
    if (r.entries.length === 0 && !cursor) tbody.append(h('tr', null, h('td', { colspan: 8, class: 'muted' }, 'Nothing recorded.')));
    cursor = r.next_cursor;
    more.hidden = !cursor;
  };
  more.addEventListener('click', () => void load());
  load().catch((err: Error) => tbody.append(h('tr', null, h('td', { colspan: 8, class: 'error' }, err.message))));

  const loadSuppressions = async () => {
    const r = await get<{ suppressions: Suppression[] }>('/api/v1/suppressions');
    clear(
      suppressions,
      r.suppressions.length === 0
        ? h('p', { class: 'muted' }, 'None.')
        : h(
            'table',
            { class: 'data compact' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ['What', 'Reason', 'By', 'Until', ''].map((c) => h('th', null, c)),
              ),
            ),
            h(
              'tbody',
              null,
              r.suppressions.map((s) => {
                const del = app.may.suppress ? h('button', { type: 'button', class: 'ghost small' }, 'Delete') : null;
                del?.addEventListener('click', async () => {
                  try {
                    await api('DELETE', `/api/v1/suppressions/${encodeURIComponent(s.id)}`);
                    await loadSuppressions();
                  } catch (err) {
                    del.textContent = err instanceof ApiFailure ? err.message : 'failed';
                  }
                });
                return h(
                  'tr',
                  null,
                  h(
                    'td',
                    null,
                    [
                      ...s.types,
                      ...s.entities,
                      ...s.organisations.map((o) => `org ${o}`),
                      ...s.groups.map((g) => `group ${g}`),
                      ...s.suppliers.map((x) => `supplier ${x}`),
                    ].join(' · '),
                  ),
                  h('td', null, s.reason),
                  h('td', null, s.created_by),
                  h('td', null, s.expires_at ? time(s.expires_at) : 'until deleted'),
                  h('td', null, del),
                );
              }),
            ),
          ),
    );
  };
  loadSuppressions().catch((err: Error) => clear(suppressions, h('p', { class: 'error' }, err.message)));
  return undefined;
};
