import type { EncoderSet } from '../template/template-encoder.js';
import { ByteWriter, writeField } from '../template/template-encoder.js';

export type { EncoderField, EncoderRecord, EncoderSet, EncoderTemplate, EncoderValue } from '../template/template-encoder.js';

/** NetFlow v9 header fields (RFC 3954 s5.1). `count` defaults to the number of records written. */
export interface NetflowV9Header {
  sequence: number;
  sourceId: number;
  /** unix_secs: export time, seconds since the epoch. */
  unixSecs: number;
  /** sysUptime at export, ms; FIRST/LAST_SWITCHED are written relative to it. */
  sysUptimeMs: number;
  count?: number;
}

/**
 * Build one NetFlow v9 datagram. Sets are written in order: `templates` (a template flowset, or an
 * options template flowset when the templates have `scopeFields`; v9 scope fields use RFC 3954
 * s6.1 scope types), `data` (records from FlowRecord fields and/or `values` by field type),
 * `raw` (any bytes, for malformed-input tests). `withdraw` does not exist in v9 and is ignored.
 * Every flowset is padded to 4 bytes (plus `padding` extra zero bytes on data sets).
 */
export function encodeNetflowV9(header: NetflowV9Header, sets: EncoderSet[]): Uint8Array {
  const w = new ByteWriter();
  w.u16(9);
  w.u16(0);
  w.u32(header.sysUptimeMs);
  w.u32(header.unixSecs);
  w.u32(header.sequence);
  w.u32(header.sourceId);
  const tb = { exportSecs: header.unixSecs, sysUptimeMs: header.sysUptimeMs };
  let count = 0;
  for (const set of sets) {
    if (set.kind === 'withdraw') continue;
    const start = w.length;
    if (set.kind === 'raw') {
      w.u16(set.setId);
      w.u16(4 + set.body.length);
      w.bytes(set.body);
      continue;
    }
    if (set.kind === 'templates') {
      const options = set.templates.some((t) => t.scopeFields !== undefined);
      w.u16(options ? 1 : 0);
      w.u16(0);
      for (const t of set.templates) {
        w.u16(t.id);
        if (options) {
          const scope = t.scopeFields ?? [];
          w.u16(scope.length * 4);
          w.u16(t.fields.length * 4);
          for (const f of scope) {
            w.u16(f.id);
            w.u16(f.length);
          }
        } else {
          w.u16(t.fields.length);
        }
        for (const f of t.fields) {
          w.u16(f.id);
          w.u16(f.length);
        }
        count++;
      }
    } else {
      w.u16(set.template.id);
      w.u16(0);
      const all = [...(set.template.scopeFields ?? []), ...set.template.fields];
      for (const r of set.records) {
        for (const f of all) writeField(w, f, r, tb);
        count++;
      }
      if (set.padding) w.zeros(set.padding);
    }
    while ((w.length - start) % 4 !== 0) w.u8(0);
    w.set16(start + 2, w.length - start);
  }
  w.set16(2, header.count ?? count);
  return w.result();
}
