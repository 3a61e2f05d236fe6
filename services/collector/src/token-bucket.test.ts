import { describe, expect, it } from 'vitest';
import { TokenBuckets } from './token-bucket.js';

describe('TokenBuckets', () => {
  it('allows a burst, then the sustained rate, per key', () => {
    let now = 0;
    const b = new TokenBuckets(100, 1000, () => now);
    expect(b.take('a', 1000)).toEqual({ ok: true });
    expect(b.take('a', 1)).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(b.take('b', 500)).toEqual({ ok: true });
    now = 2000; // two seconds: 200 tokens back
    expect(b.take('a', 200)).toEqual({ ok: true });
    expect(b.take('a', 300)).toEqual({ ok: false, retryAfterSeconds: 3 });
  });

  it('a request larger than the burst can never pass and says so by its retry time', () => {
    const b = new TokenBuckets(10, 100, () => 0);
    const r = b.take('a', 1000);
    expect(r.ok).toBe(false);
  });
});
