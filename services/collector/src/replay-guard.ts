import { createHash } from 'node:crypto';
import { OldestFirst } from '@flowwatch/insertion-order';

/**
 * Pushed bodies a supplier had accepted recently, by SHA-256, so that a replay (the same request
 * captured and sent again, or a client re-sending a request it had an answer for) is refused
 * instead of doubling that supplier's traffic. Bounded: at most `maxEntries` hashes, the oldest
 * forgotten first; each remembered for `windowMs`. A window of 0 turns it off.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();
  private readonly oldest = new OldestFirst(this.seen);

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The key of a body: undefined when the guard is off. */
  key(supplierId: string, body: string): string | undefined {
    if (this.windowMs <= 0) return undefined;
    return `${supplierId}\u0000${createHash('sha256').update(body).digest('base64')}`;
  }

  /** Whether this body was accepted within the window. */
  replayed(key: string | undefined): boolean {
    if (key === undefined) return false;
    const until = this.seen.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.seen.delete(key);
    return false;
  }

  /** Remember a body that was accepted. */
  accepted(key: string | undefined): void {
    if (key === undefined) return;
    this.seen.delete(key);
    this.seen.set(key, this.now() + this.windowMs);
    while (this.seen.size > this.maxEntries) if (this.oldest.shift() === undefined) break;
  }

  get size(): number {
    return this.seen.size;
  }
}
