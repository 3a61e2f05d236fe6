import type { EnrichedFlow } from '@flowwatch/enrichment';
import type { DetectorContext, DetectorFamily } from '../context.js';
import { suppliersOf } from '../directory.js';
import { EntityTable } from '../entity-table.js';

interface Pending {
  touched: boolean;
  flows: number;
}

/**
 * New behaviour: an organisation pair (either direction: a reply is not a second novelty) or an
 * organisation-to-service pair not seen during the learning period. Everything seen while learning
 * (or in the warm-start rollups) is known; afterwards an unknown pair is reported once it has
 * carried minFlows flows, and then becomes known.
 */
export class NewPairDetector implements DetectorFamily {
  readonly name = 'new_pair';
  /** Known pairs as first -> seconds: `o` pairs (first < second) and `s` organisation -> services. */
  readonly #orgs = new Map<string, Set<string>>();
  readonly #services = new Map<string, Set<string>>();
  #knownCount = 0;
  readonly #pending: EntityTable<Pending>;
  #full = 0;

  constructor(private readonly ctx: DetectorContext) {
    this.#pending = new EntityTable(Math.min(ctx.config.maxEntities, 100_000));
  }

  get size(): number {
    return this.#knownCount + this.#pending.size;
  }
  get evictions(): number {
    return this.#pending.evictions + this.#full;
  }

  onFlow(f: EnrichedFlow, t: number): void {
    if (!this.ctx.config.newPair.enabled) return;
    const src = f.src_org;
    const dst = f.dst_org;
    if (f.service !== '') {
      const org = this.ctx.serviceAtDestination(f) ? src : dst;
      if (org !== '' && this.#services.get(org)?.has(f.service) !== true) this.#see(`s|${org}|${f.service}`, f, t, org, '', f.service);
    }
    if (src !== '' && dst !== '' && src !== dst) {
      const known = src < dst ? this.#orgs.get(src)?.has(dst) : this.#orgs.get(dst)?.has(src);
      if (known !== true) this.#see(src < dst ? `o|${src}|${dst}` : `o|${dst}|${src}`, f, t, src, dst, '');
    }
  }

  #see(key: string, f: EnrichedFlow, t: number, org: string, other: string, service: string): void {
    if (this.ctx.learning(t)) {
      this.learn(key);
      return;
    }
    let p = this.#pending.get(key);
    if (p === undefined) {
      p = { touched: false, flows: 0 };
      this.#pending.set(key, p);
    }
    if (++p.flows < this.ctx.config.newPair.minFlows) return;
    this.#pending.delete(key);
    this.learn(key);
    const d = this.ctx.directory;
    const entityId = service !== '' ? `${org}>${service}` : `${org}>${other}`;
    const orgs = service !== '' ? [org] : [org, other];
    if (this.ctx.overrides.scaleFor('new_pair', service ? 'organisation_service' : 'organisation_pair', entityId, orgs, []) === 0) return;
    this.ctx.sink.raise({
      type: 'new_pair',
      entity: {
        kind: service !== '' ? 'organisation_service' : 'organisation_pair',
        id: entityId,
        name: service !== '' ? `${d.orgName(org)} -> ${d.serviceName(service)}` : `${d.orgName(org)} -> ${d.orgName(other)}`,
      },
      supplierIds: suppliersOf(d.orgSupplier(org), service !== '' ? d.serviceSupplier(service) : d.orgSupplier(other)),
      srcOrg: f.src_org,
      dstOrg: f.dst_org,
      srcAddr: f.src_addr,
      dstAddr: f.dst_addr,
      dstPort: f.dst_port,
      ...(service !== '' ? { service } : {}),
      atMs: t,
      observed: p.flows,
      expected: 0,
      score: 1,
      severity: 'low',
      summary:
        service !== ''
          ? `${d.orgLabel(org)} used ${d.serviceName(service)} for the first time since learning`
          : `First traffic between ${d.orgLabel(org)} and ${d.orgLabel(other)} since learning`,
      details: { unit: 'flows', min_flows: this.ctx.config.newPair.minFlows },
      match:
        service !== ''
          ? (x) => x.service === service && (x.src_org === org || x.dst_org === org)
          : (x) => (x.src_org === org && x.dst_org === other) || (x.src_org === other && x.dst_org === org),
      receivedNs: f.time_received_ns,
    });
  }

  /** Marks a pair key as known (`o|A|B` with A < B, or `s|ORG|SERVICE`). */
  learn(key: string): void {
    const [kind, first = '', second = ''] = key.split('|');
    const map = kind === 's' ? this.#services : this.#orgs;
    let set = map.get(first);
    if (set?.has(second)) return;
    if (this.#knownCount >= this.ctx.config.maxEntities) {
      this.#full++;
      return;
    }
    if (set === undefined) map.set(first, (set = new Set()));
    set.add(second);
    this.#knownCount++;
  }

  static orgPairKey(a: string, b: string): string {
    return a < b ? `o|${a}|${b}` : `o|${b}|${a}`;
  }

  snapshot(): string[] {
    const out: string[] = [];
    for (const [a, set] of this.#orgs) for (const b of set) out.push(`o|${a}|${b}`);
    for (const [org, set] of this.#services) for (const svc of set) out.push(`s|${org}|${svc}`);
    return out;
  }

  restore(keys: readonly string[]): void {
    for (const k of keys) this.learn(k);
  }
}
