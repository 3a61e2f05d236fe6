import { FAMILY, hashString } from '@flowwatch/detection';
import type { EnrichedFlow } from '@flowwatch/enrichment';

export const BY_ENTITY_SCHEMA = 'flowwatch.flows-by-entity.v1';

/**
 * Which partition of `flows.by-entity` owns each detector family's state for a flow. Every family
 * keeps its state per one entity key, so a flow's copy goes, per family, to the partition of that
 * key; families whose keys land on the same partition share one copy (the `families` mask):
 *
 * | lane | key | families |
 * | --- | --- | --- |
 * | source | source address | scan (vertical and horizontal keys both start with it) |
 * | destination | destination address | flood |
 * | source organisation | source organisation, else source address | lateral (per source organisation and port), policy (per rule and source) |
 * | inside organisation | the inside end of internet traffic (source of `to_internet`, destination of `from_internet`) | exfiltration (organisation, host, uploads and downloads) |
 * | network | one constant key | volume (supplier, exporter, organisations, pairs, services share flows), silence, new pair, block list |
 *
 * The network lane cannot be split by any one key (a flow counts for its supplier, exporter, both
 * organisations, their pair and a service at once), so it is one partition: its families stay on
 * one instance (docs/detection.md, "Horizontal scale").
 */
export const NETWORK_KEY = 'network';
const NETWORK_FAMILIES = FAMILY.volume | FAMILY.silence | FAMILY.newPair | FAMILY.blocklist;

export class EntityRouter {
  readonly networkPartition: number;
  /** Partitions and masks of the last `route` call: `count` pairs. */
  readonly partitions: Int32Array = new Int32Array(5);
  readonly masks: Int32Array = new Int32Array(5);
  count = 0;

  constructor(readonly partitionCount: number) {
    if (!(partitionCount >= 1)) throw new Error(`flows.by-entity needs at least one partition (got ${partitionCount})`);
    this.networkPartition = this.partitionOf(NETWORK_KEY);
  }

  partitionOf(key: string): number {
    return hashString(key) % this.partitionCount;
  }

  /** Computes the copies of `f`: `partitions[i]` receives it for the families in `masks[i]`, i < count. */
  route(f: EnrichedFlow): number {
    this.count = 0;
    this.#add(this.networkPartition, NETWORK_FAMILIES);
    this.#add(this.partitionOf(f.src_addr), FAMILY.scan);
    this.#add(this.partitionOf(f.dst_addr), FAMILY.flood);
    this.#add(this.partitionOf(f.src_org !== '' ? f.src_org : f.src_addr), FAMILY.lateral | FAMILY.policy);
    const inside = f.direction === 'to_internet' ? f.src_org : f.direction === 'from_internet' ? f.dst_org : '';
    if (inside !== '') this.#add(this.partitionOf(inside), FAMILY.exfiltration);
    return this.count;
  }

  #add(partition: number, mask: number): void {
    for (let i = 0; i < this.count; i++) {
      if (this.partitions[i] === partition) {
        this.masks[i]! |= mask;
        return;
      }
    }
    this.partitions[this.count] = partition;
    this.masks[this.count] = mask;
    this.count++;
  }
}

/** Largest `flows.by-entity` message (NDJSON), well under the broker's 1 MiB message.max.bytes. */
const MAX_MESSAGE_CHARS = 256 * 1024;

export interface ByEntityMessage {
  partition: number;
  value: string;
  headers: { schema: string; families: string };
}

/**
 * Groups the copies of a batch of enriched flows into `flows.by-entity` messages: one run of NDJSON
 * per (partition, families) pair, cut at 256 KiB. Returns the messages and the copies made.
 */
export class ByEntityBatcher {
  readonly #open = new Map<number, { partition: number; mask: number; text: string }>();
  readonly #done: ByEntityMessage[] = [];
  copies = 0;

  constructor(readonly router: EntityRouter) {}

  add(f: EnrichedFlow): void {
    const r = this.router;
    const n = r.route(f);
    const line = `${JSON.stringify(f)}\n`;
    for (let i = 0; i < n; i++) {
      const partition = r.partitions[i]!;
      const mask = r.masks[i]!;
      const slot = partition * 1024 + mask;
      let open = this.#open.get(slot);
      if (open === undefined) {
        open = { partition, mask, text: '' };
        this.#open.set(slot, open);
      } else if (open.text.length + line.length > MAX_MESSAGE_CHARS) {
        this.#emit(open);
        open.text = '';
      }
      open.text += line;
    }
    this.copies += n;
  }

  /** The messages of everything added since the last call, and how many flow copies they hold. */
  take(): { messages: ByEntityMessage[]; copies: number } {
    for (const open of this.#open.values()) if (open.text !== '') this.#emit(open);
    this.#open.clear();
    const out = { messages: this.#done.splice(0), copies: this.copies };
    this.copies = 0;
    return out;
  }

  #emit(open: { partition: number; mask: number; text: string }): void {
    this.#done.push({
      partition: open.partition,
      value: open.text,
      headers: { schema: BY_ENTITY_SCHEMA, families: String(open.mask) },
    });
  }
}
