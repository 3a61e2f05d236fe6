/**
 * How far each partition of `flows` has been read, for the detector's watermark hold: the latest
 * reception time (ms) of a flow read from it, when it was last read (wall clock), and whether it
 * had more to read then. The watermark may not pass the slowest partition still *active*: read in
 * the last `idleMs`, or behind its high watermark and read in the last `lagIdleMs` (a backlog
 * being worked through, not a partition handed to another member long ago).
 */
export class PartitionProgress {
  readonly #parts = new Map<number, { receivedMs: number; wallMs: number; behind: boolean }>();

  constructor(
    private readonly idleMs: number,
    private readonly lagIdleMs: number,
  ) {}

  /**
   * After a batch of `partition`: the latest reception time in it, and whether the partition had
   * more. `streamMs` is the latest reception time read from any partition so far: a partition read
   * to its end has delivered everything received before that (batches are handled fetch by fetch,
   * and the others' flows in hand were received before this fetch), so it has reached it, however
   * long ago its own last flow was: a sparse partition's last flow is not its progress.
   */
  update(partition: number, receivedMs: number, wallMs: number, behind: boolean, streamMs = receivedMs): void {
    if (!behind && streamMs > receivedMs) receivedMs = streamMs;
    const p = this.#parts.get(partition);
    if (p === undefined) {
      this.#parts.set(partition, { receivedMs, wallMs, behind });
      return;
    }
    if (receivedMs > p.receivedMs) p.receivedMs = receivedMs;
    p.wallMs = wallMs;
    p.behind = behind;
  }

  /** The reception time the slowest active partition has reached; Infinity when none holds. */
  hold(wallMs: number): number {
    let min = Number.POSITIVE_INFINITY;
    for (const p of this.#parts.values()) {
      const age = wallMs - p.wallMs;
      const active = age < this.idleMs || (p.behind && age < this.lagIdleMs);
      if (active && p.receivedMs < min) min = p.receivedMs;
    }
    return min;
  }

  /** Partitions no longer read here (revoked). */
  retain(partitions: readonly number[]): void {
    const keep = new Set(partitions);
    for (const p of this.#parts.keys()) if (!keep.has(p)) this.#parts.delete(p);
  }
}

/** Whether a partition had messages after `lastOffset` when its batch was fetched. */
export function behindHighWatermark(lastOffset: string, highWatermark: string): boolean {
  return BigInt(lastOffset) + 1n < BigInt(highWatermark);
}
