import type { PolicyRuleConfig } from '@flowwatch/config';
import type { EnrichedFlow } from '@flowwatch/enrichment';
import type { DetectorContext, DetectorFamily } from '../context.js';
import { formatBytes, formatDuration, portLabel, protoLabel, suppliersOf } from '../directory.js';
import { EntityTable } from '../entity-table.js';

interface CompiledRule {
  config: PolicyRuleConfig;
  directions: Set<string> | undefined;
  ports: Set<number> | undefined;
  protocols: Set<number> | undefined;
  services: Set<string> | undefined;
  suppliers: Set<string> | undefined;
  srcOrgs: Set<string> | undefined;
  dstOrgs: Set<string> | undefined;
  srcGroups: readonly string[];
  dstGroups: readonly string[];
}

interface Window {
  touched: boolean;
  start: number;
  bytes: number;
  flows: number;
  lastRaiseMs: number;
}

const REFRESH_MS = 10_000;

const setOf = <T>(list: readonly T[]): Set<T> | undefined => (list.length === 0 ? undefined : new Set(list));

/**
 * Declarative policy rules over enriched fields (config `detector.policies`): directions, source
 * and destination organisations or groups, exporting suppliers, services, destination ports and
 * protocols. Without a threshold every matching flow violates the rule; with one, a source
 * organisation (or address, outside the registry) violates it when its matching bytes or flows in
 * the window exceed the threshold. One alert per rule and source organisation.
 */
export class PolicyDetector implements DetectorFamily {
  readonly name = 'policy';
  readonly #rules: CompiledRule[];
  readonly #windows: EntityTable<Window>;

  constructor(private readonly ctx: DetectorContext) {
    this.#rules = ctx.config.policies.map((config) => ({
      config,
      directions: setOf(config.match.directions),
      ports: setOf(config.match.dstPorts),
      protocols: setOf(config.match.protocols),
      services: setOf(config.match.services),
      suppliers: setOf(config.match.suppliers),
      srcOrgs: setOf(config.match.srcOrganisations),
      dstOrgs: setOf(config.match.dstOrganisations),
      srcGroups: config.match.srcGroups,
      dstGroups: config.match.dstGroups,
    }));
    this.#windows = new EntityTable(Math.min(ctx.config.maxEntities, 50_000));
  }

  get size(): number {
    return this.#windows.size;
  }
  get evictions(): number {
    return this.#windows.evictions;
  }

  onFlow(f: EnrichedFlow, t: number): void {
    const rules = this.#rules;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      if (r.ports !== undefined && !r.ports.has(f.dst_port)) continue;
      if (r.protocols !== undefined && !r.protocols.has(f.proto)) continue;
      if (r.directions !== undefined && !r.directions.has(f.direction)) continue;
      if (r.services !== undefined && !r.services.has(f.service)) continue;
      if (r.suppliers !== undefined && !r.suppliers.has(f.supplier_id)) continue;
      if (r.srcOrgs !== undefined && !r.srcOrgs.has(f.src_org)) continue;
      if (r.dstOrgs !== undefined && !r.dstOrgs.has(f.dst_org)) continue;
      if (r.srcGroups.length > 0 && !this.#inAny(f.src_org, r.srcGroups)) continue;
      if (r.dstGroups.length > 0 && !this.#inAny(f.dst_org, r.dstGroups)) continue;
      this.#violation(r, f, t);
    }
  }

  #inAny(org: string, groups: readonly string[]): boolean {
    if (org === '') return false;
    const d = this.ctx.directory;
    for (const g of groups) if (d.inGroup(org, g)) return true;
    return false;
  }

  #violation(r: CompiledRule, f: EnrichedFlow, t: number): void {
    const rule = r.config;
    const source = f.src_org !== '' ? f.src_org : f.src_addr;
    const key = `${rule.id}|${source}`;
    let w = this.#windows.get(key);
    if (w === undefined) {
      w = { touched: false, start: t, bytes: 0, flows: 0, lastRaiseMs: Number.NEGATIVE_INFINITY };
      this.#windows.set(key, w);
    }
    const threshold = rule.threshold;
    if (threshold !== undefined && t - w.start >= threshold.windowMs) {
      w.start = t;
      w.bytes = 0;
      w.flows = 0;
    }
    w.bytes += f.bytes_est;
    w.flows++;
    if (threshold !== undefined) {
      const over = (threshold.bytes > 0 && w.bytes > threshold.bytes) || (threshold.flows > 0 && w.flows > threshold.flows);
      if (!over) return;
    }
    if (t - w.lastRaiseMs < REFRESH_MS) return;
    w.lastRaiseMs = t;
    const d = this.ctx.directory;
    const srcOrg = f.src_org;
    const volume =
      threshold === undefined
        ? `${w.flows} flows`
        : `${formatBytes(w.bytes)} in ${w.flows} flows within ${formatDuration(threshold.windowMs)}`;
    const ruleId = rule.id;
    // Values, not the record: the engine's record is overwritten after the flow (the ring of recent flows).
    const srcAddr = f.src_addr;
    const dstPort = f.dst_port;
    this.ctx.sink.raise({
      type: 'policy',
      entity: { kind: 'policy', id: ruleId, name: rule.description },
      discriminator: source,
      supplierIds: suppliersOf(f.src_org_supplier, f.dst_org_supplier, f.supplier_id),
      srcOrg,
      dstOrg: f.dst_org,
      srcAddr: f.src_addr,
      dstAddr: f.dst_addr,
      dstPort: f.dst_port,
      ...(f.service ? { service: f.service } : {}),
      atMs: t,
      observed: threshold === undefined ? w.flows : w.bytes,
      expected: threshold === undefined ? 0 : threshold.bytes,
      score: threshold === undefined || threshold.bytes === 0 ? 1 : w.bytes / threshold.bytes,
      severity: rule.severity,
      summary: `Policy "${rule.description}" broken: ${d.hostLabel(f.src_addr, srcOrg)} -> ${d.hostLabel(f.dst_addr, f.dst_org)} on ${protoLabel(f.proto)} ${portLabel(f.dst_port)} (${volume})`,
      details: { unit: threshold === undefined ? 'flows' : 'bytes', rule: ruleId },
      match: (x) => (srcOrg !== '' ? x.src_org === srcOrg : x.src_addr === srcAddr) && x.dst_port === dstPort,
      receivedNs: f.time_received_ns,
    });
  }
}
