import type { EnrichedFlow } from '@flowwatch/enrichment';
import type { DetectorContext, DetectorFamily } from '../context.js';
import { escalate } from '../detection.js';
import { formatDuration, portLabel, suppliersOf } from '../directory.js';
import { EntityTable } from '../entity-table.js';

interface Spread {
  touched: boolean;
  start: number;
  orgs: Set<string>;
  next: number;
  lastRaiseMs: number;
}

interface Raised {
  touched: boolean;
  lastRaiseMs: number;
  flows: number;
}

/** A pair on a lateral port is re-raised at most this often while it persists. */
const REFRESH_MS = 10_000;

/**
 * Lateral movement between organisations on administrative and risky ports (SSH, Telnet, RPC,
 * NetBIOS, SMB, RDP, WinRM by default):
 * - policy: a flow from one organisation to another on such a port that no `allow` rule permits
 *   (and, with learnAllowed, that was not seen during the learning period) is a violation,
 *   one alert per organisation pair and port;
 * - worm spread: one source address reaching at least wormMinOrganisations other organisations on
 *   one such port within wormWindowMs (allowed or not), one alert per source and port, raised at
 *   the flow that reaches the threshold.
 */
export class LateralDetector implements DetectorFamily {
  readonly name = 'lateral';
  readonly #ports: Set<number>;
  readonly #learnt = new Set<string>();
  readonly #spread: EntityTable<Spread>;
  readonly #raised: EntityTable<Raised>;
  #learntFull = 0;

  constructor(private readonly ctx: DetectorContext) {
    this.#ports = new Set(ctx.config.lateral.ports);
    this.#spread = new EntityTable(ctx.config.maxEntities);
    this.#raised = new EntityTable(Math.min(ctx.config.maxEntities, 50_000));
  }

  get size(): number {
    return this.#spread.size + this.#raised.size + this.#learnt.size;
  }
  get evictions(): number {
    return this.#spread.evictions + this.#raised.evictions + this.#learntFull;
  }

  onFlow(f: EnrichedFlow, t: number): void {
    const port = f.dst_port;
    if (!this.#ports.has(port) || (f.proto !== 6 && f.proto !== 17)) return;
    const src = f.src_org;
    const dst = f.dst_org;
    if (src === '' || dst === '' || src === dst) return;
    this.#worm(f, t);
    const pairKey = `${src}>${dst}:${port}`;
    if (this.ctx.learning(t)) {
      if (this.ctx.config.lateral.learnAllowed) this.learn(pairKey);
      return;
    }
    if (this.#learnt.has(pairKey) || this.#allowed(src, dst, port)) return;
    let r = this.#raised.get(pairKey);
    if (r === undefined) {
      r = { touched: false, lastRaiseMs: Number.NEGATIVE_INFINITY, flows: 0 };
      this.#raised.set(pairKey, r);
    }
    r.flows++;
    if (t - r.lastRaiseMs < REFRESH_MS) return;
    r.lastRaiseMs = t;
    const d = this.ctx.directory;
    if (this.ctx.overrides.scaleFor('lateral_movement', 'organisation_pair', `${src}>${dst}`, [src, dst], []) === 0) return;
    this.ctx.sink.raise({
      type: 'lateral_movement',
      entity: { kind: 'organisation_pair', id: `${src}>${dst}`, name: `${d.orgName(src)} -> ${d.orgName(dst)}` },
      discriminator: String(port),
      supplierIds: suppliersOf(f.src_org_supplier, f.dst_org_supplier),
      srcOrg: src,
      dstOrg: dst,
      srcAddr: f.src_addr,
      dstAddr: f.dst_addr,
      dstPort: port,
      atMs: t,
      observed: r.flows,
      expected: 0,
      score: 1,
      severity: port === 23 || port === 445 || port === 3389 ? 'high' : 'medium',
      summary: `${d.hostLabel(f.src_addr, src)} connected to ${d.hostLabel(f.dst_addr, dst)} on ${portLabel(port)}, which no policy allows between these organisations`,
      details: { unit: 'flows', policy: 'lateral ports between organisations', port },
      match: (x) => x.src_org === src && x.dst_org === dst && x.dst_port === port,
      receivedNs: f.time_received_ns,
    });
  }

  #worm(f: EnrichedFlow, t: number): void {
    const c = this.ctx.config.lateral;
    const key = `${f.src_addr}|${f.dst_port}`;
    let s = this.#spread.get(key);
    if (s === undefined) {
      s = { touched: false, start: t, orgs: new Set(), next: c.wormMinOrganisations, lastRaiseMs: Number.NEGATIVE_INFINITY };
      this.#spread.set(key, s);
    } else if (t - s.start >= c.wormWindowMs) {
      s.start = t;
      s.orgs.clear();
      s.next = c.wormMinOrganisations;
    }
    const isNew = s.orgs.size < 256 && !s.orgs.has(f.dst_org);
    if (isNew) s.orgs.add(f.dst_org);
    const reached = s.orgs.size;
    const crossing = isNew && reached >= s.next;
    const refresh = s.lastRaiseMs >= s.start && t - s.lastRaiseMs >= 3 * REFRESH_MS;
    if (!crossing && !refresh) return;
    const scale = this.ctx.overrides.scaleFor('lateral_movement', 'host', f.src_addr, [f.src_org], suppliersOf(f.src_org_supplier));
    if (scale === 0) {
      s.next = Number.POSITIVE_INFINITY;
      return;
    }
    if (reached < c.wormMinOrganisations * scale) {
      s.next = Math.ceil(c.wormMinOrganisations * scale);
      return;
    }
    if (crossing) s.next = Math.ceil(reached * 1.5);
    s.lastRaiseMs = t;
    const d = this.ctx.directory;
    const src = f.src_addr;
    const port = f.dst_port;
    const orgs = [...s.orgs];
    const elapsed = Math.max(1000, t - s.start);
    this.ctx.sink.raise({
      type: 'lateral_movement',
      entity: { kind: 'host', id: src, name: d.hostLabel(src, f.src_org) },
      discriminator: String(port),
      supplierIds: suppliersOf(f.src_org_supplier, ...orgs.map((o) => d.orgSupplier(o))),
      srcOrg: f.src_org,
      srcAddr: src,
      dstPort: port,
      atMs: t,
      observed: reached,
      expected: c.wormMinOrganisations * scale,
      score: reached / (c.wormMinOrganisations * scale),
      severity: reached >= 2 * c.wormMinOrganisations * scale ? 'critical' : escalate('medium'),
      summary: `${d.orgLabel(f.src_org)} host ${src} reached ${reached} organisations on ${portLabel(port)} in ${formatDuration(Math.ceil(elapsed / 60_000) * 60_000)}`,
      details: { unit: 'organisations', window_ms: c.wormWindowMs, organisations: orgs.slice(0, 50).join(',') },
      match: (x) => x.src_addr === src && x.dst_port === port,
      receivedNs: f.time_received_ns,
    });
  }

  #allowed(src: string, dst: string, port: number): boolean {
    const d = this.ctx.directory;
    for (const rule of this.ctx.config.lateral.allow) {
      if (rule.ports.length > 0 && !rule.ports.includes(port)) continue;
      if (sideMatches(rule.from, src, d) && sideMatches(rule.to, dst, d)) return true;
    }
    return false;
  }

  /** Marks an organisation pair and port (`A>B:445`) as normal. */
  learn(pairKey: string): void {
    if (this.#learnt.has(pairKey)) return;
    if (this.#learnt.size >= this.ctx.config.maxEntities) {
      this.#learntFull++;
      return;
    }
    this.#learnt.add(pairKey);
  }

  snapshot(): string[] {
    return [...this.#learnt];
  }

  restore(learnt: readonly string[]): void {
    for (const k of learnt) this.learn(k);
  }
}

function sideMatches(spec: string, org: string, d: { inGroup(code: string, group: string): boolean }): boolean {
  if (spec === '*') return true;
  if (spec.startsWith('group:')) return d.inGroup(org, spec.slice(6));
  return spec === org;
}
