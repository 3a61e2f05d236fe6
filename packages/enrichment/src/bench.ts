/**
 * Enrichment throughput on one core:
 *   node --conditions=flowwatch-src --import tsx packages/enrichment/src/bench.ts
 * 100,000 distinct prefixes (90% IPv4 /16../29 inside 64 /8s, 10% IPv6 /32../64 under 2001:d00::/24);
 * look-ups are half addresses inside a stored prefix, half random addresses (IPv4 anywhere, IPv6
 * under the same /24), which mostly miss. Enrichment: those prefixes over 20,000 organisations on
 * 10 suppliers, 50 services, one flow in 16 to a service. Prints one JSON line.
 */
import type { RegistryConfig } from '@flowwatch/config';
import { emptyFlow, type FlowRecord } from '@flowwatch/flow-schema';
import { Enricher } from './enricher.js';
import { PrefixTable } from './prefix-table.js';

const PREFIXES = 100_000;
const ADDRESSES = 1 << 18;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 1.5);

let seed = 7;
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
}
const int = (n: number): number => Math.floor(random() * n);
// Organisation space: 64 /8s, as a national network's address plan spreads over many allocations.
const FIRST_OCTETS = Array.from({ length: 64 }, (_, i) => 2 + i * 3);

function v4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}
function randomV4(): number {
  return ((FIRST_OCTETS[int(FIRST_OCTETS.length)]! << 24) | int(1 << 24)) >>> 0;
}
function v6(hi: number, lo: number, tail: number): string {
  // First 64 bits from hi/lo, then a host part: compressed the way RFC 5952 would print it.
  const h = (n: number): string => n.toString(16);
  return `2001:${h(0xd00 | (hi >>> 24))}:${h((hi >>> 8) & 0xffff)}:${h(lo & 0xffff)}::${h(tail)}`;
}

interface Prefix {
  cidr: string;
  sample: () => string;
}

function makePrefix(): Prefix {
  if (random() < 0.9) {
    const length = 16 + int(14);
    const network = length === 32 ? randomV4() : ((randomV4() >>> (32 - length)) << (32 - length)) >>> 0;
    const hostBits = 32 - length;
    return { cidr: `${v4(network)}/${length}`, sample: () => v4((network | int(2 ** hostBits)) >>> 0) };
  }
  const lengths = [32, 40, 48, 56, 64];
  const length = lengths[int(lengths.length)]!;
  const hi = int(2 ** 32);
  const lo = int(2 ** 32);
  // Mask to the prefix length: words beyond it are zero in the stored prefix.
  const keepHi = hi;
  const keepLo = length >= 64 ? lo : length <= 48 ? 0 : lo & (0xffff << (64 - length));
  const h3 = length >= 48 ? keepHi : length >= 40 ? keepHi & 0xffffff00 : keepHi & 0xff000000;
  const cidr = `${v6(h3, keepLo, 0)}/${length}`;
  return { cidr, sample: () => v6(h3, keepLo, 1 + int(0xfffe)) };
}

// Distinct networks: two strings differing only in host bits are one prefix.
const prefixes: Prefix[] = [];
const table = new PrefixTable<number>();
while (table.size < PREFIXES) {
  const prefix = makePrefix();
  const before = table.size;
  table.add(prefix.cidr, prefixes.length);
  if (table.size > before) prefixes.push(prefix);
}

const addresses: string[] = [];
for (let i = 0; i < ADDRESSES; i++) {
  if (i % 2 === 0) addresses.push(prefixes[int(PREFIXES)]!.sample());
  else addresses.push(random() < 0.9 ? v4(int(2 ** 32)) : v6(int(2 ** 32), int(2 ** 32), int(0xffff)));
}
// Flatten the concatenated strings once, as decoded JSON strings already are.
let hits = 0;
for (const a of addresses) if (table.lookup(a) !== undefined) hits++;

function rate(run: (i: number) => unknown): number {
  const mask = ADDRESSES - 1;
  for (let i = 0; i < 200_000; i++) run(i & mask); // warm-up
  let count = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(SECONDS * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 100_000; i++) run((count + i) & mask);
    count += 100_000;
    elapsed = process.hrtime.bigint() - start;
  }
  return Math.round(count / (Number(elapsed) / 1e9));
}

let sink = 0;
const lookupsPerSecond = rate((i) => {
  if (table.lookup(addresses[i]!) !== undefined) sink++;
});

// The registry: 20,000 organisations on 10 suppliers sharing the prefixes, 50 services.
const registry: RegistryConfig = {
  suppliers: Array.from({ length: 10 }, (_, i) => ({
    id: `s${i}`,
    name: `Supplier ${i}`,
    exporters: [],
    pushTokens: [],
    clientCertFingerprints: [],
  })),
  organisations: Array.from({ length: 20_000 }, (_, i) => ({
    code: `ORG${i}`,
    name: `Organisation ${i}`,
    type: '',
    supplier: `s${i % 10}`,
    prefixes: [] as string[],
  })),
  services: Array.from({ length: 50 }, (_, i) => ({
    id: `svc${i}`,
    name: `Service ${i}`,
    supplier: i % 2 === 0 ? `s${i % 10}` : undefined,
    prefixes: [`${v4(((185 << 24) | (i << 8)) >>> 0)}/24`],
    ports: i % 3 === 0 ? [] : [443, 8443],
  })),
  groups: [],
};
prefixes.forEach((p, i) => {
  registry.organisations[i % 20_000]!.prefixes.push(p.cidr);
});
const enricher = new Enricher(registry);
const flows: FlowRecord[] = addresses.map((dst, i) => ({
  ...emptyFlow('IPFIX'),
  src_addr: addresses[(i * 7919) & (ADDRESSES - 1)]!,
  dst_addr: i % 16 === 0 ? v4(((185 << 24) | (int(50) << 8) | int(256)) >>> 0) : dst,
  dst_port: i % 2 === 0 ? 443 : 53,
  bytes: 1500,
  packets: 1,
  sampling_rate: 1000,
}));
const enrichPerSecond = rate((i) => {
  sink += enricher.enrich(flows[i]!).bytes_est;
});

if (sink === -1) console.error('unreachable');
console.log(
  JSON.stringify({
    bench: 'enrichment',
    prefixes: table.size,
    lookups_per_second: lookupsPerSecond,
    enrich_per_second: enrichPerSecond,
    hit_ratio: Math.round((hits / ADDRESSES) * 1000) / 1000,
  }),
);
