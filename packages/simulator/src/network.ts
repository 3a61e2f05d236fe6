import type { RegistryConfig } from '@flowwatch/config';
import type { FlowType } from '@flowwatch/flow-schema';
import { type Ipv4Prefix, type Ipv6Prefix, ipv4ToString, ipv6Address } from './addresses.js';

/**
 * The simulated network of networks: what the registry says (suppliers, organisations, services,
 * groups) plus what only the simulator knows (organisation sizes, which exporter carries which
 * organisation, exporter protocols, push tokens in plain text, Internet ranges, blocklisted
 * addresses). Built by generateNetwork; read by the traffic model, scenarios and exporters.
 */

export const EXPORT_PROTOCOLS = ['netflow5', 'netflow9', 'ipfix', 'sflow5', 'json'] as const;
export type ExportProtocol = (typeof EXPORT_PROTOCOLS)[number];

/** The FlowRecord `type` the collector gives records of each protocol. */
export const FLOW_TYPE_OF: Readonly<Record<ExportProtocol, FlowType>> = {
  netflow5: 'NETFLOW_V5',
  netflow9: 'NETFLOW_V9',
  ipfix: 'IPFIX',
  sflow5: 'SFLOW_5',
  json: 'JSON',
};

export interface SimExporter {
  /** Registry exporter id (UDP), or the exporter_id pushed records carry (JSON). */
  id: string;
  supplierId: string;
  protocol: ExportProtocol;
  /** Source address of its datagrams (127.0.0.0/8); '' for a push gateway. */
  address: string;
  /** 1 = unsampled; sFlow agents sample 1 packet in N. */
  samplingRate: number;
  /** Position among all exporters: NetFlow v9 source id, IPFIX observation domain, engine id. */
  index: number;
}

export interface SimSupplier {
  id: string;
  name: string;
  protocol: ExportProtocol;
  index: number;
  exporters: SimExporter[];
  /** The bearer token of a push supplier, in plain text (the registry holds its SHA-256). */
  pushToken: string | undefined;
}

export const ORG_TYPES = [
  'acute-trust',
  'community-trust',
  'mental-health-trust',
  'ambulance-trust',
  'gp-practice',
  'pharmacy',
  'care-home',
  'local-authority',
] as const;
export type OrgType = (typeof ORG_TYPES)[number];

export interface SimOrganisation {
  index: number;
  code: string;
  name: string;
  type: OrgType;
  supplierId: string;
  /** The exporter that sees this organisation's traffic (its access circuit's router). */
  exporter: SimExporter;
  /** ifIndex of the organisation's access circuit on that exporter. */
  ifIndex: number;
  /** People working there: drives how much traffic it makes. */
  staff: number;
  v4: Ipv4Prefix;
  v6: Ipv6Prefix;
  /** Client hosts (workstations) and servers addressed inside its prefixes. */
  clients: number;
  servers: number;
}

export interface SimService {
  index: number;
  id: string;
  name: string;
  supplier: string | undefined;
  v4: Ipv4Prefix;
  v6: Ipv6Prefix;
  ports: number[];
  /** Server addresses the service answers on. */
  hosts: number;
}

export const INTERNET_CATEGORIES = ['web', 'microsoft', 'google', 'apple', 'cdn', 'video', 'updates'] as const;
export type InternetCategory = (typeof INTERNET_CATEGORIES)[number];

export interface InternetRange {
  name: string;
  category: InternetCategory;
  asn: number;
  v4: Ipv4Prefix[];
  /** A /32 or shorter, as its first groups; hosts get random lower groups. */
  v6: Ipv6Prefix | undefined;
  weight: number;
}

export interface SimGroup {
  id: string;
  name: string;
  organisations: string[];
}

export interface SimulatedNetwork {
  seed: number;
  suppliers: SimSupplier[];
  exporters: SimExporter[];
  organisations: SimOrganisation[];
  services: SimService[];
  groups: SimGroup[];
  internet: InternetRange[];
  /** Addresses a threat feed would list; scenarios contact them, background traffic never does. */
  blocklist: string[];
  /** Where slow exfiltration goes: a range no background traffic uses. */
  exfiltrationRange: Ipv4Prefix;
  /** A value valid against the config's registry schema. */
  registry: RegistryConfig;
}

const SMALL_PREFIX = 1024;
const CLIENTS_PER_SUBNET = 200;

/**
 * Host addressing inside an organisation. Large prefixes (/22 and shorter): servers are .10 upward
 * in the first /24, clients 200 per /24 from the second /24 on. Small ones: servers from .2, clients
 * after them. IPv6: servers ::10+k in subnet 0, clients ::1+n in subnets 1, 2, ... of the /48.
 */
export function clientCapacity(v4: Ipv4Prefix, servers: number): number {
  const size = 2 ** (32 - v4.length);
  if (size >= SMALL_PREFIX) return (size / 256 - 1) * CLIENTS_PER_SUBNET;
  return size - 3 - servers;
}

export function clientV4(org: SimOrganisation, i: number): string {
  const size = 2 ** (32 - org.v4.length);
  if (size >= SMALL_PREFIX) {
    const subnet = 1 + Math.floor(i / CLIENTS_PER_SUBNET);
    return ipv4ToString(org.v4.base + subnet * 256 + 1 + (i % CLIENTS_PER_SUBNET));
  }
  return ipv4ToString(org.v4.base + 2 + org.servers + i);
}

export function clientV6(org: SimOrganisation, i: number): string {
  const p = org.v6;
  return ipv6Address([p[0], p[1], p[2], 1 + Math.floor(i / CLIENTS_PER_SUBNET)], 0, 0, 0, 1 + (i % CLIENTS_PER_SUBNET));
}

export function serverV4(org: SimOrganisation, k: number): string {
  const size = 2 ** (32 - org.v4.length);
  return ipv4ToString(org.v4.base + (size >= SMALL_PREFIX ? 10 : 2) + k);
}

export function serverV6(org: SimOrganisation, k: number): string {
  return ipv6Address(org.v6, 0, 0, 0, 0x10 + k);
}

export function serviceV4(service: SimService, k: number): string {
  return ipv4ToString(service.v4.base + 10 + k);
}

export function serviceV6(service: SimService, k: number): string {
  return ipv6Address(service.v6, 0, 0, 0, 0x10 + k);
}

/** Server roles by index inside an organisation. */
export const SERVER_DC = 0;
export const SERVER_FILE = 1;
/** Application servers are SERVER_APP and above (when the organisation has them). */
export const SERVER_APP = 2;
