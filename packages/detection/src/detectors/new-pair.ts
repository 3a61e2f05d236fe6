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
 * carried minFlows flows, and then becomes known. A new pair that is common for the
 * organisations' kinds (peer groups: the registry's groups) is learnt without an alert: a GP
 * practice first seen using e-referrals, or reaching an acute trust that already talks with
 * `peerOrganisations` GP practices, is not new behaviour for a GP practice; a GP practice
 * reaching a council no GP practice talks to is.
 */
export class NewPairDetector implements DetectorFamily {
  readonly name = 'new_pair';
  /** Known pairs as first -> seconds: `o` pairs (first < second) and `s` organisation -> services. */
  readonly #orgs = new Map<string, Set<string>>();
  readonly #services = new Map<string, Set<string>>();
  #knownCount = 0;
  readonly #pending: EntityTable<Pending>;
  #full = 0;
  /**
   * Peer groups: per organisation, how many of its known counterpart organisations are in each
   * registry group; per service, how many of its known users are in each group.
   */
  readonly #orgPeers = new Map<string, Map<string, number>>();
  readonly #servicePeers = new Map<string, Map<string, number>>();
  /** New pairs learnt without an alert because they are common for the organisation's kind. */
  peerCommon = 0;

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
    const common = service !== '' ? this.#commonService(org, service) : this.#commonPair(org, other);
    // Learnt, but not a peer: only the learnt normal makes a pair common (a worm's new pairs
    // must not make the next new pair with its victims look usual).
    this.learn(key, false);
    if (common) {
      this.peerCommon++;
      return;
    }
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

  /**
   * Whether `org` using `service` is common for its kind: the service already has
   * newPair.peerOrganisations known users in one of the organisation's groups.
   */
  #commonService(org: string, service: string): boolean {
    const min = this.ctx.config.newPair.peerOrganisations;
    if (min <= 0) return false;
    const counts = this.#servicePeers.get(service);
    if (counts === undefined) return false;
    for (const g of this.ctx.directory.groupsOf(org)) if ((counts.get(g) ?? 0) >= min) return true;
    return false;
  }

  /**
   * Whether a pair is common for its kinds: either organisation already talks with
   * newPair.peerOrganisations organisations of one of the other's groups (a GP practice that
   * reaches a trust many GP practices reach; a trust that talks with many GP practices).
   */
  #commonPair(a: string, b: string): boolean {
    const min = this.ctx.config.newPair.peerOrganisations;
    if (min <= 0) return false;
    const d = this.ctx.directory;
    const ofB = this.#orgPeers.get(b);
    if (ofB !== undefined) for (const g of d.groupsOf(a)) if ((ofB.get(g) ?? 0) >= min) return true;
    const ofA = this.#orgPeers.get(a);
    if (ofA !== undefined) for (const g of d.groupsOf(b)) if ((ofA.get(g) ?? 0) >= min) return true;
    return false;
  }

  #countPeer(map: Map<string, Map<string, number>>, id: string, member: string): void {
    const groups = this.ctx.directory.groupsOf(member);
    if (groups.length === 0) return;
    let counts = map.get(id);
    if (counts === undefined) map.set(id, (counts = new Map()));
    for (const g of groups) counts.set(g, (counts.get(g) ?? 0) + 1);
  }

  /**
   * Marks a pair key as known (`o|A|B` with A < B, or `s|ORG|SERVICE`); `peer`: it counts towards
   * the peer groups (learning period, warm start, checkpoint), not a pair first seen after learning.
   */
  learn(key: string, peer = true): void {
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
    if (!peer) return;
    if (kind === 's') this.#countPeer(this.#servicePeers, second, first);
    else {
      this.#countPeer(this.#orgPeers, second, first);
      this.#countPeer(this.#orgPeers, first, second);
    }
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
