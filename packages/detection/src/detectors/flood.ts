import type { EnrichedFlow } from '@flowwatch/enrichment';
import type { AlertType, Severity } from '@flowwatch/flow-schema';
import { LevelBaseline } from '../baseline.js';
import type { DetectorContext, DetectorFamily } from '../context.js';
import { escalate } from '../detection.js';
import { formatBytes, formatCount, formatDuration, suppliersOf } from '../directory.js';
import { EntityTable } from '../entity-table.js';
import { hashString } from '../hash.js';
import { DistinctCounter } from '../hyperloglog.js';

interface Destination {
  touched: boolean;
  windowStart: number;
  packets: number;
  bytes: number;
  tcpPackets: number;
  synPackets: number;
  ampBytes: number;
  ampPackets: number;
  sources: DistinctCounter;
  reflectors: DistinctCounter;
  pps: LevelBaseline;
  bps: LevelBaseline;
  /** Bit per type raised in this window (1 flood, 2 syn_flood, 4 amplification). */
  raised: number;
  /** Whether the last window was anomalous (then it does not teach the baseline). */
  anomalous: boolean;
  scale: number;
  org: string;
  orgSupplier: string;
  service: string;
}

const MIN_BASELINE_WINDOWS = 6;

/**
 * Floods against destinations inside the network (an organisation's or a service's address),
 * per `windowMs` window of each destination, checked as every flow is added (no waiting for the
 * window to end: a rate is the window's count over the time elapsed in it, but at least a quarter
 * of the window, so a flood at twice its threshold is caught after about a quarter of the window
 * instead of half of it, while a burst shorter than that is still averaged over that quarter):
 * - `flood`: >= minSources distinct sources and a packet or bit rate above
 *   max(minPps | minBps, factor x the destination's baseline rate);
 * - `syn_flood`: SYN-only packets (TCP flows with SYN and none of ACK, RST, FIN) at least synShare
 *   of its TCP packets, at max(minSynPps, factor x baseline) per second;
 * - `amplification`: UDP from reflector ports (53, 123, 1900, 11211, ...) with average packets of
 *   at least minAmplificationPacketBytes, from >= minReflectors sources, above minAmplificationBps.
 * Baselines (EWMA of log rates per window with traffic) learn only from windows that were not anomalous.
 */
export class FloodDetector implements DetectorFamily {
  readonly name = 'flood';
  readonly table: EntityTable<Destination>;
  readonly #ampPorts: Set<number>;

  constructor(private readonly ctx: DetectorContext) {
    this.table = new EntityTable(ctx.config.maxEntities);
    this.#ampPorts = new Set(ctx.config.flood.amplificationPorts);
  }

  get size(): number {
    return this.table.size;
  }
  get evictions(): number {
    return this.table.evictions;
  }

  onFlow(f: EnrichedFlow, t: number): void {
    if (f.dst_org === '' && f.service === '') return;
    const c = this.ctx.config.flood;
    const key = f.dst_addr;
    let d = this.table.get(key);
    if (d === undefined) {
      const orgs = f.dst_org === '' ? [] : [f.dst_org];
      d = {
        touched: false,
        windowStart: t,
        packets: 0,
        bytes: 0,
        tcpPackets: 0,
        synPackets: 0,
        ampBytes: 0,
        ampPackets: 0,
        sources: new DistinctCounter(8),
        reflectors: new DistinctCounter(8),
        pps: new LevelBaseline(0.05),
        bps: new LevelBaseline(0.05),
        raised: 0,
        anomalous: false,
        scale: this.ctx.overrides.scaleFor('flood', 'host', key, orgs, suppliersOf(f.dst_org_supplier)),
        org: f.dst_org,
        orgSupplier: f.dst_org_supplier,
        service: f.service,
      };
      this.table.set(key, d);
    }
    if (d.scale === 0) return;
    if (t - d.windowStart >= c.windowMs) this.#roll(d, t);
    const packets = f.packets_est;
    d.packets += packets;
    d.bytes += f.bytes_est;
    const newSource = d.sources.add(hashString(f.src_addr));
    if (f.proto === 6) {
      d.tcpPackets += packets;
      if ((f.tcp_flags & 0x17) === 0x02) d.synPackets += packets;
    } else if (f.proto === 17 && this.#ampPorts.has(f.src_port)) {
      d.ampBytes += f.bytes_est;
      d.ampPackets += packets;
      d.reflectors.add(hashString(f.src_addr));
    }
    this.#check(d, f, t, newSource);
  }

  #roll(d: Destination, t: number): void {
    const seconds = this.ctx.config.flood.windowMs / 1000;
    if (!d.anomalous && d.packets > 0) {
      d.pps.observe(d.packets / seconds);
      d.bps.observe((d.bytes * 8) / seconds);
    }
    d.windowStart = t;
    d.packets = 0;
    d.bytes = 0;
    d.tcpPackets = 0;
    d.synPackets = 0;
    d.ampBytes = 0;
    d.ampPackets = 0;
    d.sources.clear();
    d.reflectors.clear();
    d.raised = 0;
    d.anomalous = false;
  }

  #check(d: Destination, f: EnrichedFlow, t: number, _newSource: boolean): void {
    const c = this.ctx.config.flood;
    // Elapsed part of the window, at least a quarter of it (flows may arrive slightly out of order).
    const seconds = Math.max(c.windowMs / 4, Math.min(c.windowMs, t - d.windowStart)) / 1000;
    const s = d.scale;
    const pps = d.packets / seconds;
    const bps = (d.bytes * 8) / seconds;
    const learnt = d.pps.history >= MIN_BASELINE_WINDOWS;
    const ppsLimit = Math.max(c.minPps, learnt ? c.factor * d.pps.expected : 0) * s;
    const bpsLimit = Math.max(c.minBps, learnt ? c.factor * d.bps.expected : 0) * s;
    const synPps = d.synPackets / seconds;
    if ((d.raised & 2) === 0 && d.tcpPackets > 0 && d.synPackets / d.tcpPackets >= c.synShare) {
      const synLimit = Math.max(c.minSynPps, learnt ? c.factor * d.pps.expected : 0) * s;
      if (synPps >= synLimit) {
        d.raised |= 3; // a SYN flood is the flood: no second alert for the same packets
        d.anomalous = true;
        this.#raise('syn_flood', d, f, t, synPps, synLimit, 'packets/s');
        return;
      }
    }
    if ((d.raised & 1) === 0 && (pps >= ppsLimit || bps >= bpsLimit)) {
      const sources = d.sources.count();
      if (sources >= c.minSources * s) {
        d.raised |= 1;
        d.anomalous = true;
        const byPackets = pps / ppsLimit >= bps / bpsLimit;
        this.#raise('flood', d, f, t, byPackets ? pps : bps, byPackets ? ppsLimit : bpsLimit, byPackets ? 'packets/s' : 'bits/s');
      }
    }
    if ((d.raised & 4) === 0 && d.ampPackets > 0) {
      const ampBps = (d.ampBytes * 8) / seconds;
      const limit = c.minAmplificationBps * s;
      if (ampBps >= limit && d.ampBytes / d.ampPackets >= c.minAmplificationPacketBytes && d.reflectors.count() >= c.minReflectors * s) {
        d.raised |= 4;
        d.anomalous = true;
        this.#raise('amplification', d, f, t, ampBps, limit, 'bits/s');
      }
    }
  }

  #raise(type: AlertType, d: Destination, f: EnrichedFlow, t: number, observed: number, limit: number, unit: string): void {
    const dir = this.ctx.directory;
    const dst = f.dst_addr;
    const target = d.service !== '' && d.org === '' ? `${dst} (${dir.serviceName(d.service)})` : dir.hostLabel(dst, d.org);
    const sources = Math.round(d.sources.count());
    let severity: Severity = d.service !== '' ? 'critical' : 'high';
    if (observed < 2 * limit && severity === 'high') severity = 'high';
    else if (observed >= 10 * limit) severity = escalate(severity);
    const rate = unit === 'bits/s' ? `${formatBytes(observed / 8)}/s` : `${formatCount(observed)} packets/s`;
    const what =
      type === 'syn_flood'
        ? `SYN flood at ${rate} (${Math.round((100 * d.synPackets) / Math.max(1, d.tcpPackets))}% SYN-only)`
        : type === 'amplification'
          ? `UDP amplification at ${rate} from ${Math.round(d.reflectors.count())} reflectors (${Math.round(d.ampBytes / Math.max(1, d.ampPackets))} B per packet)`
          : `flood at ${rate}`;
    const ampPorts = this.#ampPorts;
    this.ctx.sink.raise({
      type,
      entity: { kind: 'host', id: dst, name: target },
      supplierIds: suppliersOf(d.orgSupplier, dir.serviceSupplier(d.service)),
      dstOrg: d.org,
      dstAddr: dst,
      ...(d.service ? { service: d.service } : {}),
      atMs: t,
      observed,
      expected: limit,
      score: observed / limit,
      severity,
      summary: `${target} under ${what} from ${sources} sources (threshold ${unit === 'bits/s' ? `${formatBytes(limit / 8)}/s` : `${formatCount(limit)} packets/s`}, window ${formatDuration(this.ctx.config.flood.windowMs)})`,
      details: { unit, sources, window_ms: this.ctx.config.flood.windowMs, baseline_pps: Math.round(d.pps.expected || 0) },
      match:
        type === 'amplification'
          ? (x) => x.dst_addr === dst && x.proto === 17 && ampPorts.has(x.src_port)
          : type === 'syn_flood'
            ? (x) => x.dst_addr === dst && x.proto === 6
            : (x) => x.dst_addr === dst,
      receivedNs: f.time_received_ns,
    });
  }

  approximateBytes(): number {
    let n = 0;
    for (const [key, d] of this.table.entries()) n += 260 + 2 * key.length + d.sources.approximateBytes + d.reflectors.approximateBytes;
    return n;
  }
}
