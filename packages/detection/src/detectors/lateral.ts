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

/** One source organisation's lateral activity on one port: all of it is one alert. */
interface Campaign {
  touched: boolean;
  /** Destination organisations reached against policy (bounded). */
  violating: Set<string>;
  /** Hosts of the organisation that crossed the worm threshold, with their reach. */
  spreaders: Map<string, number>;
  flows: number;
  firstMs: number;
  lastRaiseMs: number;
}

/** A campaign is re-raised at most this often while it persists (the tracker publishes less often). */
const REFRESH_MS = 10_000;
/** Organisations and hosts listed per campaign. */
const MAX_LISTED = 256;

/**
 * Lateral movement between organisations on administrative and risky ports (SSH, Telnet, RPC,
 * NetBIOS, SMB, RDP, WinRM by default), two rules:
 * - policy: a flow from one organisation to another on such a port that no `allow` rule permits
 *   (and, with learnAllowed, that was not seen during the learning period) is a violation;
 * - worm spread: one source address reaching at least wormMinOrganisations other organisations on
 *   one such port within wormWindowMs (allowed or not).
 * Both are reported as ONE alert per source organisation and port (fingerprint
 * `lateral_movement|organisation:<code>|<port>`), listing the destination organisations and the
 * spreading hosts: a worm that probes hundreds of organisations from a handful of infected ones is
 * a handful of alerts (one per infected organisation, the unit an analyst isolates), not one per
 * organisation pair. The alert escalates when a host crosses the worm threshold (critical at twice it).
 */
export class LateralDetector implements DetectorFamily {
  readonly name = 'lateral';
  readonly #ports: Set<number>;
  readonly #learnt = new Set<string>();
  readonly #spread: EntityTable<Spread>;
  readonly #campaigns: EntityTable<Campaign>;
  #learntFull = 0;

  constructor(private readonly ctx: DetectorContext) {
    this.#ports = new Set(ctx.config.lateral.ports);
    this.#spread = new EntityTable(ctx.config.maxEntities);
    this.#campaigns = new EntityTable(Math.min(ctx.config.maxEntities, 50_000));
  }

  get size(): number {
    return this.#spread.size + this.#campaigns.size + this.#learnt.size;
  }
  get evictions(): number {
    return this.#spread.evictions + this.#campaigns.evictions + this.#learntFull;
  }

  onFlow(f: EnrichedFlow, t: number): void {
    const port = f.dst_port;
    if (!this.#ports.has(port) || (f.proto !== 6 && f.proto !== 17)) return;
    const src = f.src_org;
    const dst = f.dst_org;
    if (src === '' || dst === '' || src === dst) return;
    const reach = this.#worm(f, t);
    const pairKey = `${src}>${dst}:${port}`;
    if (this.ctx.learning(t)) {
      if (this.ctx.config.lateral.learnAllowed) this.learn(pairKey);
      if (reach > 0) this.#report(f, t, false, reach);
      return;
    }
    const violation = !this.#learnt.has(pairKey) && !this.#allowed(src, dst, port);
    if (violation || reach > 0) this.#report(f, t, violation, reach);
  }

  /**
   * The worm rule for the flow's source host: the number of organisations it has reached in the
   * window when it crosses a threshold (or is due a refresh), else 0.
   */
  #worm(f: EnrichedFlow, t: number): number {
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
    const isNew = s.orgs.size < MAX_LISTED && !s.orgs.has(f.dst_org);
    if (isNew) s.orgs.add(f.dst_org);
    const reached = s.orgs.size;
    const crossing = isNew && reached >= s.next;
    const refresh = s.lastRaiseMs >= s.start && t - s.lastRaiseMs >= 3 * REFRESH_MS;
    if (!crossing && !refresh) return 0;
    const scale = this.ctx.overrides.scaleFor('lateral_movement', 'host', f.src_addr, [f.src_org], suppliersOf(f.src_org_supplier));
    if (scale === 0) {
      s.next = Number.POSITIVE_INFINITY;
      return 0;
    }
    if (reached < c.wormMinOrganisations * scale) {
      s.next = Math.ceil(c.wormMinOrganisations * scale);
      return 0;
    }
    if (crossing) s.next = Math.ceil(reached * 1.5);
    s.lastRaiseMs = t;
    return reached;
  }

  #report(f: EnrichedFlow, t: number, violation: boolean, reach: number): void {
    const src = f.src_org;
    const port = f.dst_port;
    const key = `${src}|${port}`;
    let k = this.#campaigns.get(key);
    if (k === undefined) {
      const scale = this.ctx.overrides.scaleFor('lateral_movement', 'organisation', src, [src], suppliersOf(f.src_org_supplier));
      if (scale === 0 && reach === 0) return;
      k = { touched: false, violating: new Set(), spreaders: new Map(), flows: 0, firstMs: t, lastRaiseMs: Number.NEGATIVE_INFINITY };
      this.#campaigns.set(key, k);
    }
    k.flows++;
    let changed = false;
    if (violation && k.violating.size < MAX_LISTED && !k.violating.has(f.dst_org)) {
      k.violating.add(f.dst_org);
      changed = true;
    }
    if (reach > 0) {
      const before = k.spreaders.get(f.src_addr) ?? 0;
      if (reach > before && (before > 0 || k.spreaders.size < MAX_LISTED)) k.spreaders.set(f.src_addr, reach);
      changed = true;
    }
    if (!changed && t - k.lastRaiseMs < REFRESH_MS) return;
    if (k.violating.size === 0 && k.spreaders.size === 0) return;
    k.lastRaiseMs = t;
    this.#raise(f, t, k);
  }

  #raise(f: EnrichedFlow, t: number, k: Campaign): void {
    const c = this.ctx.config.lateral;
    const d = this.ctx.directory;
    const src = f.src_org;
    const port = f.dst_port;
    let maxReach = 0;
    let topHost = '';
    for (const [h, r] of k.spreaders)
      if (r > maxReach) {
        maxReach = r;
        topHost = h;
      }
    const destinations = [...k.violating];
    const orgs = Math.max(destinations.length, maxReach);
    const severity =
      maxReach >= 2 * c.wormMinOrganisations
        ? 'critical'
        : maxReach > 0
          ? escalate('medium')
          : port === 23 || port === 445 || port === 3389
            ? 'high'
            : 'medium';
    const since = formatDuration(Math.max(60_000, Math.ceil((t - k.firstMs) / 60_000) * 60_000));
    let summary: string;
    if (k.spreaders.size === 0 && destinations.length === 1) {
      summary = `${d.hostLabel(f.src_addr, src)} connected to ${d.hostLabel(f.dst_addr, f.dst_org)} on ${portLabel(port)}, which no policy allows between these organisations`;
    } else if (k.spreaders.size === 0) {
      summary = `${d.orgLabel(src)} connected to ${destinations.length} other organisations on ${portLabel(port)} in ${since}, which no policy allows (latest ${d.orgName(f.dst_org)})`;
    } else if (k.spreaders.size === 1) {
      summary = `${d.orgLabel(src)} host ${topHost} reached ${maxReach} organisations on ${portLabel(port)} in ${since}`;
    } else {
      summary = `${d.orgLabel(src)}: ${k.spreaders.size} hosts reached up to ${maxReach} organisations on ${portLabel(port)} in ${since} (worm-like spread; most: ${topHost})`;
    }
    const suppliers = suppliersOf(f.src_org_supplier, ...destinations.slice(0, 50).map((o) => d.orgSupplier(o)));
    this.ctx.sink.raise({
      type: 'lateral_movement',
      entity: { kind: 'organisation', id: src, name: d.orgName(src) },
      discriminator: String(port),
      supplierIds: suppliers,
      srcOrg: src,
      ...(destinations.length === 1 && k.spreaders.size === 0 ? { dstOrg: destinations[0], dstAddr: f.dst_addr } : {}),
      srcAddr: topHost !== '' ? topHost : f.src_addr,
      dstPort: port,
      atMs: t,
      observed: orgs,
      expected: maxReach > 0 ? c.wormMinOrganisations : 0,
      score: maxReach > 0 ? maxReach / c.wormMinOrganisations : 1,
      severity,
      summary,
      details: {
        unit: 'organisations',
        port,
        policy: 'lateral ports between organisations',
        window_ms: c.wormWindowMs,
        destinations_against_policy: destinations.length,
        destination_organisations: destinations.slice(0, 50).join(','),
        spreading_hosts: [...k.spreaders.keys()].slice(0, 50).join(','),
        flows: k.flows,
      },
      match: (x) => x.src_org === src && x.dst_port === port && x.dst_org !== src,
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
