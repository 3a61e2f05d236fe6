/**
 * Hash routes (#/alerts/al_1?x=y): the server serves one page, the browser keeps history, and a
 * link is a plain href. A route renders into the main element and may return a clean-up.
 */
export interface Route {
  path: string[];
  params: URLSearchParams;
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path = '', query = ''] = hash.split('?');
  return { path: path.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query) };
}

export function href(path: string, params?: Record<string, string | number | readonly string[] | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v === undefined || v === '') continue;
    if (Array.isArray(v)) for (const x of v) q.append(k, x);
    else q.append(k, String(v));
  }
  const text = q.toString();
  return `#/${path}${text ? `?${text}` : ''}`;
}

export function go(path: string, params?: Record<string, string | number | readonly string[] | undefined>): void {
  location.hash = href(path, params);
}
