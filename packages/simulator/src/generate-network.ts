import { createHash } from 'node:crypto';
import type { RegistryConfig } from '@flowwatch/config';
import { type Ipv4Prefix, type Ipv6Prefix, ipv4PrefixToString, ipv6PrefixText, parseIpv4Prefix } from './addresses.js';
import { BLOCKLIST, EXFILTRATION_RANGE, INTERNET_RANGES, NATIONAL_SERVICES } from './catalog.js';
import { PLACES, REGIONS, STREETS, SUPPLIER_NAMES, SURNAMES } from './names.js';
import {
  clientCapacity,
  type ExportProtocol,
  type InternetRange,
  ORG_TYPES,
  type OrgType,
  type SimExporter,
  type SimGroup,
  type SimOrganisation,
  type SimService,
  type SimSupplier,
  type SimulatedNetwork,
} from './network.js';
import { AliasTable, Random } from './random.js';

export interface NetworkOptions {
  seed: number;
  /** Supplier networks (default 8). */
  suppliers?: number;
  /** Health and care organisations (default 300). */
  organisations?: number;
  /** Exporters send from 127.<exporterOctet>.<supplier>.<exporter> (default 42). */
  exporterOctet?: number;
  /** 1 in N packets for sFlow agents (default 1024). */
  sflowSamplingRate?: number;
}

export const DEFAULT_NETWORK = { suppliers: 8, organisations: 300, exporterOctet: 42, sflowSamplingRate: 1024 } as const;

/** Protocols given to suppliers in turn: with 5 or more suppliers every protocol is spoken. */
const PROTOCOL_CYCLE: readonly ExportProtocol[] = ['netflow9', 'ipfix', 'sflow5', 'netflow5', 'json', 'netflow9', 'ipfix', 'sflow5'];

interface OrgProfile {
  share: number;
  prefixLength: number;
  staffMedian: number;
  staffSigma: number;
  servers: number;
  group: [string, string];
}

/** How the organisations of a region split by kind, how big they are and how they are addressed. */
export const ORG_PROFILES: Readonly<Record<OrgType, OrgProfile>> = {
  'acute-trust': {
    share: 0.07,
    prefixLength: 16,
    staffMedian: 4000,
    staffSigma: 0.5,
    servers: 30,
    group: ['acute-trusts', 'Acute trusts'],
  },
  'community-trust': {
    share: 0.04,
    prefixLength: 18,
    staffMedian: 1500,
    staffSigma: 0.4,
    servers: 12,
    group: ['community-trusts', 'Community trusts'],
  },
  'mental-health-trust': {
    share: 0.03,
    prefixLength: 18,
    staffMedian: 1500,
    staffSigma: 0.4,
    servers: 12,
    group: ['mental-health-trusts', 'Mental health trusts'],
  },
  'ambulance-trust': {
    share: 0.01,
    prefixLength: 18,
    staffMedian: 2500,
    staffSigma: 0.3,
    servers: 10,
    group: ['ambulance-trusts', 'Ambulance trusts'],
  },
  'gp-practice': { share: 0.55, prefixLength: 24, staffMedian: 25, staffSigma: 0.5, servers: 2, group: ['gp-practices', 'GP practices'] },
  pharmacy: { share: 0.12, prefixLength: 27, staffMedian: 6, staffSigma: 0.4, servers: 1, group: ['pharmacies', 'Community pharmacies'] },
  'care-home': {
    share: 0.12,
    prefixLength: 26,
    staffMedian: 40,
    staffSigma: 0.4,
    servers: 1,
    group: ['care-homes', 'Care homes (social care)'],
  },
  'local-authority': {
    share: 0.06,
    prefixLength: 19,
    staffMedian: 600,
    staffSigma: 0.5,
    servers: 10,
    group: ['local-authorities', 'Local authorities (adult social care)'],
  },
};

const ORG_V4_POOL = parseIpv4Prefix('10.0.0.0/8');
/** Organisations are allocated below this; services live in 10.255.0.0/16. */
const ORG_V4_LIMIT = parseIpv4Prefix('10.255.0.0/16').base;

/**
 * A network of networks from a seed: suppliers with exporters (one protocol each, in turn), the
 * organisations on them with ODS-like codes, sizes and IPv4 and IPv6 prefixes, a dozen national
 * services, groups by kind of organisation, Internet ranges, and the registry that describes it
 * all. Same options, same network.
 */
export function generateNetwork(options: NetworkOptions): SimulatedNetwork {
  const o = {
    seed: options.seed,
    suppliers: options.suppliers ?? DEFAULT_NETWORK.suppliers,
    organisations: options.organisations ?? DEFAULT_NETWORK.organisations,
    exporterOctet: options.exporterOctet ?? DEFAULT_NETWORK.exporterOctet,
    sflowSamplingRate: options.sflowSamplingRate ?? DEFAULT_NETWORK.sflowSamplingRate,
  };
  if (o.suppliers < 1 || o.suppliers > 200) throw new RangeError(`suppliers must be 1..200, got ${o.suppliers}`);
  if (o.organisations < 1 || o.organisations > 2000) throw new RangeError(`organisations must be 1..2000, got ${o.organisations}`);
  const rng = Random.derive(o.seed, 'network');

  const exporters: SimExporter[] = [];
  const suppliers: SimSupplier[] = [];
  for (let i = 0; i < o.suppliers; i++) {
    const [id, name] = SUPPLIER_NAMES[i] ?? [`supplier-${i + 1}`, `Supplier ${i + 1}`];
    const protocol = PROTOCOL_CYCLE[i % PROTOCOL_CYCLE.length] as ExportProtocol;
    const count = protocol === 'json' ? rng.between(1, 2) : rng.between(2, 4);
    const own: SimExporter[] = [];
    for (let e = 0; e < count; e++) {
      const exporter: SimExporter = {
        id: exporterName(protocol, e),
        supplierId: id,
        protocol,
        address: protocol === 'json' ? '' : `127.${o.exporterOctet}.${i + 1}.${e + 1}`,
        samplingRate: protocol === 'sflow5' ? o.sflowSamplingRate : 1,
        index: exporters.length,
      };
      own.push(exporter);
      exporters.push(exporter);
    }
    suppliers.push({ id, name, protocol, index: i, exporters: own, pushToken: protocol === 'json' ? pushToken(o.seed, id) : undefined });
  }

  // How many organisations of each kind (largest remainder), then who they are.
  const counts = apportion(
    o.organisations,
    ORG_TYPES.map((t) => ORG_PROFILES[t].share),
  );
  const codes = new Set<string>();
  const names = new Set<string>();
  const drafts: { type: OrgType; code: string; name: string; staff: number }[] = [];
  ORG_TYPES.forEach((type, t) => {
    const p = ORG_PROFILES[type];
    for (let k = 0; k < (counts[t] as number); k++) {
      const code = unique(codes, () => orgCode(type, rng));
      const name = unique(names, () => orgName(type, rng), 20);
      const staff = Math.max(2, Math.round(rng.logNormal(p.staffMedian, p.staffSigma)));
      drafts.push({ type, code, name, staff });
    }
  });

  // Suppliers: big organisations first, dealt round-robin so every supplier carries at least one
  // (when there are enough); then the rest by supplier size.
  const big = rng.shuffle(drafts.filter((d) => ORG_PROFILES[d.type].prefixLength <= 19));
  const small = rng.shuffle(drafts.filter((d) => ORG_PROFILES[d.type].prefixLength > 19));
  const order = [...big, ...small];
  const supplierWeights = new AliasTable(suppliers.map(() => rng.logNormal(1, 0.4)));
  const supplierOf = order.map((_, i) => (i < suppliers.length ? i : supplierWeights.sample(rng)));

  // Addresses: largest prefixes first so every allocation is aligned.
  const byPrefix = order
    .map((d, i) => ({ d, i }))
    .sort((a, b) => ORG_PROFILES[a.d.type].prefixLength - ORG_PROFILES[b.d.type].prefixLength);
  const v4Of = new Map<number, Ipv4Prefix>();
  let next = ORG_V4_POOL.base;
  for (const { d, i } of byPrefix) {
    const length = ORG_PROFILES[d.type].prefixLength;
    const size = 2 ** (32 - length);
    next = Math.ceil(next / size) * size;
    if (next + size > ORG_V4_LIMIT) throw new RangeError(`${o.organisations} organisations do not fit in 10.0.0.0/8 below 10.255.0.0`);
    v4Of.set(i, { base: next, length });
    next += size;
  }

  const perExporter = new Map<SimExporter, number>();
  const perSupplier = new Map<string, number>();
  const organisations: SimOrganisation[] = order.map((d, i) => {
    const supplier = suppliers[supplierOf[i] as number] as SimSupplier;
    const nth = perSupplier.get(supplier.id) ?? 0;
    perSupplier.set(supplier.id, nth + 1);
    const exporter = supplier.exporters[nth % supplier.exporters.length] as SimExporter;
    const onExporter = perExporter.get(exporter) ?? 0;
    perExporter.set(exporter, onExporter + 1);
    const v4 = v4Of.get(i) as Ipv4Prefix;
    const servers = ORG_PROFILES[d.type].servers;
    const v6: Ipv6Prefix = [0x2001, 0x0db8, i + 1, 0];
    return {
      index: i,
      code: d.code,
      name: d.name,
      type: d.type,
      supplierId: supplier.id,
      exporter,
      ifIndex: 100 + onExporter,
      staff: d.staff,
      v4,
      v6,
      clients: Math.max(1, Math.min(clientCapacity(v4, servers), Math.ceil(d.staff * 0.8))),
      servers,
    };
  });

  const services: SimService[] = NATIONAL_SERVICES.map((s, k) => ({
    index: k,
    id: s.id,
    name: s.name,
    supplier: s.hostedBy !== undefined && s.hostedBy < suppliers.length ? suppliers[s.hostedBy]?.id : undefined,
    v4: { base: ORG_V4_LIMIT + k * 256, length: 24 },
    v6: [0x2001, 0x0db8, 0xff00 + k, 0],
    ports: [...s.ports],
    hosts: s.hosts,
  }));

  const groups: SimGroup[] = ORG_TYPES.map((type) => ({
    id: ORG_PROFILES[type].group[0],
    name: ORG_PROFILES[type].group[1],
    organisations: organisations.filter((org) => org.type === type).map((org) => org.code),
  })).filter((g) => g.organisations.length > 0);

  const internet: InternetRange[] = INTERNET_RANGES.map((r) => ({
    name: r.name,
    category: r.category,
    asn: r.asn,
    v4: r.v4.map(parseIpv4Prefix),
    v6: r.v6 ? [r.v6[0], r.v6[1], 0, 0] : undefined,
    weight: r.weight,
  }));

  const registry: RegistryConfig = {
    suppliers: suppliers.map((s) => ({
      id: s.id,
      name: s.name,
      exporters: s.exporters.filter((e) => e.address !== '').map((e) => ({ id: e.id, address: e.address, samplingRate: e.samplingRate })),
      pushTokens: s.pushToken ? [tokenHash(s.pushToken)] : [],
      clientCertFingerprints: [],
    })),
    organisations: organisations.map((org) => ({
      code: org.code,
      name: org.name,
      type: org.type,
      supplier: org.supplierId,
      prefixes: [ipv4PrefixToString(org.v4), ipv6PrefixText(org.v6, 48)],
    })),
    services: services.map((s) => ({
      id: s.id,
      name: s.name,
      ...(s.supplier ? { supplier: s.supplier } : {}),
      prefixes: [ipv4PrefixToString(s.v4), ipv6PrefixText(s.v6, 48)],
      ports: s.ports,
    })),
    groups: groups.map((g) => ({ id: g.id, name: g.name, organisations: g.organisations })),
  };

  return {
    seed: o.seed,
    suppliers,
    exporters,
    organisations,
    services,
    groups,
    internet,
    blocklist: [...BLOCKLIST],
    exfiltrationRange: parseIpv4Prefix(EXFILTRATION_RANGE),
    registry,
  };
}

/** The plain-text push token of a supplier: derived from the seed, so the simulator and the registry agree. */
export function pushToken(seed: number, supplierId: string): string {
  return `fwsim_${createHash('sha256').update(`flowwatch-simulator:${seed}:${supplierId}`).digest('base64url')}`;
}

/** What the registry holds for a token (the collector compares SHA-256 hashes). */
export function tokenHash(token: string): string {
  return `sha256:${createHash('sha256').update(token).digest('hex')}`;
}

function exporterName(protocol: ExportProtocol, e: number): string {
  switch (protocol) {
    case 'json':
      return `push-gw-${e + 1}`;
    case 'sflow5':
      return `switch-${e + 1}`;
    case 'netflow5':
      return `edge-${e + 1}`;
    default:
      return `core-${e + 1}`;
  }
}

/** Whole numbers summing to `total` in proportion to `shares` (largest remainder). */
export function apportion(total: number, shares: readonly number[]): number[] {
  const sum = shares.reduce((a, b) => a + b, 0);
  const exact = shares.map((s) => (s / sum) * total);
  const out = exact.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((x, i) => ({ i, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (let k = 0; left > 0; k = (k + 1) % byRemainder.length, left--) {
    const i = (byRemainder[k] as { i: number }).i;
    out[i] = (out[i] as number) + 1;
  }
  return out;
}

function unique(seen: Set<string>, make: () => string, tries = 1000): string {
  for (let i = 0; i < tries; i++) {
    const v = make();
    if (!seen.has(v)) {
      seen.add(v);
      return v;
    }
  }
  const base = make();
  for (let n = 2; ; n++) {
    const v = `${base} ${n}`;
    if (!seen.has(v)) {
      seen.add(v);
      return v;
    }
  }
}

const ALNUM = 'ABCDEFGHJKLMNPQRTUVWXY0123456789';
const chars = (rng: Random, alphabet: string, n: number) => Array.from({ length: n }, () => alphabet[rng.int(alphabet.length)]).join('');
const digits = (rng: Random, n: number) => chars(rng, '0123456789', n);

/** Codes shaped like ODS codes (trusts R.., practices A12345, pharmacies F....), CQC ids for care homes, ONS codes for councils. */
function orgCode(type: OrgType, rng: Random): string {
  switch (type) {
    case 'gp-practice':
      return `${chars(rng, 'ABCDEFGHJKLMNPY', 1)}${digits(rng, 5)}`;
    case 'pharmacy':
      return `F${chars(rng, ALNUM, 4)}`;
    case 'care-home':
      return `1-${rng.between(1, 9)}${digits(rng, 8)}`;
    case 'local-authority':
      return `E0${rng.pick(['6', '7', '8', '9'])}000${digits(rng, 3)}`;
    default:
      return `R${chars(rng, ALNUM, 2)}`;
  }
}

function orgName(type: OrgType, rng: Random): string {
  const place = rng.pick(PLACES);
  switch (type) {
    case 'acute-trust':
      return rng.pick([
        `${place} Hospitals NHS Foundation Trust`,
        `${place} University Hospitals NHS Trust`,
        `${place} and ${rng.pick(PLACES)} Hospitals NHS Trust`,
      ]);
    case 'community-trust':
      return `${place} Community Healthcare NHS Trust`;
    case 'mental-health-trust':
      return rng.pick([`${place} Partnership NHS Foundation Trust`, `${place} Mental Health NHS Trust`]);
    case 'ambulance-trust':
      return `${rng.pick(REGIONS)} Ambulance Service NHS Trust`;
    case 'gp-practice':
      return rng.pick([
        `${place} Medical Centre`,
        `The ${rng.pick(STREETS)} Surgery`,
        `${place} Health Centre`,
        `${rng.pick(STREETS)} Practice, ${place}`,
      ]);
    case 'pharmacy':
      return rng.pick([`${place} Pharmacy`, `${rng.pick(SURNAMES)} Chemist, ${place}`]);
    case 'care-home':
      return rng.pick([`${rng.pick(STREETS)} House Care Home`, `${place} Lodge`, `${rng.pick(STREETS)} Court Nursing Home`]);
    case 'local-authority':
      return rng.pick([`${place} Council`, `${place} County Council`, `${place} Metropolitan Borough Council`]);
  }
}
