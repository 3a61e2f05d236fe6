import type { InternetCategory } from './network.js';

/**
 * National services every organisation reaches across the network of networks (the set is modelled
 * on the HSCN's: records, mail, referrals, prescriptions, imaging, identity, DNS, NTP, ...). Each
 * gets its own /24 in 10.255.0.0/16 and /48 in 2001:db8:ff00::/40. `hostedBy` is a supplier index
 * (services hosted in a supplier's data centre); the others belong to no supplier.
 */
export interface ServiceTemplate {
  id: string;
  name: string;
  ports: number[];
  hosts: number;
  hostedBy?: number;
}

export const NATIONAL_SERVICES: readonly ServiceTemplate[] = [
  { id: 'spine', name: 'Spine (national care records)', ports: [443], hosts: 8 },
  { id: 'nhsmail', name: 'NHSmail', ports: [25, 587, 993, 443], hosts: 8 },
  { id: 'e-referrals', name: 'e-Referral Service', ports: [443], hosts: 4 },
  { id: 'eps', name: 'Electronic Prescription Service', ports: [443], hosts: 4 },
  { id: 'gp-connect', name: 'GP Connect', ports: [443], hosts: 4 },
  { id: 'pacs', name: 'Imaging exchange (PACS)', ports: [104, 11112, 443], hosts: 4, hostedBy: 1 },
  { id: 'identity', name: 'Care Identity Service (smartcard authentication)', ports: [443, 636], hosts: 4 },
  { id: 'dns', name: 'National DNS', ports: [53], hosts: 4 },
  { id: 'ntp', name: 'National time (NTP)', ports: [123], hosts: 2 },
  { id: 'patching', name: 'Software update distribution', ports: [8530, 8531], hosts: 4, hostedBy: 2 },
  { id: 'backup', name: 'National backup and archive', ports: [443, 873], hosts: 4, hostedBy: 3 },
  { id: 'directory', name: 'Directory of Services', ports: [443], hosts: 2 },
];

/**
 * Internet destinations by category, with their real operators' ASNs and prefixes (so the address
 * mix looks like a real edge). Scenario-only ranges (blocklist, exfiltration) are documentation
 * prefixes (RFC 5737) so that no real party is ever labelled malicious.
 */
export interface InternetTemplate {
  name: string;
  category: InternetCategory;
  asn: number;
  v4: string[];
  v6?: [number, number];
  weight: number;
}

export const INTERNET_RANGES: readonly InternetTemplate[] = [
  {
    name: 'Microsoft 365',
    category: 'microsoft',
    asn: 8075,
    v4: ['52.96.0.0/14', '40.96.0.0/13', '13.107.0.0/16'],
    v6: [0x2603, 0x1026],
    weight: 5,
  },
  { name: 'Microsoft login', category: 'microsoft', asn: 8075, v4: ['20.190.128.0/18'], v6: [0x2603, 0x1027], weight: 1 },
  { name: 'Google', category: 'google', asn: 15169, v4: ['142.250.0.0/15', '172.217.0.0/16'], v6: [0x2a00, 0x1450], weight: 3 },
  { name: 'Apple', category: 'apple', asn: 714, v4: ['17.0.0.0/12'], v6: [0x2620, 0x149], weight: 1 },
  { name: 'Cloudflare', category: 'cdn', asn: 13335, v4: ['104.16.0.0/13', '172.64.0.0/13'], v6: [0x2606, 0x4700], weight: 3 },
  { name: 'Fastly', category: 'cdn', asn: 54113, v4: ['151.101.0.0/16'], v6: [0x2a04, 0x4e42], weight: 2 },
  { name: 'Akamai', category: 'cdn', asn: 20940, v4: ['23.32.0.0/11'], weight: 2 },
  { name: 'Amazon', category: 'web', asn: 16509, v4: ['52.84.0.0/15', '54.230.0.0/16', '13.32.0.0/15'], v6: [0x2600, 0x9000], weight: 3 },
  { name: 'UK public sector web', category: 'web', asn: 5400, v4: ['51.140.0.0/14'], weight: 2 },
  { name: 'Teams media relays', category: 'video', asn: 8075, v4: ['52.112.0.0/14'], v6: [0x2603, 0x1063], weight: 1 },
  { name: 'Zoom', category: 'video', asn: 30103, v4: ['170.114.0.0/16'], weight: 1 },
  { name: 'Windows Update', category: 'updates', asn: 8075, v4: ['13.64.0.0/11'], weight: 1 },
];

/** First octets of address space where the DDoS botnet and Internet scanners live (ISP customer ranges). */
export const BOT_FIRST_OCTETS = [
  2, 5, 31, 37, 41, 46, 58, 59, 60, 61, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 109, 110, 111, 112, 113,
  114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 171, 175, 176, 177, 178, 179, 180, 181, 182, 183, 186, 187, 188, 189, 190,
  191, 200, 201,
];

/** Blocklisted addresses (RFC 5737 TEST-NET-2) and the exfiltration drop zone (TEST-NET-1). */
export const BLOCKLIST = ['198.51.100.66', '198.51.100.23', '198.51.100.147'];
export const EXFILTRATION_RANGE = '192.0.2.0/24';
