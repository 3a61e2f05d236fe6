import { copyEnrichedFlow, type EnrichedFlow, emptyEnrichedFlow } from '@flowwatch/enrichment';
import type { Evidence, EvidenceFlow, EvidenceSource } from '@flowwatch/flow-schema';
import { conversationOf, hashNumber, hashString } from './hash.js';

const TOP = 10;
const everything = () => true;

/** The sum of the `k` largest of `values`. */
export function largestSum(values: Iterable<number>, k: number): number {
  const sorted = [...values].sort((a, b) => b - a);
  let sum = 0;
  for (let i = 0; i < Math.min(k, sorted.length); i++) sum += sorted[i]!;
  return sum;
}

/**
 * The most recent flows (a ring of records the ring owns, written in place: no allocation per
 * flow), from which an alert's evidence is drawn when it is published: the largest matching flows
 * and the sources sending most. At high rates the ring covers well under a second, a sample of what
 * is happening at detection time, which is what an analyst needs to start the drill-down
 * (ClickHouse holds everything).
 */
export class RecentFlows {
  readonly #ring: (EnrichedFlow | undefined)[];
  readonly #times: Float64Array;
  /** Per record: the start of the interval the volume family counted it in as its entities' own traffic (NaN: not). */
  readonly #counted: Float64Array;
  /** Per counted record: hashes of its source and destination addresses (to find an address's flows without reading the records). */
  readonly #srcHashes: Int32Array;
  readonly #dstHashes: Int32Array;
  #pos = 0;

  constructor(readonly size = 16_384) {
    this.#ring = new Array(size).fill(undefined);
    this.#times = new Float64Array(size);
    this.#counted = new Float64Array(size).fill(Number.NaN);
    this.#srcHashes = new Int32Array(size);
    this.#dstHashes = new Int32Array(size);
  }

  /** Keeps a copy of `flow` (the caller may reuse its record). */
  push(flow: EnrichedFlow, eventMs: number): void {
    copyEnrichedFlow(flow, this.claim(eventMs));
  }

  /**
   * The ring's next record, for a flow of event time `eventMs` that the caller writes into it before
   * anything else reads the ring (the engine enriches straight into it). It is the ring's: it is
   * overwritten `size` flows later, so nothing may keep it beyond the flow's processing.
   */
  claim(eventMs: number): EnrichedFlow {
    const pos = this.#pos;
    let slot = this.#ring[pos];
    if (slot === undefined) this.#ring[pos] = slot = emptyEnrichedFlow();
    this.#times[pos] = eventMs;
    this.#counted[pos] = Number.NaN;
    this.#pos = pos + 1 === this.size ? 0 : pos + 1;
    return slot;
  }

  /**
   * The latest flow (`f`, the ring's record or the one it copied) counts in interval `start` as
   * its entities' own traffic (the volume family's: not an ongoing incident's).
   */
  countLatest(f: EnrichedFlow, start: number): void {
    const i = this.#pos === 0 ? this.size - 1 : this.#pos - 1;
    this.#counted[i] = start;
    this.#srcHashes[i] = hashString(f.src_addr);
    this.#dstHashes[i] = hashString(f.dst_addr);
  }

  /**
   * Calls `fn` with each recent flow counted as its entities' own traffic (countLatest) from or to
   * one of `addrs`, and the start of the interval it counted in; each is then no longer counted
   * (taken once). The addresses' hashes are looked up in a bitmap first: a pass reads the records
   * of those flows only (and of 1 in 65,536 others per address a hash bucket shares).
   */
  takeCounted(addrs: ReadonlySet<string>, fn: (f: EnrichedFlow, countedIn: number) => void): void {
    if (addrs.size === 0) return;
    const bits = new Uint32Array(2048);
    for (const a of addrs) {
      const h = hashString(a) & 0xffff;
      bits[h >>> 5]! |= 1 << (h & 31);
    }
    const counted = this.#counted;
    const src = this.#srcHashes;
    const dst = this.#dstHashes;
    for (let i = 0; i < this.size; i++) {
      const start = counted[i]!;
      if (Number.isNaN(start)) continue;
      const hs = src[i]! & 0xffff;
      const hd = dst[i]! & 0xffff;
      if ((bits[hs >>> 5]! & (1 << (hs & 31))) === 0 && (bits[hd >>> 5]! & (1 << (hd & 31))) === 0) continue;
      const f = this.#ring[i];
      if (f === undefined || !(addrs.has(f.src_addr) || addrs.has(f.dst_addr))) continue;
      counted[i] = Number.NaN;
      fn(f, start);
    }
  }

  /**
   * Among recent flows of [fromMs, toMs) matching `match`: the total of a metric (0 bytes,
   * 1 packets, 2 flows) and the part of it in flows for which `part` holds. A sample of the
   * interval (the ring holds the latest flows), used as a share.
   */
  share(
    match: (f: EnrichedFlow) => boolean,
    fromMs: number,
    toMs: number,
    metric: number,
    part: (f: EnrichedFlow) => boolean,
  ): { total: number; part: number } {
    let total = 0;
    let inPart = 0;
    this.#each(match, fromMs, toMs, metric, (f, v) => {
      total += v;
      if (part(f)) inPart += v;
    });
    return { total, part: inPart };
  }

  /** Calls `fn` with each recent flow of [fromMs, toMs), a conversation's records once (the first). */
  eachConversation(fromMs: number, toMs: number, fn: (f: EnrichedFlow) => void): void {
    this.#each(everything, fromMs, toMs, 2, fn);
  }

  /**
   * Calls `fn` with each recent flow of [fromMs, toMs) matching `match` and its value of `metric`
   * (0 bytes, 1 packets, 2 flows). Flows are conversations, as the volume family counts them: the
   * records of one exporter's conversation (an sFlow agent's samples of one transfer, a long one's
   * records per active timeout) count once, at the first. Counted per record, an organisation
   * behind sFlow agents weighed as many flows as its transfers had samples.
   */
  #each(match: (f: EnrichedFlow) => boolean, fromMs: number, toMs: number, metric: number, fn: (f: EnrichedFlow, v: number) => void): void {
    const seen = metric === 2 ? new Set<number>() : undefined;
    for (let i = 0; i < this.size; i++) {
      const f = this.#ring[i];
      const t = this.#times[i]!;
      if (f === undefined || t < fromMs || t >= toMs || !match(f)) continue;
      if (seen !== undefined) {
        const c = hashNumber(conversationOf(f), hashString(f.exporter_id));
        if (seen.has(c)) continue;
        seen.add(c);
      }
      fn(f, metric === 0 ? f.bytes_est : metric === 1 ? f.packets_est : 1);
    }
  }

  /**
   * How concentrated recent flows of [fromMs, toMs) matching `match` are: the total of a metric,
   * the part of it of the `top` keys (by `keyOf`, '' left out) carrying most, and how many keys.
   */
  concentration(
    match: (f: EnrichedFlow) => boolean,
    fromMs: number,
    toMs: number,
    metric: number,
    keyOf: (f: EnrichedFlow) => string,
    top: number,
  ): { total: number; top: number; keys: number } {
    const by = new Map<string, number>();
    let total = 0;
    this.#each(match, fromMs, toMs, metric, (f, v) => {
      total += v;
      const key = keyOf(f);
      if (key !== '') by.set(key, (by.get(key) ?? 0) + v);
    });
    return { total, top: largestSum(by.values(), top), keys: by.size };
  }

  /** Top flows and sources among recent flows matching `match`, plus the detector's own details. */
  evidence(match: ((f: EnrichedFlow) => boolean) | undefined, details: Evidence['details'], extra: readonly EnrichedFlow[] = []): Evidence {
    const picked: { flow: EnrichedFlow; t: number }[] = [];
    if (match !== undefined) {
      for (let i = 0; i < this.size; i++) {
        const f = this.#ring[i];
        if (f !== undefined && match(f)) picked.push({ flow: f, t: this.#times[i]! });
      }
    }
    for (const f of extra) if (!picked.some((p) => p.flow === f)) picked.push({ flow: f, t: eventMs(f) });
    const sources = new Map<string, EvidenceSource>();
    for (const { flow } of picked) {
      const s = sources.get(flow.src_addr);
      if (s === undefined)
        sources.set(flow.src_addr, { addr: flow.src_addr, org: flow.src_org, flows: 1, bytes: flow.bytes_est, packets: flow.packets_est });
      else {
        s.flows++;
        s.bytes += flow.bytes_est;
        s.packets += flow.packets_est;
      }
    }
    // One row per conversation and exporter: an sFlow agent's samples of one transfer, or a long
    // one's records per active timeout, are one transfer to the analyst.
    const conversations = new Map<string, EvidenceFlow>();
    for (const { flow: f, t } of picked) {
      const key = `${f.src_addr}|${f.dst_addr}|${f.src_port}|${f.dst_port}|${f.proto}|${f.supplier_id}|${f.exporter_id}`;
      const c = conversations.get(key);
      if (c === undefined) conversations.set(key, toEvidenceFlow(f, t));
      else {
        c.bytes += f.bytes_est;
        c.packets += f.packets_est;
        c.records = (c.records ?? 1) + 1;
        if (t > Date.parse(c.time)) c.time = new Date(Math.floor(t)).toISOString();
      }
    }
    return {
      top_flows: [...conversations.values()].sort((a, b) => b.bytes - a.bytes).slice(0, TOP),
      top_sources: [...sources.values()].sort((a, b) => b.bytes - a.bytes || b.flows - a.flows).slice(0, TOP),
      details,
    };
  }
}

export function toEvidenceFlow(f: EnrichedFlow, t: number): EvidenceFlow {
  return {
    time: new Date(Math.floor(t)).toISOString(),
    src_addr: f.src_addr,
    dst_addr: f.dst_addr,
    src_port: f.src_port,
    dst_port: f.dst_port,
    proto: f.proto,
    bytes: f.bytes_est,
    packets: f.packets_est,
    src_org: f.src_org,
    dst_org: f.dst_org,
    supplier_id: f.supplier_id,
    exporter_id: f.exporter_id,
  };
}

/**
 * Event time of a flow in ms: its end time when the exporter set one, never later than its
 * reception by the collector (a fast exporter clock must not drag the watermark into the future).
 */
export function eventMs(f: { time_flow_end_ns: number; time_received_ns: number }): number {
  const end = f.time_flow_end_ns;
  const received = f.time_received_ns;
  return (end > 0 && (received === 0 || end < received) ? end : received) / 1e6;
}
