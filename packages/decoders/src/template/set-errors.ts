import type { DecodeError, DecodeReason } from '../common/types.js';

/** True when every byte from `from` to the end is zero: fill after the last set, not a set. */
export function zeroFilled(buf: Uint8Array, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

export function setError(reason: DecodeReason, detail: string, raw: Uint8Array, count = 1): DecodeError {
  return { reason, detail, count, raw };
}
