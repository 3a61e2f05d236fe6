import type { EncoderField, EncoderSet } from '../template/template-encoder.js';
import { ByteWriter, writeField } from '../template/template-encoder.js';

export type { EncoderField, EncoderRecord, EncoderSet, EncoderTemplate, EncoderValue } from '../template/template-encoder.js';

/** IPFIX message header fields (RFC 7011 s3.1). */
export interface IpfixHeader {
  sequence: number;
  observationDomainId: number;
  /** Export time, seconds since the epoch. */
  exportTime: number;
  /**
   * Not on the wire: the exporter's systemInitTimeMilliseconds, used to write flowStart/EndSysUpTime
   * (21/22) and systemInitTimeMilliseconds (160) values. Defaults to the export time.
   */
  systemInitMs?: number;
}

function writeSpec(w: ByteWriter, f: EncoderField): void {
  if (f.enterprise) {
    w.u16(f.id | 0x8000);
    w.u16(f.length);
    w.u32(f.enterprise);
  } else {
    w.u16(f.id);
    w.u16(f.length);
  }
}

/**
 * Build one IPFIX message. Sets are written in order: `templates` (set 2, or set 3 when the
 * templates have `scopeFields`), `withdraw` (field count 0 records, RFC 7011 s8.1; id 2 / 3 withdraws
 * all), `data` (records from FlowRecord fields and/or `values` by IE id, variable-length fields
 * from string or byte values), `raw` (any bytes, for malformed-input tests). Data sets get
 * `padding` extra zero bytes when asked.
 */
export function encodeIpfix(header: IpfixHeader, sets: EncoderSet[]): Uint8Array {
  const w = new ByteWriter();
  w.u16(10);
  w.u16(0);
  w.u32(header.exportTime);
  w.u32(header.sequence);
  w.u32(header.observationDomainId);
  const init = header.systemInitMs ?? header.exportTime * 1000;
  const tb = { exportSecs: header.exportTime, sysUptimeMs: header.exportTime * 1000 - init };
  for (const set of sets) {
    const start = w.length;
    if (set.kind === 'raw') {
      w.u16(set.setId);
      w.u16(4 + set.body.length);
      w.bytes(set.body);
      continue;
    }
    if (set.kind === 'withdraw') {
      w.u16(set.options ? 3 : 2);
      w.u16(0);
      for (const id of set.templateIds) {
        w.u16(id);
        w.u16(0);
      }
    } else if (set.kind === 'templates') {
      const options = set.templates.some((t) => t.scopeFields !== undefined);
      w.u16(options ? 3 : 2);
      w.u16(0);
      for (const t of set.templates) {
        const scope = t.scopeFields ?? [];
        w.u16(t.id);
        w.u16(scope.length + t.fields.length);
        if (options) w.u16(scope.length);
        for (const f of scope) writeSpec(w, f);
        for (const f of t.fields) writeSpec(w, f);
      }
    } else {
      w.u16(set.template.id);
      w.u16(0);
      const all = [...(set.template.scopeFields ?? []), ...set.template.fields];
      for (const r of set.records) for (const f of all) writeField(w, f, r, tb);
      if (set.padding) w.zeros(set.padding);
    }
    w.set16(start + 2, w.length - start);
  }
  w.set16(2, w.length);
  return w.result();
}
