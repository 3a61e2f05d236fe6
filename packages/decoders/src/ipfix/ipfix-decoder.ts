import type { DecodeContext, DecodeOutput, TemplateLimits } from '../common/types.js';
import { compileTemplate } from '../template/compiled-template.js';
import type { FieldSpec } from '../template/fields.js';
import { setError, zeroFilled } from '../template/set-errors.js';
import type { Domain, MessageInfo } from '../template/template-session.js';
import { TemplateSession } from '../template/template-session.js';

const HEADER_LENGTH = 16;
const TEMPLATE_SET = 2;
const OPTIONS_TEMPLATE_SET = 3;

/**
 * IPFIX (RFC 7011) with the RFC 7012 Information Elements we map, variable-length and
 * enterprise-specific fields (skipped by length unless known), reduced-size encoding, template
 * withdrawal (s8.1), options templates (sampling, system init time) and RFC 5103 biflow records
 * (a reverse flow is emitted when reverse counters are present). Stateful per exporter and
 * observation domain; never throws.
 */
export class IpfixDecoder {
  private readonly session: TemplateSession;

  constructor(limits: Partial<TemplateLimits> = {}) {
    this.session = new TemplateSession('IPFIX', limits);
  }

  decode(buf: Uint8Array, ctx: DecodeContext): DecodeOutput {
    const out: DecodeOutput = { flows: [], errors: [] };
    this.session.expire(ctx.receivedNs, out.errors);
    if (buf.length < HEADER_LENGTH) {
      out.errors.push(setError('truncated', `IPFIX datagram of ${buf.length} bytes, header needs ${HEADER_LENGTH}`, buf));
      return out;
    }
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const version = dv.getUint16(0);
    if (version !== 10) {
      out.errors.push(setError('bad_version', `version ${version}, expected 10`, buf));
      return out;
    }
    // RFC 7011 s3.1: version, length, export time, sequence number, observation domain id.
    const length = dv.getUint16(2);
    if (length < HEADER_LENGTH) {
      out.errors.push(setError('bad_length', `message length ${length} is below the header length`, buf));
      return out;
    }
    let msgEnd = length;
    if (length > buf.length) {
      out.errors.push(setError('truncated', `message length ${length}, datagram ${buf.length} bytes`, buf));
      msgEnd = buf.length;
    }
    // A UDP datagram carries one message (RFC 7011 s10.3.3); bytes after it are ignored.
    const info: MessageInfo = {
      ctx,
      sysUptimeMs: -1,
      exportSecs: dv.getUint32(4),
      sequence: dv.getUint32(8),
      domainId: dv.getUint32(12),
    };
    const d = this.session.domain(ctx.exporter, info.domainId);
    let p = HEADER_LENGTH;
    while (p + 4 <= msgEnd) {
      const id = dv.getUint16(p);
      const len = dv.getUint16(p + 2);
      if (len < 4 || p + len > msgEnd) {
        if (zeroFilled(buf.subarray(0, msgEnd), p)) break;
        out.errors.push(
          setError('bad_length', `set ${id} at offset ${p} has length ${len}, ${msgEnd - p} bytes left`, buf.slice(p, msgEnd)),
        );
        break;
      }
      const end = p + len;
      if (id === TEMPLATE_SET) this.templates(buf, dv, p + 4, end, d, false, out);
      else if (id === OPTIONS_TEMPLATE_SET) this.templates(buf, dv, p + 4, end, d, true, out);
      else if (id >= 256) this.session.dataSet(buf, dv, p + 4, end, id, d, info, out);
      // Set ids 0, 1 and 4-255 are reserved (RFC 7011 s3.3.2): skipped.
      p = end;
    }
    return out;
  }

  /** RFC 7011 s3.4.1, s3.4.2: (options) template records, withdrawals (s8.1), then padding. */
  private templates(buf: Uint8Array, dv: DataView, p: number, end: number, d: Domain, options: boolean, out: DecodeOutput): void {
    while (p + 4 <= end) {
      const start = p;
      const id = dv.getUint16(p);
      const count = dv.getUint16(p + 2);
      if (count === 0) {
        if (id === 0) return; // padding
        // Withdrawal: id 2 (template set) / 3 (options template set) withdraws them all.
        if (id === (options ? OPTIONS_TEMPLATE_SET : TEMPLATE_SET)) this.session.withdrawAll(d, options);
        else if (id >= 256) this.session.withdraw(d, id);
        else out.errors.push(setError('template_invalid', `withdrawal of template id ${id}`, buf.slice(p, p + 4)));
        p += 4;
        continue;
      }
      let scopeCount = 0;
      p += 4;
      if (options) {
        if (p + 2 > end) {
          out.errors.push(setError('bad_length', `options template ${id} header runs past its set`, buf.slice(start, end)));
          return;
        }
        scopeCount = dv.getUint16(p);
        p += 2;
      }
      if (id < 256) {
        out.errors.push(setError('template_invalid', `template id ${id} is below 256`, buf.slice(start, end)));
        return;
      }
      // Every field takes at least 4 bytes: a count that cannot fit is refused before any work.
      if (p + count * 4 > end) {
        out.errors.push(
          setError('bad_length', `template ${id} has ${count} fields, its set only room for ${(end - p) >> 2}`, buf.slice(start, end)),
        );
        return;
      }
      const fields: FieldSpec[] = [];
      let ok = true;
      for (let i = 0; i < count; i++) {
        if (p + 4 > end) {
          ok = false;
          break;
        }
        const type = dv.getUint16(p);
        const length = dv.getUint16(p + 2);
        p += 4;
        let enterprise = 0;
        if (type & 0x8000) {
          if (p + 4 > end) {
            ok = false;
            break;
          }
          enterprise = dv.getUint32(p);
          p += 4;
        }
        fields.push({ id: type & 0x7fff, length, enterprise });
      }
      if (!ok) {
        out.errors.push(setError('bad_length', `template ${id} fields run past their set`, buf.slice(start, end)));
        return;
      }
      const raw = buf.slice(start, p);
      // RFC 7011 s3.4.2.2 forbids a scope count of 0; exporters that send it are accepted
      // (the options then apply to the whole domain). More scope fields than fields cannot be.
      if (scopeCount > count) {
        out.errors.push(setError('template_invalid', `options template ${id} has ${scopeCount} scope fields of ${count}`, raw));
        continue;
      }
      const t = compileTemplate(id, fields, scopeCount, options, raw, true);
      if (typeof t === 'string') {
        out.errors.push(setError('template_invalid', t, raw));
        continue;
      }
      this.session.storeTemplate(d, t, out);
    }
  }

  /** Held data sets older than the TTL, as 'template_not_found' errors. */
  expire(nowNs: number): DecodeOutput {
    const out: DecodeOutput = { flows: [], errors: [] };
    this.session.expire(nowNs, out.errors);
    return out;
  }

  stats(): ReturnType<TemplateSession['stats']> {
    return this.session.stats();
  }
}
