import type { EnrichedFlow } from '@flowwatch/enrichment';
import { PrefixTable, parsePrefix } from '@flowwatch/enrichment';
import type { Severity } from '@flowwatch/flow-schema';
import type { DetectorContext, DetectorFamily } from '../context.js';
import { portLabel, suppliersOf } from '../directory.js';
import { EntityTable } from '../entity-table.js';

export interface BlockEntry {
  list: string;
  prefix: string;
  severity: Severity;
}

/** A parsed block list file: one IP or CIDR per line; `#` starts a comment; bad lines counted. */
export function parseBlocklist(text: string): { prefixes: string[]; badLines: number } {
  const prefixes: string[] = [];
  let badLines = 0;
  for (const raw of text.split('\n')) {
    const hash = raw.indexOf('#');
    const line = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (line === '') continue;
    if (parsePrefix(line) === undefined) badLines++;
    else prefixes.push(line);
  }
  return { prefixes, badLines };
}

/** Block lists in one longest-prefix-match table (the enrichment's PrefixTable). */
export class BlocklistTable {
  readonly table = new PrefixTable<BlockEntry>();
  readonly counts: Record<string, number> = {};

  constructor(lists: readonly { name: string; severity: Severity; prefixes: readonly string[] }[] = []) {
    for (const list of lists) {
      for (const prefix of list.prefixes) this.table.add(prefix, { list: list.name, prefix, severity: list.severity });
      this.counts[list.name] = list.prefixes.length;
    }
  }

  get size(): number {
    return this.table.size;
  }
}

interface Hit {
  touched: boolean;
  lastRaiseMs: number;
  flows: number;
  bytes: number;
}

const REFRESH_MS = 10_000;

/**
 * Threat intelligence: any flow to or from an address in a block list. One alert per listed
 * address and organisation involved (so each supplier's organisation gets its own), raised on the
 * first flow and refreshed while traffic continues.
 */
export class BlocklistDetector implements DetectorFamily {
  readonly name = 'blocklist';
  lists = new BlocklistTable();
  readonly #hits: EntityTable<Hit>;

  constructor(private readonly ctx: DetectorContext) {
    this.#hits = new EntityTable(Math.min(ctx.config.maxEntities, 50_000));
  }

  get size(): number {
    return this.#hits.size;
  }
  get evictions(): number {
    return this.#hits.evictions;
  }

  onFlow(f: EnrichedFlow, t: number): void {
    if (this.lists.size === 0) return;
    const table = this.lists.table;
    const dst = table.lookup(f.dst_addr);
    if (dst !== undefined) this.#hit(f, t, dst, f.dst_addr, f.src_addr, f.src_org, 'to');
    else {
      const src = table.lookup(f.src_addr);
      if (src !== undefined) this.#hit(f, t, src, f.src_addr, f.dst_addr, f.dst_org, 'from');
    }
  }

  #hit(f: EnrichedFlow, t: number, entry: BlockEntry, bad: string, local: string, org: string, direction: 'to' | 'from'): void {
    const key = `${bad}|${org}`;
    let h = this.#hits.get(key);
    if (h === undefined) {
      h = { touched: false, lastRaiseMs: Number.NEGATIVE_INFINITY, flows: 0, bytes: 0 };
      this.#hits.set(key, h);
    }
    h.flows++;
    h.bytes += f.bytes_est;
    if (t - h.lastRaiseMs < REFRESH_MS) return;
    h.lastRaiseMs = t;
    const d = this.ctx.directory;
    const orgSupplier = direction === 'to' ? f.src_org_supplier : f.dst_org_supplier;
    if (this.ctx.overrides.scaleFor('blocklist', 'address', bad, org ? [org] : [], suppliersOf(orgSupplier)) === 0) return;
    const port = f.dst_port;
    this.ctx.sink.raise({
      type: 'blocklist',
      entity: { kind: 'address', id: bad, name: `${bad} (${entry.list})` },
      discriminator: org,
      supplierIds: suppliersOf(orgSupplier, f.supplier_id),
      srcOrg: f.src_org,
      dstOrg: f.dst_org,
      srcAddr: f.src_addr,
      dstAddr: f.dst_addr,
      dstPort: port,
      ...(f.service ? { service: f.service } : {}),
      atMs: t,
      observed: h.flows,
      expected: 0,
      score: 1,
      severity: entry.severity,
      summary:
        direction === 'to'
          ? `${d.hostLabel(local, org)} contacted ${bad} on ${portLabel(port)}, listed in ${entry.list} (${entry.prefix})`
          : `${bad}, listed in ${entry.list} (${entry.prefix}), reached ${d.hostLabel(local, org)} on ${portLabel(port)}`,
      details: { unit: 'flows', list: entry.list, prefix: entry.prefix, bytes: h.bytes },
      match: (x) => (x.src_addr === bad || x.dst_addr === bad) && (x.src_org === org || x.dst_org === org),
      receivedNs: f.time_received_ns,
    });
  }
}
