import { OldestFirst } from '@flowwatch/insertion-order';
import type { Detection } from './detection.js';

/** How long an address stays part of an incident after its last sighting (event time). */
export const INCIDENT_HOLD_MS = 10 * 60_000;

/**
 * Addresses at the heart of an ongoing per-flow incident: a flood's victim, a scanner, a
 * spreading host, a host breaching a policy or uploading to the internet. A flood raises the traffic of every exporter and supplier it crosses and a worm
 * the flows of every organisation it probes; without this, each of those volume spikes is one more
 * alert for the same incident. The volume detector asks whether a flow involves such an address
 * and requires a spike to hold without those flows (docs/detection.md). Bounded: at most `max`
 * addresses, the oldest marked going first.
 */
export class IncidentAddresses {
  readonly #until = new Map<string, number>();
  readonly #oldest = new OldestFirst(this.#until);
  #explainedSpikes = 0;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.#until.size;
  }

  /** Volume spikes not raised because incident flows explained them. */
  get explainedSpikes(): number {
    return this.#explainedSpikes;
  }

  countExplained(): void {
    this.#explainedSpikes++;
  }

  /** Until when `addr` is held as an incident's (-Infinity: it is not). */
  heldUntil(addr: string): number {
    return this.#until.get(addr) ?? Number.NEGATIVE_INFINITY;
  }

  mark(addr: string, untilMs: number): void {
    const had = this.#until.get(addr);
    if (had !== undefined) {
      if (untilMs > had) this.#until.set(addr, untilMs);
      return;
    }
    if (this.#until.size >= this.max) this.#oldest.shift();
    this.#until.set(addr, untilMs);
  }

  /** Whether a flow between `src` and `dst` at `t` involves an incident's address. */
  explains(src: string, dst: string, t: number): boolean {
    if (this.#until.size === 0) return false;
    const a = this.#until.get(dst);
    if (a !== undefined && a >= t) return true;
    const b = this.#until.get(src);
    return b !== undefined && b >= t;
  }

  /** Forgets addresses whose hold ended before `t`. */
  expire(t: number): void {
    for (const [addr, until] of this.#until) if (until < t) this.#until.delete(addr);
  }
}

/** The address at the heart of a detection about a flow-level incident (undefined: not one). */
export function incidentAddress(d: Detection): string | undefined {
  switch (d.type) {
    case 'flood':
    case 'syn_flood':
    case 'amplification':
      return d.dstAddr || undefined;
    case 'port_scan':
    case 'host_sweep':
    case 'lateral_movement':
    // The violating host of a policy breach (a care home pulling images from PACS), a host's
    // upload to the internet: their transfers raise every exporter and organisation they cross.
    case 'policy':
    case 'exfiltration':
      return d.srcAddr || undefined;
    default:
      return undefined;
  }
}
