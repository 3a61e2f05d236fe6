import type { RawRow } from '@flowwatch/aggregator';

/** A small network of networks: three suppliers, their organisations, national services, the Internet. */
export const TEST_ORGS = [
  { code: 'RR8', supplier: 'sup-a', net: 1 },
  { code: 'RAE', supplier: 'sup-a', net: 2 },
  { code: 'RYJ', supplier: 'sup-a', net: 3 },
  { code: 'RTH', supplier: 'sup-b', net: 4 },
  { code: 'RJ1', supplier: 'sup-b', net: 5 },
  { code: 'B86', supplier: 'sup-b', net: 6 },
  { code: 'G82', supplier: 'sup-c', net: 7 },
  { code: 'Y02', supplier: 'sup-c', net: 8 },
] as const;

const SERVICES = [
  { id: 'spine', net: '10.200.1', port: 443, proto: 6 },
  { id: 'nrs', net: '10.200.2', port: 443, proto: 6 },
  { id: 'nhsmail', net: '10.200.3', port: 25, proto: 6 },
  { id: 'dns', net: '10.200.4', port: 53, proto: 17 },
] as const;

const PORTS = [443, 22, 3389, 445, 80, 123, 53] as const;

/** mulberry32: a small seeded generator, so every run inserts the same rows (and fuzz cases reproduce). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const dt64 = (ms: number) => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');

/** 'YYYY-MM-DD hh:mm:ss.mmm' (UTC, as in a RawRow) -> epoch ms. */
export function rawRowTimeMs(text: string): number {
  return Date.parse(`${text.replace(' ', 'T')}Z`);
}

type Endpoint = { addr: string; org: string; supplier: string; service: string };

/**
 * `count` enriched flows_raw rows spread over [startMs, startMs + spanMs), as the aggregator
 * writes them: organisations' hosts (IPv4 and some IPv6) talking to each other, to national
 * services and to the Internet, with sampling and estimates, directions and Kafka offsets.
 * Deterministic for a seed. Some rows sit exactly on hour starts and on the last millisecond
 * of an hour, to catch off-by-one ranges.
 */
export function enrichedFlowRows(count: number, startMs: number, spanMs: number, seed = 1): RawRow[] {
  const r = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const host = (): Endpoint => {
    const org = pick(TEST_ORGS);
    const h = 1 + Math.floor(r() * 25);
    const addr = r() < 0.15 ? `2001:db8:${org.net}::${h.toString(16)}` : `10.${org.net}.${Math.floor(h / 10)}.${h}`;
    return { addr, org: org.code, supplier: org.supplier, service: '' };
  };
  const internet = (): Endpoint => ({
    addr:
      r() < 0.2
        ? `2001:db8:ffff::${(1 + Math.floor(r() * 40)).toString(16)}`
        : `${pick(['198.51.100', '203.0.113'])}.${Math.floor(r() * 60)}`,
    org: '',
    supplier: '',
    service: '',
  });
  const direction = (s: Endpoint, d: Endpoint) => {
    const sIn = s.org !== '' || s.service !== '';
    const dIn = d.org !== '' || d.service !== '';
    if (sIn && !dIn) return 'to_internet';
    if (!sIn && dIn) return 'from_internet';
    if (!sIn && !dIn) return 'external';
    if (s.org !== '' && s.org === d.org) return 'internal';
    if (s.supplier && d.supplier && s.supplier !== d.supplier) return 'cross_supplier';
    return 'cross_org';
  };

  const offsets = new Map<number, number>();
  const rows: RawRow[] = [];
  for (let i = 0; i < count; i++) {
    let ms = startMs + Math.floor(r() * spanMs);
    if (i % 97 === 0) ms = startMs + Math.floor(r() * (spanMs / 3_600_000)) * 3_600_000; // on an hour start
    if (i % 89 === 0) ms = startMs + Math.floor(r() * (spanMs / 3_600_000)) * 3_600_000 + 3_599_999; // last ms of an hour
    const kind = r();
    let src: Endpoint;
    let dst: Endpoint;
    let proto: number;
    let dstPort: number;
    if (kind < 0.35) {
      const svc = pick(SERVICES);
      src = host();
      dst = { addr: `${svc.net}.${1 + Math.floor(r() * 3)}`, org: '', supplier: '', service: svc.id };
      proto = svc.proto;
      dstPort = svc.port;
    } else if (kind < 0.75) {
      src = host();
      dst = host();
      proto = r() < 0.8 ? 6 : 17;
      dstPort = pick(PORTS);
    } else if (kind < 0.9) {
      src = host();
      dst = internet();
      proto = 6;
      dstPort = pick([443, 80]);
    } else {
      src = internet();
      dst = host();
      proto = r() < 0.1 ? 1 : 6;
      dstPort = proto === 1 ? 0 : pick([22, 3389, 443]);
    }
    const supplier = pick(['sup-a', 'sup-b', 'sup-c']);
    const samplingRate = supplier === 'sup-a' ? 1 : supplier === 'sup-b' ? 10 : 100;
    const packets = 1 + Math.floor(r() * 50);
    const bytes = packets * (40 + Math.floor(r() * 1400));
    const partition = i % 3;
    const offset = offsets.get(partition) ?? 0;
    offsets.set(partition, offset + 1);
    rows.push({
      time_received: dt64(ms),
      time_flow_start: dt64(ms - 30_000),
      time_flow_end: dt64(ms - 1000),
      type: pick(['IPFIX', 'NETFLOW_V9', 'SFLOW_5']),
      supplier_id: supplier,
      exporter_id: `${supplier}-r${1 + Math.floor(r() * 2)}`,
      sampler_address: `192.0.2.${1 + Math.floor(r() * 6)}`,
      sequence_num: i,
      sampling_rate: samplingRate,
      src_addr: src.addr,
      dst_addr: dst.addr,
      src_port: 1024 + Math.floor(r() * 60_000),
      dst_port: dstPort,
      proto,
      etype: src.addr.includes(':') ? 34525 : 2048,
      tcp_flags: proto === 6 ? 0x18 : 0,
      icmp_type: proto === 1 ? 8 : 0,
      icmp_code: 0,
      ip_tos: 0,
      bytes,
      packets,
      bytes_est: bytes * samplingRate,
      packets_est: packets * samplingRate,
      in_if: 1 + Math.floor(r() * 4),
      out_if: 1 + Math.floor(r() * 4),
      vlan_id: 0,
      src_as: 0,
      dst_as: 0,
      next_hop: '',
      src_org: src.org,
      dst_org: dst.org,
      src_org_supplier: src.supplier,
      dst_org_supplier: dst.supplier,
      service: dst.service || src.service,
      direction: direction(src, dst),
      kafka_topic: 'flows',
      kafka_partition: partition,
      kafka_offset: String(offset),
      kafka_batch_first: String(offset),
    });
  }
  return rows;
}
