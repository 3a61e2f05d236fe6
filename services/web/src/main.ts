import './style.css';
import { ApiFailure, currentUser, get, login, logout, setUnauthorizedHandler } from './api.js';
import { type App, makeApp, type Page } from './app.js';
import { h } from './dom.js';
import * as live from './live.js';
import { alertPage } from './pages/alert.js';
import { alertsPage } from './pages/alerts.js';
import { auditPage } from './pages/audit.js';
import { explorerPage } from './pages/explorer.js';
import { overviewPage } from './pages/overview.js';
import { currentRoute, go } from './router.js';
import type { Registry } from './types.js';

const root = document.getElementById('app') as HTMLElement;
let app: App | undefined;
let cleanup: (() => void) | undefined;

// Theme: the system's unless chosen here (kept in localStorage); wall mode: larger type for a wall display.
const THEMES = ['auto', 'light', 'dark'] as const;
function applyTheme(theme: string): void {
  document.documentElement.dataset.theme = theme;
}
applyTheme(localStorage.getItem('fw-theme') ?? 'auto');
if (localStorage.getItem('fw-wall') === '1') document.documentElement.classList.add('wall');

function showLogin(message?: string): void {
  live.disconnect();
  cleanup?.();
  cleanup = undefined;
  app = undefined;
  const error = h('p', { class: 'error', role: 'alert', hidden: !message }, message ?? '');
  const input = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    placeholder: 'fwt_…',
    spellcheck: 'false',
  });
  const form = h(
    'form',
    { class: 'login card' },
    h('h1', null, h('span', { class: 'brand-mark' }), 'flowwatch'),
    h('p', { class: 'muted' }, 'Operations centre. Log in with your API token.'),
    h('label', { for: 'token' }, 'Token'),
    input,
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Log in'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    try {
      await login(input.value.trim());
      await start();
    } catch (err) {
      error.textContent = err instanceof ApiFailure ? err.message : 'Log-in failed';
      error.hidden = false;
    }
  });
  root.replaceChildren(h('main', { class: 'login-page' }, form));
  input.focus();
}

async function start(): Promise<void> {
  // Both at once: the session check and the registry are the page's start-up, before any widget asks for data.
  const [user, registry] = await Promise.all([
    currentUser(),
    get<Registry>('/api/v1/registry').catch((err: unknown) => {
      if (err instanceof ApiFailure && err.status === 401) return undefined;
      throw err;
    }),
  ]);
  if (!user) return showLogin();
  app = makeApp(user, registry ?? (await get<Registry>('/api/v1/registry')));
  renderShell(app);
  live.connect(() => {
    void currentUser().then((u) => {
      if (!u) showLogin('Your session has ended. Log in again.');
    });
  });
  route();
}

const NAV: { path: string; label: string; show: (a: App) => boolean }[] = [
  { path: 'overview', label: 'Overview', show: () => true },
  { path: 'alerts', label: 'Alerts', show: () => true },
  { path: 'explorer', label: 'Explorer', show: () => true },
  { path: 'audit', label: 'Audit log', show: (a) => a.may.audit },
];

function renderShell(a: App): void {
  const state = h('span', { class: 'live-state connecting', title: 'Live updates' }, 'connecting');
  live.on('state', (s) => {
    state.className = `live-state ${s}`;
    state.textContent = s === 'live' ? 'live' : s === 'connecting' ? 'reconnecting' : 'offline';
  });
  const theme = h('button', { class: 'ghost', type: 'button', title: 'Theme' }, `Theme: ${document.documentElement.dataset.theme}`);
  theme.addEventListener('click', () => {
    const next = THEMES[(THEMES.indexOf(document.documentElement.dataset.theme as (typeof THEMES)[number]) + 1) % THEMES.length] as string;
    localStorage.setItem('fw-theme', next);
    applyTheme(next);
    theme.textContent = `Theme: ${next}`;
  });
  const wall = h('button', { class: 'ghost', type: 'button', title: 'Larger text for a wall display' }, 'Wall');
  wall.addEventListener('click', () => {
    const on = document.documentElement.classList.toggle('wall');
    localStorage.setItem('fw-wall', on ? '1' : '0');
  });
  const out = h('button', { class: 'ghost', type: 'button', id: 'logout' }, 'Log out');
  out.addEventListener('click', async () => {
    await logout();
    showLogin();
  });
  root.replaceChildren(
    h(
      'header',
      { class: 'top' },
      h('a', { class: 'brand', href: '#/overview' }, h('span', { class: 'brand-mark' }), 'flowwatch'),
      h(
        'nav',
        null,
        NAV.filter((n) => n.show(a)).map((n) => h('a', { href: `#/${n.path}`, 'data-nav': n.path }, n.label)),
      ),
      h(
        'div',
        { class: 'who' },
        state,
        h('span', { class: 'user', id: 'user' }, a.user.name),
        h(
          'span',
          { class: `role role-${a.user.role}` },
          a.user.supplier ? `${a.user.role} · ${a.supplierName(a.user.supplier)}` : a.user.role,
        ),
        theme,
        wall,
        out,
      ),
    ),
    h('main', { id: 'main' }),
  );
}

const PAGES: Record<string, Page> = { overview: overviewPage, alerts: alertsPage, explorer: explorerPage, audit: auditPage };

function route(): void {
  if (!app) return;
  const r = currentRoute();
  const [first = 'overview', second] = r.path;
  if (r.path.length === 0) {
    go('overview');
    return;
  }
  const main = document.getElementById('main') as HTMLElement;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) a.classList.toggle('active', a.dataset.nav === first);
  cleanup?.();
  cleanup = undefined;
  main.replaceChildren();
  const page = first === 'alerts' && second ? alertPage : PAGES[first];
  if (!page) {
    main.append(h('p', { class: 'error' }, `No page ${first}.`));
    return;
  }
  try {
    cleanup = page(main, app, r) ?? undefined;
  } catch (err) {
    main.append(h('p', { class: 'error' }, String(err)));
  }
}

setUnauthorizedHandler(() => {
  if (app) showLogin('Your session has ended. Log in again.');
});
window.addEventListener('hashchange', route);
start().catch((err) => {
  root.replaceChildren(h('p', { class: 'error' }, `flowwatch could not start: ${err instanceof Error ? err.message : String(err)}`));
});
