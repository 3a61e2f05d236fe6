import type { DecodeContext, DecodeOutput, TemplateLimits } from '../common/types.js';
import { compileTemplate } from '../template/compiled-template.js';
import type { FieldSpec } from '../template/fields.js';
import { setError, zeroFilled } from '../template/set-errors.js';
import type { Domain, MessageInfo } from '../template/template-session.js';
import { TemplateSession } from '../template/template-session.js';

const HEADER_LENGTH = 20;
const TEMPLATE_FLOWSET = 0;
const OPTIONS_FLOWSET = 1;

/**
 * NetFlow v9 (RFC 3954). Stateful: templates are cached per exporter and source id, options data
 * records set the sampling rate of later data, and data flowsets that arrive before their
 * template are held (bounded, `limits.pendingTtlMs`) and decoded when it arrives.
 * Never throws: malformed input becomes DecodeError values.
 */
export class NetflowV9Decoder {
  private readonly session: TemplateSession;

  constructor(limits: Partial<TemplateLimits> = {}) {
    this.session = new TemplateSession('NETFLOW_V9', limits);
  }

  decode(buf: Uint8Array, ctx: DecodeContext): DecodeOutput {
    const out: DecodeOutput = { flows: [], errors: [] };
    this.session.expire(ctx.receivedNs, out.errors);
    if (buf.length < HEADER_LENGTH) {
      out.errors.push(setError('truncated', `NetFlow v9 datagram of ${buf.length} bytes, header needs ${HEADER_LENGTH}`, buf));
      return out;
    }
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const version = dv.getUint16(0);
    if (version !== 9) {
      out.errors.push(setError('bad_version', `version ${version}, expected 9`, buf));
      return out;
    }
    // RFC 3954 s5.1: version, count, sysUptime, unix_secs, sequence, source id.
    const info: MessageInfo = {
      ctx,
      sysUptimeMs: dv.getUint32(4),
      exportSecs: dv.getUint32(8),
      sequence: dv.getUint32(12),
      domainId: dv.getUint32(16),
    };
    const d = this.session.domain(ctx.exporter, info.domainId);
    let p = HEADER_LENGTH;
    while (p + 4 <= buf.length) {
      const id = dv.getUint16(p);
      const len = dv.getUint16(p + 2);
      if (len < 4 || p + len > buf.length) {
        // Some exporters (Palo Alto 8.1 in the corpus) zero-fill the datagram after the last flowset.
        if (zeroFilled(buf, p)) break;
        out.errors.push(
          setError('bad_length', `flowset ${id} at offset ${p} has length ${len}, ${buf.length - p} bytes left`, buf.slice(p)),
        );
        break;
      }
      const end = p + len;
      if (id === TEMPLATE_FLOWSET) this.templates(buf, dv, p + 4, end, d, out);
      else if (id === OPTIONS_FLOWSET) this.optionsTemplates(buf, dv, p + 4, end, d, out);
      else if (id >= 256) this.session.dataSet(buf, dv, p + 4, end, id, d, info, out);
      // Flowset ids 2-255 are reserved (RFC 3954 s5.3): skipped.
      p = end;
    }
    return out;
  }

  /** RFC 3954 s5.2: template records, then padding. */
  private templates(buf: Uint8Array, dv: DataView, p: number, end: number, d: Domain, out: DecodeOutput): void {
    while (p + 4 <= end) {
      const id = dv.getUint16(p);
      const count = dv.getUint16(p + 2);
      if (id === 0 && count === 0) return; // padding
      const recEnd = p + 4 + count * 4;
      if (recEnd > end) {
        out.errors.push(
          setError('bad_length', `template ${id} has ${count} fields, the flowset only room for ${(end - p - 4) >> 2}`, buf.slice(p, end)),
        );
        return;
      }
      if (id < 256) {
        out.errors.push(setError('template_invalid', `template id ${id} is below 256`, buf.slice(p, recEnd)));
        return;
      }
      const fields: FieldSpec[] = [];
      for (let q = p + 4; q < recEnd; q += 4) fields.push({ id: dv.getUint16(q), length: dv.getUint16(q + 2), enterprise: 0 });
      this.store(d, id, fields, 0, false, buf.slice(p, recEnd), out);
      p = recEnd;
    }
  }

  /** RFC 3954 s6.1: options template records (scope and option lengths in bytes), then padding. */
  private optionsTemplates(buf: Uint8Array, dv: DataView, p: number, end: number, d: Domain, out: DecodeOutput): void {
    while (p + 6 <= end) {
      const id = dv.getUint16(p);
      const scopeLen = dv.getUint16(p + 2);
      const optionLen = dv.getUint16(p + 4);
      if (id === 0 && scopeLen === 0 && optionLen === 0) return; // padding
      const recEnd = p + 6 + scopeLen + optionLen;
      if (id < 256 || scopeLen % 4 !== 0 || optionLen % 4 !== 0) {
        out.errors.push(
          setError(
            'template_invalid',
            `options template ${id} with scope length ${scopeLen}, option length ${optionLen}`,
            buf.slice(p, end),
          ),
        );
        return;
      }
      if (recEnd > end) {
        out.errors.push(setError('bad_length', `options template ${id} runs past its flowset`, buf.slice(p, end)));
        return;
      }
      // Scope length 0 (Juniper SRX) is accepted: the options then apply to the whole exporter.
      const fields: FieldSpec[] = [];
      for (let q = p + 6; q < recEnd; q += 4) fields.push({ id: dv.getUint16(q), length: dv.getUint16(q + 2), enterprise: 0 });
      this.store(d, id, fields, scopeLen / 4, true, buf.slice(p, recEnd), out);
      p = recEnd;
    }
  }

  private store(
    d: Domain,
    id: number,
    fields: FieldSpec[],
    scopeCount: number,
    options: boolean,
    raw: Uint8Array,
    out: DecodeOutput,
  ): void {
    const t = compileTemplate(id, fields, scopeCount, options, raw, false);
    if (typeof t === 'string') {
      out.errors.push(setError('template_invalid', t, raw));
      return;
    }
    this.session.storeTemplate(d, t, out);
  }

  /** Held data flowsets older than the TTL, as 'template_not_found' errors. */
  expire(nowNs: number): DecodeOutput {
    const out: DecodeOutput = { flows: [], errors: [] };
    this.session.expire(nowNs, out.errors);
    return out;
  }

  stats(): ReturnType<TemplateSession['stats']> {
    return this.session.stats();
  }
}
