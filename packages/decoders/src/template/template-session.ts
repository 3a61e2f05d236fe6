import { emptyFlow, type FlowRecord, type FlowType } from '@flowwatch/flow-schema';
import { OldestFirst } from '@flowwatch/insertion-order';
import type { DecodeContext, DecodeError, DecodeOutput, TemplateLimits } from '../common/types.js';
import { DEFAULT_TEMPLATE_LIMITS } from '../common/types.js';
import type { CompiledTemplate } from './compiled-template.js';
import { sameBytes } from './compiled-template.js';
import { decodeFixedRecord, decodeVariableRecord, RecordScratch } from './record-decoder.js';

/** What a data set needs from its message header. */
export interface MessageInfo {
  ctx: DecodeContext;
  sequence: number;
  /** v9 header unix_secs, IPFIX export time (seconds). */
  exportSecs: number;
  /** v9 header sysUptime (ms); -1 for IPFIX, which has none. */
  sysUptimeMs: number;
  /** v9 source id or IPFIX observation domain id. */
  domainId: number;
}

/** Template state of one (exporter, source id / observation domain). */
export class Domain {
  readonly templates = new Map<number, CompiledTemplate>();
  /** Sampling rate per sampler / selector id, from options records. */
  readonly samplers = new Map<number, number>();
  /** Sampling rate from options records that name no sampler (exporter-wide). */
  rate = 0;
  /** systemInitTimeMilliseconds from an options record, for IPFIX flowStart/EndSysUpTime. */
  sysInitMs = -1;
  /** Estimated heap bytes of its templates (templateBytes). */
  bytes = 0;
  constructor(
    readonly key: string,
    readonly exporter: string,
    readonly id: number,
  ) {}
}

interface PendingSet {
  domainKey: string;
  templateId: number;
  /** The whole set, header included (the DLQ gets it as is). */
  raw: Uint8Array;
  receivedNs: number;
  info: MessageInfo;
}

/** 'limit': the domain has maxTemplatesPerDomain; 'budget': this template alone would exceed maxTemplateBytes. */
export type TemplateStoreResult = 'stored' | 'refreshed' | 'limit' | 'budget';

/**
 * Estimated heap bytes of a compiled template: the object, its six typed arrays and the raw bytes.
 * Measured at about 1,500 bytes for a 20-field template (pnpm test:chaos prints the heap per
 * template); an estimate, so the budget is a bound in the right unit, not an exact one.
 */
export function templateBytes(t: CompiledTemplate): number {
  return 1280 + 12 * t.fieldCount;
}

/**
 * The state shared by the NetFlow v9 and IPFIX decoders: domains (LRU-bounded), their compiled
 * templates (capped per domain), sampling state from options records, and data sets held while
 * their template has not arrived (bounded, expiring). Protocol decoders parse headers and
 * template sets, and hand data sets here.
 */
export class TemplateSession {
  readonly limits: TemplateLimits;
  private readonly domains = new Map<string, Domain>();
  private readonly oldestDomain = new OldestFirst(this.domains);
  private lastDomain: Domain | undefined;
  private templateCount = 0;
  private templateByteCount = 0;
  private pending: PendingSet[] = [];
  private readonly scratch = new RecordScratch();
  /** Options records decode into this, never into the output. */
  private readonly optionsRecord: FlowRecord;

  constructor(
    private readonly type: FlowType,
    limits: Partial<TemplateLimits> = {},
  ) {
    this.limits = { ...DEFAULT_TEMPLATE_LIMITS, ...limits };
    this.optionsRecord = newRecord(type, undefined, 0);
  }

  /** The domain of an exporter, created (evicting the least recently used beyond the cap) if new. */
  domain(exporter: string, id: number): Domain {
    const last = this.lastDomain;
    if (last !== undefined && last.id === id && last.exporter === exporter) return last;
    const key = `${exporter}|${id}`;
    let d = this.domains.get(key);
    if (d !== undefined) {
      // Map iteration order is insertion order: re-insert to mark as most recently used.
      this.domains.delete(key);
      this.domains.set(key, d);
    } else {
      d = new Domain(key, exporter, id);
      this.domains.set(key, d);
      while (this.domains.size > Math.max(1, this.limits.maxDomains)) {
        const oldest = this.oldestDomain.shift();
        if (oldest === undefined) break;
        this.forgotten(oldest[1]);
      }
    }
    this.lastDomain = d;
    return d;
  }

  /**
   * Store a template; data sets held for it are decoded into `out`. A template refused by a limit
   * becomes a 'template_limit' error in `out`.
   */
  storeTemplate(d: Domain, t: CompiledTemplate, out: DecodeOutput): TemplateStoreResult {
    const r = this.store(d, t, out);
    if (r === 'limit' || r === 'budget') {
      const why =
        r === 'limit'
          ? `has ${this.limits.maxTemplatesPerDomain} templates`
          : `would take its templates over ${this.limits.maxTemplateBytes} bytes`;
      const domain = this.type === 'IPFIX' ? 'domain' : 'source';
      out.errors.push({ reason: 'template_limit', detail: `exporter ${d.exporter} ${domain} ${d.id} ${why}`, count: 1, raw: t.raw });
    }
    return r;
  }

  private store(d: Domain, t: CompiledTemplate, out: DecodeOutput): TemplateStoreResult {
    const old = d.templates.get(t.id);
    if (old !== undefined && old.options === t.options && sameBytes(old.raw, t.raw)) return 'refreshed';
    if (old === undefined && d.templates.size >= this.limits.maxTemplatesPerDomain) return 'limit';
    const grow = templateBytes(t) - (old === undefined ? 0 : templateBytes(old));
    // Over the byte budget: forget the least recently used other domains (their exporters resend
    // templates periodically, RFC 7011 s8.1), never the one storing.
    while (this.templateByteCount + grow > this.limits.maxTemplateBytes) {
      let victim: string | undefined;
      for (const key of this.domains.keys()) {
        if (key !== d.key) {
          victim = key;
          break;
        }
      }
      if (victim === undefined) return 'budget';
      this.forget(victim);
    }
    if (old === undefined) this.templateCount++;
    this.templateByteCount += grow;
    d.bytes += grow;
    d.templates.set(t.id, t);
    if (this.pending.length > 0) this.release(d, t, out);
    return 'stored';
  }

  private forget(key: string): void {
    const gone = this.domains.get(key);
    if (gone === undefined) return;
    this.domains.delete(key);
    this.forgotten(gone);
  }

  /** Accounts for a domain just deleted from `domains`. */
  private forgotten(gone: Domain): void {
    this.templateCount -= gone.templates.size;
    this.templateByteCount -= gone.bytes;
    if (this.lastDomain === gone) this.lastDomain = undefined;
  }

  private drop(d: Domain, id: number, t: CompiledTemplate): void {
    d.templates.delete(id);
    this.templateCount--;
    const bytes = templateBytes(t);
    d.bytes -= bytes;
    this.templateByteCount -= bytes;
  }

  /** Withdraw one template (RFC 7011 s8.1). */
  withdraw(d: Domain, id: number): void {
    const t = d.templates.get(id);
    if (t !== undefined) this.drop(d, id, t);
  }

  /** Withdraw all data templates or all options templates (template id 2 / 3, RFC 7011 s8.1). */
  withdrawAll(d: Domain, options: boolean): void {
    for (const [id, t] of d.templates) {
      if (t.options === options) this.drop(d, id, t);
    }
  }

  /** A data set (records from `start` to `end`, after the 4-byte set header at `start - 4`). */
  dataSet(buf: Uint8Array, dv: DataView, start: number, end: number, setId: number, d: Domain, info: MessageInfo, out: DecodeOutput): void {
    const t = d.templates.get(setId);
    if (t === undefined) {
      this.hold(d, setId, buf.slice(start - 4, end), info, out.errors);
      return;
    }
    this.decodeRecords(buf, dv, start, end, t, d, info, out);
  }

  private decodeRecords(
    buf: Uint8Array,
    dv: DataView,
    start: number,
    end: number,
    t: CompiledTemplate,
    d: Domain,
    info: MessageInfo,
    out: DecodeOutput,
  ): void {
    const s = this.scratch;
    const flows = out.flows;
    let p = start;
    const rl = t.recordLength;
    // Anything shorter than a record at the end of a set is padding (RFC 7011 s3.3.1, RFC 3954 s5.3).
    while (p + rl <= end) {
      s.reset();
      const r = t.options ? this.optionsRecord : newRecord(this.type, info, d.id);
      if (t.fixed) {
        decodeFixedRecord(buf, dv, p, t, r, s);
        p += rl;
      } else {
        const next = decodeVariableRecord(buf, dv, p, end, t, r, s);
        if (next < 0) {
          out.errors.push({
            reason: 'truncated',
            detail: `record of template ${t.id} overruns its set (${end - p} bytes left)`,
            count: 1,
            raw: buf.slice(start - 4, end),
          });
          return;
        }
        p = next;
      }
      if (t.options) this.applyOptions(d, s);
      else this.finish(r, s, info, d, flows);
    }
  }

  /** Options data: remember sampling rates (per sampler id, else exporter-wide) and system init time. */
  private applyOptions(d: Domain, s: RecordScratch): void {
    const rate = s.recordRate();
    if (rate > 0) {
      if (s.samplerId >= 0) {
        if (d.samplers.has(s.samplerId) || d.samplers.size < this.limits.maxTemplatesPerDomain) d.samplers.set(s.samplerId, rate);
      } else {
        d.rate = rate;
      }
    }
    if (s.sysInitMs > 0) d.sysInitMs = s.sysInitMs;
  }

  private finish(r: FlowRecord, s: RecordScratch, info: MessageInfo, d: Domain, flows: FlowRecord[]): void {
    // Sampling: the record's own fields, else the options record for its sampler, else the
    // exporter-wide options record, else the configured default.
    let rate = s.recordRate();
    if (rate === 0 && s.samplerId >= 0) rate = d.samplers.get(s.samplerId) ?? 0;
    if (rate === 0) rate = d.rate;
    if (rate === 0) rate = info.ctx.defaultSamplingRate;
    r.sampling_rate = rate;

    // Times: absolute IEs first, then uptime-relative ones, then export-time deltas.
    let startNs = s.startNs;
    let endNs = s.endNs;
    if (s.startUp >= 0 || s.endUp >= 0) {
      if (info.sysUptimeMs >= 0) {
        // RFC 3954 s5.1: FIRST/LAST_SWITCHED are sysUptime (ms) values; both wrap at 2^32.
        const nowMs = info.exportSecs * 1000;
        if (startNs < 0 && s.startUp >= 0) startNs = (nowMs - uptimeAgo(info.sysUptimeMs, s.startUp)) * 1e6;
        if (endNs < 0 && s.endUp >= 0) endNs = (nowMs - uptimeAgo(info.sysUptimeMs, s.endUp)) * 1e6;
      } else {
        const init = s.sysInitMs >= 0 ? s.sysInitMs : d.sysInitMs;
        if (init >= 0) {
          if (startNs < 0 && s.startUp >= 0) startNs = (init + s.startUp) * 1e6;
          if (endNs < 0 && s.endUp >= 0) endNs = (init + s.endUp) * 1e6;
        }
      }
    }
    if (startNs < 0 && s.startDeltaUs >= 0) startNs = info.exportSecs * 1e9 - s.startDeltaUs * 1e3;
    if (endNs < 0 && s.endDeltaUs >= 0) endNs = info.exportSecs * 1e9 - s.endDeltaUs * 1e3;
    if (s.durationMs >= 0) {
      if (startNs >= 0 && endNs < 0) endNs = startNs + s.durationMs * 1e6;
      else if (endNs >= 0 && startNs < 0) startNs = endNs - s.durationMs * 1e6;
    }
    r.time_flow_start_ns = Math.max(startNs, 0);
    r.time_flow_end_ns = Math.max(endNs, 0);

    // EtherType from ipVersion, else from the address family.
    const v = s.ipVersion !== 0 ? s.ipVersion : s.family;
    r.etype = v === 4 ? 2048 : v === 6 ? 34525 : 0;

    // ICMP type and code: icmpTypeCode IEs (type * 256 + code), or the separate type/code IEs,
    // else, for ICMP flows, the destination port, where v5-style exporters (softflowd, Cisco)
    // put type * 256 + code. dst_port itself is left as exported.
    if (s.icmpTypeCode >= 0) {
      r.icmp_type = s.icmpTypeCode >>> 8;
      r.icmp_code = s.icmpTypeCode & 0xff;
    } else if (s.icmpType >= 0 || s.icmpCode >= 0) {
      r.icmp_type = Math.max(s.icmpType, 0);
      r.icmp_code = Math.max(s.icmpCode, 0);
    } else if ((r.proto === 1 || r.proto === 58) && r.dst_port !== 0) {
      r.icmp_type = r.dst_port >>> 8;
      r.icmp_code = r.dst_port & 0xff;
    }
    flows.push(r);

    // RFC 5103 biflow: a record with reverse counters also describes the reverse direction.
    if (s.revBytes > 0 || s.revPackets > 0) flows.push(reverseOf(r, s));
  }

  /** Keep a data set whose template has not arrived; the oldest is dropped when full. */
  private hold(d: Domain, templateId: number, raw: Uint8Array, info: MessageInfo, errors: DecodeError[]): void {
    const max = this.limits.maxPendingSets;
    if (max <= 0) {
      errors.push(notFound(d.exporter, templateId, raw));
      return;
    }
    while (this.pending.length >= max) {
      const p = this.pending.shift()!;
      errors.push({
        reason: 'pending_overflow',
        detail: `data set for template ${p.templateId} dropped: ${max} sets already wait for templates`,
        count: 1,
        raw: p.raw,
        exporter: p.info.ctx.exporter,
      });
    }
    this.pending.push({ domainKey: d.key, templateId, raw, receivedNs: info.ctx.receivedNs, info });
  }

  private release(d: Domain, t: CompiledTemplate, out: DecodeOutput): void {
    let kept = 0;
    const ready: PendingSet[] = [];
    for (const p of this.pending) {
      if (p.domainKey === d.key && p.templateId === t.id) ready.push(p);
      else this.pending[kept++] = p;
    }
    if (ready.length === 0) return;
    this.pending.length = kept;
    for (const p of ready) {
      const dv = new DataView(p.raw.buffer, p.raw.byteOffset, p.raw.byteLength);
      this.decodeRecords(p.raw, dv, 4, p.raw.length, t, d, p.info, out);
    }
  }

  /** Held data sets older than the TTL at `nowNs` become 'template_not_found' errors. */
  expire(nowNs: number, errors: DecodeError[]): void {
    if (this.pending.length === 0) return;
    const ttlNs = this.limits.pendingTtlMs * 1e6;
    let kept = 0;
    for (const p of this.pending) {
      if (nowNs - p.receivedNs >= ttlNs) errors.push(notFound(p.info.ctx.exporter, p.templateId, p.raw));
      else this.pending[kept++] = p;
    }
    this.pending.length = kept;
  }

  stats(): { templates: number; templateBytes: number; domains: number; pendingSets: number } {
    return {
      templates: this.templateCount,
      templateBytes: this.templateByteCount,
      domains: this.domains.size,
      pendingSets: this.pending.length,
    };
  }
}

/** How long ago (ms) an uptime stamp was, modulo the 32-bit wrap; a stamp slightly ahead counts as now-ish. */
function uptimeAgo(sysUptime: number, stamp: number): number {
  const ago = (sysUptime - stamp) >>> 0;
  return ago > 0x8000_0000 ? ago - 0x1_0000_0000 : ago;
}

function notFound(exporter: string, templateId: number, raw: Uint8Array): DecodeError {
  return {
    reason: 'template_not_found',
    detail: `no template ${templateId} arrived for a held data set of ${raw.length} bytes`,
    count: 1,
    raw,
    exporter,
  };
}

function reverseOf(r: FlowRecord, s: RecordScratch): FlowRecord {
  return {
    ...r,
    bytes: s.revBytes,
    packets: s.revPackets,
    src_addr: r.dst_addr,
    dst_addr: r.src_addr,
    src_port: r.dst_port,
    dst_port: r.src_port,
    in_if: r.out_if,
    out_if: r.in_if,
    src_mac: r.dst_mac,
    dst_mac: r.src_mac,
    src_vlan: r.dst_vlan,
    dst_vlan: r.src_vlan,
    src_as: r.dst_as,
    dst_as: r.src_as,
    src_net: r.dst_net,
    dst_net: r.src_net,
    tcp_flags: s.revTcpFlags >= 0 ? s.revTcpFlags : r.tcp_flags,
  };
}

/** A fresh record with the per-message fields filled (same shape as emptyFlow, for V8's sake). */
function newRecord(type: FlowType, info: MessageInfo | undefined, domainId: number): FlowRecord {
  const r = emptyFlow(type);
  const ctx = info?.ctx;
  if (ctx !== undefined) {
    r.time_received_ns = ctx.receivedNs;
    r.sampler_address = ctx.exporter;
    r.supplier_id = ctx.supplierId;
    r.exporter_id = ctx.exporterId;
  }
  if (info !== undefined) r.sequence_num = info.sequence;
  r.observation_domain_id = domainId;
  return r;
}
