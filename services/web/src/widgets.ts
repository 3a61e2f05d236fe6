import { ApiFailure } from './api.js';
import { h } from './dom.js';
import { ago, TYPE_NAMES } from './format.js';
import type { AlertSummary, Severity, Status } from './types.js';

export const severityBadge = (s: Severity) => h('span', { class: `sev sev-${s}` }, s);
export const statusBadge = (s: Status) => h('span', { class: `status status-${s}` }, s);
export const typeName = (t: string) => TYPE_NAMES[t] ?? t;

export function card(title: string | Node, ...body: (Node | string | null | undefined | false)[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', null, title), ...body);
}

/** A placeholder replaced by what `load` renders, or by its error. */
export function async(load: () => Promise<Node>, placeholder = 'Loading…'): HTMLElement {
  const box = h('div', { class: 'async' }, h('p', { class: 'muted' }, placeholder));
  load().then(
    (node) => box.replaceChildren(node),
    (err: unknown) => box.replaceChildren(h('p', { class: 'error' }, err instanceof ApiFailure ? `${err.message}` : String(err))),
  );
  return box;
}

/** Relative times that stay current: spans with data-ago are refreshed every 10 s by the page. */
export function agoSpan(iso: string): HTMLElement {
  return h('time', { datetime: iso, 'data-ago': iso, title: new Date(iso).toISOString() }, ago(iso));
}

export function refreshAgo(root: ParentNode): void {
  for (const el of root.querySelectorAll<HTMLElement>('[data-ago]')) el.textContent = ago(el.dataset.ago);
}

export function entityLine(a: AlertSummary): string {
  return a.entity.name && a.entity.name !== a.entity.id ? `${a.entity.name}` : `${a.entity.kind} ${a.entity.id}`;
}
