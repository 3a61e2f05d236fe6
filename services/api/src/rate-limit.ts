import { OldestFirst } from '@flowwatch/insertion-order';

/**
 * Per-key token buckets: `ratePerSecond` sustained with a `burst`. Keys are token ids (requests)
 * or client addresses (failed logins); addresses are unbounded, so the map is capped and the
 * least recently used key is dropped first (a dropped key starts again with a full bucket, which
 * only an attacker with more than `maxKeys` addresses benefits from).
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  /** Takes the least recently used bucket first: a use deletes its key and sets it again, at the back. */
  readonly #oldest = new OldestFirst(this.#buckets);

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly options: { maxKeys?: number; now?: () => number } = {},
  ) {}

  #now(): number {
    return this.options.now?.() ?? performance.now();
  }

  /** Takes `n` tokens if available; otherwise takes none and returns the seconds until they are. */
  take(key: string, n = 1): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const t = this.#now();
    let b = this.#buckets.get(key);
    if (b) this.#buckets.delete(key);
    else {
      b = { tokens: this.burst, at: t };
      const max = this.options.maxKeys ?? 100_000;
      while (this.#buckets.size >= max) this.#oldest.shift();
    }
    this.#buckets.set(key, b); // most recently used last
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerSecond);
    b.at = t;
    if (n <= b.tokens) {
      b.tokens -= n;
      return { ok: true };
    }
    const missing = Math.min(n, this.burst) - b.tokens;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(missing / this.ratePerSecond)) };
  }

  /** Whether `key` has a token left, without taking one. */
  peek(key: string): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const b = this.#buckets.get(key);
    if (!b) return { ok: true };
    const tokens = Math.min(this.burst, b.tokens + ((this.#now() - b.at) / 1000) * this.ratePerSecond);
    return tokens >= 1 ? { ok: true } : { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / this.ratePerSecond)) };
  }
}
