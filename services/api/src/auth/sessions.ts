import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { OldestFirst } from '@flowwatch/insertion-order';

/**
 * Dashboard sessions, in this process's memory. Logging in with a token makes a session bound to
 * that token: the browser holds only a random session id in an HTTP-only cookie (scripts cannot
 * read it), and the token is checked again on every request, so revoking it ends its sessions.
 * Sessions end after `idleTimeoutMs` without a request and `maxAgeMs` after login, and are lost
 * when the process restarts (people log in again). The map is keyed by the SHA-256 of the id, so
 * a heap dump does not hand out live cookies. Each session has its own CSRF token, which the page
 * reads from GET /api/v1/session and sends back in `x-csrf-token` with every change.
 */
export interface Session {
  key: string;
  tokenId: string;
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
}

export interface SessionOptions {
  idleTimeoutMs: number;
  maxAgeMs: number;
  maxSessions: number;
  now?: () => number;
}

const keyOf = (id: string) => createHash('sha256').update(id).digest('hex');

export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly #oldest = new OldestFirst(this.#sessions);

  constructor(private readonly options: SessionOptions) {}

  #now(): number {
    return this.options.now?.() ?? Date.now();
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** A new session for a token; returns the id for the cookie (held nowhere else). */
  create(tokenId: string): { id: string; session: Session } {
    const id = randomBytes(32).toString('base64url');
    const now = this.#now();
    const session: Session = { key: keyOf(id), tokenId, csrf: randomBytes(24).toString('base64url'), createdAt: now, lastSeenAt: now };
    while (this.#sessions.size >= this.options.maxSessions) {
      // Map order is insertion order: the oldest login goes first.
      this.#oldest.shift();
    }
    this.#sessions.set(session.key, session);
    return { id, session };
  }

  /** The live session for a cookie value (touching it), or undefined. */
  get(id: string): Session | undefined {
    if (id.length !== 43) return undefined;
    const key = keyOf(id);
    const s = this.#sessions.get(key);
    if (!s) return undefined;
    const now = this.#now();
    if (now - s.lastSeenAt > this.options.idleTimeoutMs || now - s.createdAt > this.options.maxAgeMs) {
      this.#sessions.delete(key);
      return undefined;
    }
    s.lastSeenAt = now;
    return s;
  }

  delete(id: string): boolean {
    return this.#sessions.delete(keyOf(id));
  }

  deleteForToken(tokenId: string): number {
    let n = 0;
    for (const [key, s] of this.#sessions) {
      if (s.tokenId === tokenId) {
        this.#sessions.delete(key);
        n++;
      }
    }
    return n;
  }

  /** Drops expired sessions (run now and then; `get` also drops them as it finds them). */
  sweep(): void {
    const now = this.#now();
    for (const [key, s] of this.#sessions) {
      if (now - s.lastSeenAt > this.options.idleTimeoutMs || now - s.createdAt > this.options.maxAgeMs) this.#sessions.delete(key);
    }
  }
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function csrfMatches(session: Session, presented: string | undefined): boolean {
  if (!presented) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}
