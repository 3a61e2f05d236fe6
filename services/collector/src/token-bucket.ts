/**
 * Per-key token buckets (records per second with a burst), for the push endpoint's per-supplier
 * rate limit. Keys are supplier ids from the registry, so the map is bounded by the registry.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes `n` tokens if available; otherwise takes none and returns the seconds until they are. */
  take(key: string, n: number): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: this.burst, at: t };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerSecond);
    b.at = t;
    if (n <= b.tokens) {
      b.tokens -= n;
      return { ok: true };
    }
    const missing = Math.min(n, this.burst) - b.tokens;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(missing / this.ratePerSecond)) };
  }
}
