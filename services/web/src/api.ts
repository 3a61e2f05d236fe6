import type { User } from './types.js';

/** An API error as the page shows it: the JSON body's code and message. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrf: string | null = null;
let onUnauthorized: () => void = () => {};

export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

/** Calls the API with the session cookie; changes carry the session's CSRF token. */
export async function api<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (res.status === 204) return undefined as T;
  const json = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
  if (!res.ok) {
    if (res.status === 401 && path !== '/api/v1/session') onUnauthorized();
    throw new ApiFailure(res.status, json.error ?? 'error', json.message ?? res.statusText);
  }
  return json as T;
}

export const get = <T>(path: string, params?: Record<string, string | number | readonly string[] | undefined>) =>
  api<T>('GET', withQuery(path, params));

export function withQuery(path: string, params?: Record<string, string | number | readonly string[] | undefined>): string {
  if (!params) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === '') continue;
    if (Array.isArray(v)) for (const x of v) q.append(k, x);
    else q.append(k, String(v));
  }
  const text = q.toString();
  return text ? `${path}?${text}` : path;
}

export async function currentUser(): Promise<User | null> {
  try {
    const r = await api<{ user: User; csrf: string | null }>('GET', '/api/v1/session');
    csrf = r.csrf;
    return r.user;
  } catch (err) {
    if (err instanceof ApiFailure && err.status === 401) return null;
    throw err;
  }
}

export async function login(token: string): Promise<User> {
  const r = await api<{ user: User; csrf: string }>('POST', '/api/v1/session', { token });
  csrf = r.csrf;
  return r.user;
}

export async function logout(): Promise<void> {
  await api('DELETE', '/api/v1/session').catch(() => undefined);
  csrf = null;
}
