import { type FieldSpec, H, handlerFor } from './fields.js';

/** Variable-length field marker in a template (RFC 7011 s7). */
export const VARIABLE_LENGTH = 65535;

/** Largest record a set can carry: a set length is 16 bits and includes its 4-byte header. */
const MAX_RECORD_LENGTH = 65535 - 4;

/**
 * A template compiled once into a decode plan: per field a handler code and a length, plus (for
 * templates without variable-length fields) the offset of each field that maps to something, so
 * decoding a record touches only those.
 */
export interface CompiledTemplate {
  id: number;
  /** Options template (v9 flowset 1, IPFIX set 3): its records update exporter state, not flows. */
  options: boolean;
  /** The template record as received, to tell a refresh (same bytes) from a re-definition. */
  raw: Uint8Array;
  fieldCount: number;
  scopeCount: number;
  /** Every field, in order (used when the template has variable-length fields). */
  handlers: Uint8Array;
  lengths: Uint16Array;
  /** True when no field is variable-length: records have `recordLength` bytes. */
  fixed: boolean;
  /** Fixed record length, or the minimum (variable fields counted as 1 byte). */
  recordLength: number;
  /** Fixed templates only: the fields with a handler, with their offsets in the record. */
  liveHandlers: Uint8Array;
  liveOffsets: Uint16Array;
  liveLengths: Uint16Array;
}

/**
 * Compile a template. Returns a string (the reason) when it can never describe a record: no
 * fields, a zero-length record, or records too long to fit any set.
 */
export function compileTemplate(
  id: number,
  fields: FieldSpec[],
  scopeCount: number,
  options: boolean,
  raw: Uint8Array,
  scopeIsIE: boolean,
): CompiledTemplate | string {
  const n = fields.length;
  if (n === 0) return `template ${id} has no fields`;
  const present = new Set<number>();
  for (let i = 0; i < n; i++) {
    const f = fields[i]!;
    if (f.enterprise === 0 && (scopeIsIE || i >= scopeCount)) present.add(f.id);
  }
  const handlers = new Uint8Array(n);
  const lengths = new Uint16Array(n);
  let fixed = true;
  let recordLength = 0;
  let live = 0;
  for (let i = 0; i < n; i++) {
    const f = fields[i]!;
    lengths[i] = f.length;
    if (f.length === VARIABLE_LENGTH) {
      fixed = false;
      recordLength += 1;
    } else {
      recordLength += f.length;
    }
    // NetFlow v9 scope fields use their own type space (RFC 3954 s6.1: System, Interface...).
    const h = !scopeIsIE && i < scopeCount ? H.SKIP : handlerFor(f, present);
    handlers[i] = h;
    if (h !== H.SKIP) live++;
  }
  if (recordLength === 0) return `template ${id} describes records of 0 bytes`;
  if (recordLength > MAX_RECORD_LENGTH) return `template ${id} describes records of ${recordLength} bytes`;
  const liveHandlers = new Uint8Array(fixed ? live : 0);
  const liveOffsets = new Uint16Array(fixed ? live : 0);
  const liveLengths = new Uint16Array(fixed ? live : 0);
  if (fixed) {
    let off = 0;
    let j = 0;
    for (let i = 0; i < n; i++) {
      const h = handlers[i]!;
      if (h !== H.SKIP) {
        liveHandlers[j] = h;
        liveOffsets[j] = off;
        liveLengths[j] = lengths[i]!;
        j++;
      }
      off += lengths[i]!;
    }
  }
  return {
    id,
    options,
    raw,
    fieldCount: n,
    scopeCount,
    handlers,
    lengths,
    fixed,
    recordLength,
    liveHandlers,
    liveOffsets,
    liveLengths,
  };
}

/** Same template bytes as before: a refresh, nothing to recompile. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
