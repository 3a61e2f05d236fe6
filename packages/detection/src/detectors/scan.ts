import type { EnrichedFlow } from '@flowwatch/enrichment';
import type { AlertType, Severity } from '@flowwatch/flow-schema';
import type { DetectorContext, DetectorFamily } from '../context.js';
import { escalate } from '../detection.js';
import { formatDuration, portLabel, suppliersOf } from '../directory.js';
import { EntityTable } from '../entity-table.js';
import { hashNumber, hashString } from '../hash.js';
import { DistinctCounter } from '../hyperloglog.js';

interface ScanKey {
  touched: boolean;
  fastStart: number;
  fast: DistinctCounter;
  slowStart: number;
  slow: DistinctCounter;
  /**
   * The slow window before the current one, when it ended less than a window before the current
   * began and held at least a quarter of the slow threshold (a scan that has gone on for more
   * than a window); its start. Counted with the current window (#slowCount).
   */
  prevSlow: DistinctCounter | undefined;
  prevSlowStart: number;
  /** Count at which the next detection is raised (threshold, then +25 % steps) per window. */
  nextFast: number;
  nextSlow: number;
  lastRaiseMs: number;
  scale: number;
}

const SYN = 0x02;
const ACK = 0x10;
/** Re-raise a persisting scan at least this often (keeps its alert's last_seen current). */
const REFRESH_MS = 30_000;

/**
 * Scans, from probe-like flows (at most maxProbePackets packets; TCP only when SYN is set or flags
 * are unknown; not a reply from a well-known port to an ephemeral one):
 * - vertical (`port_scan`): one source, one destination host, many distinct destination ports;
 * - horizontal (`host_sweep`): one source, one port (or ICMP), many distinct destination hosts.
 * Each key counts distinct values in a fast window and a slow one (slow scans), both starting at
 * the key's first probe, with a DistinctCounter (exact to 16, then HyperLogLog p = 8, 6.5 %
 * standard error). A scan is raised the moment a count reaches its threshold, without waiting for
 * a window to close. A key whose window opens with a burst (burstPorts or burstHosts distinct values
 * within burstWindowMs of its first probe) is raised then, so a scan at a few probes a second is
 * reported in seconds rather than when it reaches the minute's threshold.
 */
export class ScanDetector implements DetectorFamily {
  readonly name = 'scan';
  readonly vertical: EntityTable<ScanKey>;
  readonly horizontal: EntityTable<ScanKey>;

  constructor(private readonly ctx: DetectorContext) {
    this.vertical = new EntityTable(ctx.config.maxEntities);
    this.horizontal = new EntityTable(ctx.config.maxEntities);
  }

  get size(): number {
    return this.vertical.size + this.horizontal.size;
  }
  get evictions(): number {
    return this.vertical.evictions + this.horizontal.evictions;
  }

  onFlow(f: EnrichedFlow, t: number): void {
    const c = this.ctx.config.scan;
    if (f.packets_est > c.maxProbePackets) return;
    const proto = f.proto;
    if (proto === 6) {
      const flags = f.tcp_flags;
      if (flags !== 0 && ((flags & SYN) === 0 || ((flags & ACK) !== 0 && f.packets_est <= 1))) return;
    } else if (proto !== 17 && proto !== 1 && proto !== 58) return;
    const icmp = proto === 1 || proto === 58;
    if (!icmp && f.src_port > 0 && f.src_port < 1024 && f.dst_port >= 1024) return;
    if (!icmp) this.#count(this.vertical, 'port_scan', `${f.src_addr}|${f.dst_addr}`, hashNumber(f.dst_port), f, t);
    const port = icmp ? -proto : f.dst_port;
    this.#count(this.horizontal, 'host_sweep', `${f.src_addr}|${port}`, hashString(f.dst_addr), f, t);
  }

  #count(table: EntityTable<ScanKey>, type: AlertType, key: string, hash: number, f: EnrichedFlow, t: number): void {
    const c = this.ctx.config.scan;
    let k = table.get(key);
    if (k === undefined) {
      const scale = this.ctx.overrides.scaleFor(
        type,
        'host',
        f.src_addr,
        f.src_org === '' ? [] : [f.src_org],
        suppliersOf(f.src_org_supplier),
      );
      const fastThreshold = type === 'port_scan' ? c.ports : c.hosts;
      const slowThreshold = type === 'port_scan' ? c.slowPorts : c.slowHosts;
      k = {
        touched: false,
        fastStart: t,
        fast: new DistinctCounter(8),
        slowStart: t,
        slow: new DistinctCounter(8),
        prevSlow: undefined,
        prevSlowStart: Number.NaN,
        nextFast: fastThreshold * scale,
        nextSlow: slowThreshold * scale,
        lastRaiseMs: Number.NEGATIVE_INFINITY,
        scale,
      };
      if (scale === 0) return;
      table.set(key, k);
    }
    if (k.scale === 0) return;
    if (t - k.fastStart >= c.windowMs) {
      k.fast.clear();
      k.fastStart = t;
      k.nextFast = (type === 'port_scan' ? c.ports : c.hosts) * k.scale;
    }
    const slowThreshold = (type === 'port_scan' ? c.slowPorts : c.slowHosts) * k.scale;
    if (t - k.slowStart >= c.slowWindowMs) {
      // A scan slower than the threshold a window (nmap's "sneaky" timing: 240 probes an hour)
      // would never reach it in one: it is counted over this window and the one before.
      const carried = t - k.slowStart < 2 * c.slowWindowMs && k.slow.count() >= slowThreshold / 4;
      const spare = k.prevSlow;
      k.prevSlow = carried ? k.slow : undefined;
      k.prevSlowStart = carried ? k.slowStart : Number.NaN;
      k.slow = spare ?? new DistinctCounter(8);
      k.slow.clear();
      k.slowStart = t;
      k.nextSlow = slowThreshold;
    }
    const changed = k.fast.add(hash);
    const slowChanged = k.slow.add(hash);
    if (!changed && t - k.lastRaiseMs < REFRESH_MS) return;
    const fast = k.fast.count();
    if (fast >= k.nextFast) {
      this.#raise(type, f, t, fast, (type === 'port_scan' ? c.ports : c.hosts) * k.scale, c.windowMs, false);
      k.nextFast = fast * 1.25;
      k.lastRaiseMs = t;
      return;
    }
    // A burst at the start of the window: a scan at a few probes a second reaches the window's
    // threshold only after tens of seconds; this raises it within burstWindowMs of its first probe.
    const burst = (type === 'port_scan' ? c.burstPorts : c.burstHosts) * k.scale;
    if (k.lastRaiseMs < k.fastStart && fast >= burst && t - k.fastStart <= c.burstWindowMs) {
      this.#raise(type, f, t, fast, burst, c.burstWindowMs, false);
      k.lastRaiseMs = t;
      return;
    }
    const slow = slowChanged || k.prevSlow === undefined ? this.#slowCount(k) : 0;
    if (slow >= k.nextSlow) {
      this.#raise(type, f, t, slow, slowThreshold, k.prevSlow === undefined ? c.slowWindowMs : t - k.prevSlowStart, true);
      k.nextSlow = slow * 1.25;
      k.lastRaiseMs = t;
      return;
    }
    const base = (type === 'port_scan' ? c.ports : c.hosts) * k.scale;
    if (fast >= base && t - k.lastRaiseMs >= REFRESH_MS) {
      // Still scanning after an alert: refresh it (the tracker publishes at most every update interval).
      this.#raise(type, f, t, fast, base, c.windowMs, false);
      k.lastRaiseMs = t;
    }
  }

  /** Distinct values of `k`'s slow window, with the one before when it is carried (an estimate of their union). */
  #slowCount(k: ScanKey): number {
    const slow = k.slow.count();
    const prev = k.prevSlow;
    // The union is at most the sum: its registers are read only when that could reach the threshold.
    if (prev === undefined || slow + prev.count() < k.nextSlow) return slow;
    return k.slow.unionCount(prev);
  }

  #raise(type: AlertType, f: EnrichedFlow, t: number, count: number, threshold: number, windowMs: number, slow: boolean): void {
    const d = this.ctx.directory;
    const src = f.src_addr;
    const icmp = f.proto === 1 || f.proto === 58;
    const internalSource = f.src_org !== '';
    let severity: Severity = internalSource ? 'high' : f.dst_org !== '' ? 'medium' : 'low';
    if (count >= 4 * threshold) severity = escalate(severity);
    const ratio = count / threshold;
    const n = Math.round(count);
    if (type === 'port_scan') {
      const dst = f.dst_addr;
      this.ctx.sink.raise({
        type,
        entity: { kind: 'host', id: src, name: d.hostLabel(src, f.src_org) },
        discriminator: dst,
        supplierIds: suppliersOf(f.src_org_supplier, f.dst_org_supplier, f.supplier_id),
        srcOrg: f.src_org,
        dstOrg: f.dst_org,
        srcAddr: src,
        dstAddr: dst,
        atMs: t,
        observed: count,
        expected: threshold,
        score: ratio,
        severity,
        summary: `${d.hostLabel(src, f.src_org)} probed ${n} ports of ${d.hostLabel(dst, f.dst_org)} within ${formatDuration(windowMs)}${slow ? ' (slow scan)' : ''}`,
        details: { unit: 'distinct ports', window_ms: windowMs, threshold, slow },
        match: (x) => x.src_addr === src && x.dst_addr === dst,
        receivedNs: f.time_received_ns,
      });
      return;
    }
    const port = f.dst_port;
    // Values, not the record: the engine's record is overwritten after the flow (the ring of recent flows).
    const proto = f.proto;
    const what = icmp ? 'with ICMP' : `on ${portLabel(port)}`;
    this.ctx.sink.raise({
      type,
      entity: { kind: 'host', id: src, name: d.hostLabel(src, f.src_org) },
      discriminator: icmp ? 'icmp' : String(port),
      supplierIds: suppliersOf(f.src_org_supplier, f.supplier_id),
      srcOrg: f.src_org,
      srcAddr: src,
      ...(icmp ? {} : { dstPort: port }),
      atMs: t,
      observed: count,
      expected: threshold,
      score: ratio,
      severity,
      summary: `${d.hostLabel(src, f.src_org)} swept ${n} hosts ${what} within ${formatDuration(windowMs)}${slow ? ' (slow scan)' : ''}`,
      details: { unit: 'distinct hosts', window_ms: windowMs, threshold, slow },
      match: icmp ? (x) => x.src_addr === src && x.proto === proto : (x) => x.src_addr === src && x.dst_port === port,
      receivedNs: f.time_received_ns,
    });
  }

  /**
   * Forgets keys whose slow window ended before `watermarkMs`, unless it may be carried into the
   * next (#count: a quarter of the threshold reached, ended less than a window ago).
   */
  expire(watermarkMs: number): void {
    const c = this.ctx.config.scan;
    const slow = c.slowWindowMs;
    const expired = (threshold: number) => (k: ScanKey) =>
      watermarkMs - k.slowStart >= 2 * slow || (watermarkMs - k.slowStart >= slow && k.slow.count() < (threshold * k.scale) / 4);
    this.vertical.sweep(expired(c.slowPorts));
    this.horizontal.sweep(expired(c.slowHosts));
  }

  approximateBytes(): number {
    let n = 0;
    for (const table of [this.vertical, this.horizontal])
      for (const [key, k] of table.entries())
        n += 150 + 2 * key.length + k.fast.approximateBytes + k.slow.approximateBytes + (k.prevSlow?.approximateBytes ?? 0);
    return n;
  }
}
