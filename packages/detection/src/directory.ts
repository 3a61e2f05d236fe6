import type { RegistryConfig } from '@flowwatch/config';

/** Well-known names of the ports analysts recognise. */
const PORT_NAMES: Record<number, string> = {
  22: 'SSH',
  23: 'Telnet',
  25: 'SMTP',
  53: 'DNS',
  80: 'HTTP',
  123: 'NTP',
  135: 'RPC',
  137: 'NetBIOS-NS',
  138: 'NetBIOS-DGM',
  139: 'NetBIOS-SSN',
  161: 'SNMP',
  389: 'LDAP',
  443: 'HTTPS',
  445: 'SMB',
  1433: 'MSSQL',
  1900: 'SSDP',
  3306: 'MySQL',
  3389: 'RDP',
  5985: 'WinRM',
  5986: 'WinRM-TLS',
  11211: 'memcached',
};

export function portLabel(port: number): string {
  const name = PORT_NAMES[port];
  return name === undefined ? `port ${port}` : `${name}/${port}`;
}

const PROTOCOLS: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6' };
export function protoLabel(proto: number): string {
  return PROTOCOLS[proto] ?? `proto ${proto}`;
}

/**
 * Names and memberships from the registry, for summaries an analyst reads ("Leeds Teaching
 * Hospitals (supplier-b)") and for group-based rules. Unknown codes fall back to the code.
 */
export class Directory {
  readonly #orgs = new Map<string, { name: string; supplier: string }>();
  readonly #suppliers = new Map<string, string>();
  readonly #services = new Map<string, { name: string; supplier: string }>();
  readonly #groups = new Map<string, Set<string>>();
  readonly #groupsOf = new Map<string, string[]>();

  constructor(registry: RegistryConfig) {
    for (const s of registry.suppliers) this.#suppliers.set(s.id, s.name);
    for (const o of registry.organisations) this.#orgs.set(o.code, { name: o.name, supplier: o.supplier });
    for (const s of registry.services) this.#services.set(s.id, { name: s.name, supplier: s.supplier ?? '' });
    for (const g of registry.groups) {
      this.#groups.set(g.id, new Set(g.organisations));
      for (const code of g.organisations) {
        const list = this.#groupsOf.get(code);
        if (list === undefined) this.#groupsOf.set(code, [g.id]);
        else list.push(g.id);
      }
    }
  }

  orgName(code: string): string {
    return this.#orgs.get(code)?.name ?? code;
  }

  /** "Leeds Teaching Hospitals (supplier-b)". */
  orgLabel(code: string): string {
    const org = this.#orgs.get(code);
    return org === undefined ? code || 'the internet' : `${org.name} (${org.supplier})`;
  }

  orgSupplier(code: string): string {
    return this.#orgs.get(code)?.supplier ?? '';
  }

  supplierName(id: string): string {
    return this.#suppliers.get(id) ?? id;
  }

  serviceName(id: string): string {
    return this.#services.get(id)?.name ?? id;
  }

  serviceSupplier(id: string): string {
    return this.#services.get(id)?.supplier ?? '';
  }

  groupsOf(code: string): readonly string[] {
    return this.#groupsOf.get(code) ?? [];
  }

  inGroup(code: string, group: string): boolean {
    return this.#groups.get(group)?.has(code) ?? false;
  }

  /** "Leeds Teaching Hospitals (supplier-b)" or "10.1.2.3 in Leeds Teaching Hospitals (supplier-b)". */
  hostLabel(addr: string, org: string): string {
    return org === '' ? addr : `${addr} in ${this.orgLabel(org)}`;
  }
}

/** Distinct non-empty values, in order. */
export function suppliersOf(...ids: string[]): string[] {
  const out: string[] = [];
  for (const id of ids) if (id !== '' && !out.includes(id)) out.push(id);
  return out;
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

export function formatCount(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${Math.round(n / 1e3)}k` : String(Math.round(n));
}

export function formatDuration(ms: number): string {
  if (ms >= 2 * 3_600_000 || (ms >= 3_600_000 && ms % 3_600_000 === 0)) return `${Math.round(ms / 3_600_000)} h`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 1000)} s`;
}
