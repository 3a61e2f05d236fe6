import { describe, expect, it } from 'vitest';
import type { DecodeContext, TemplateLimits } from '../common/types.js';
import { encodeIpfix, IpfixDecoder } from '../ipfix/index.js';
import { encodeNetflowV9, NetflowV9Decoder } from '../netflow9/index.js';
import type { EncoderSet, EncoderTemplate } from './template-encoder.js';

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LIMITS: TemplateLimits = { maxTemplatesPerDomain: 16, maxDomains: 8, maxTemplateBytes: 65_536, maxPendingSets: 32, pendingTtlMs: 50 };
const IDS = [
  1, 2, 4, 5, 6, 7, 8, 10, 11, 12, 14, 15, 21, 22, 27, 28, 32, 34, 48, 56, 58, 60, 70, 80, 89, 150, 152, 154, 156, 158, 160, 161, 305, 306,
  315, 999,
];
const LENGTHS = [0, 1, 2, 3, 4, 6, 8, 16, 65535];

describe('template decoders under random and mutated input', () => {
  it('never throw, stay within their limits, on 20,000 datagrams', () => {
    const rand = rng(20240601);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const v9 = new NetflowV9Decoder(LIMITS);
    const ipfix = new IpfixDecoder(LIMITS);
    let flows = 0;
    let errors = 0;
    for (let i = 0; i < 20_000; i++) {
      const ctx: DecodeContext = {
        exporter: `10.0.0.${Math.floor(rand() * 12)}`,
        receivedNs: 1_700_000_000e9 + i * 1e6,
        supplierId: 's',
        exporterId: 'e',
        defaultSamplingRate: 0,
      };
      // A plausible datagram: random templates (sometimes huge ids, zero-length fields, floods), data, withdrawals.
      const templates: EncoderTemplate[] = [];
      const nt = rand() < 0.05 ? 40 : 1 + Math.floor(rand() * 3); // sometimes a template flood
      for (let t = 0; t < nt; t++) {
        const fields = Array.from({ length: Math.floor(rand() * 12) }, () => ({
          id: pick(IDS),
          length: rand() < 0.5 ? pick([1, 2, 4, 8, 16, 6]) : pick(LENGTHS),
          ...(rand() < 0.1 ? { enterprise: pick([29305, 5951, 0xffffffff]) } : {}),
        }));
        const scope = rand() < 0.3 ? { scopeFields: fields.slice(0, Math.floor(rand() * 2)) } : {};
        templates.push({ id: rand() < 0.1 ? 65535 - Math.floor(rand() * 10) : 256 + Math.floor(rand() * 20), fields, ...scope });
      }
      const sets: EncoderSet[] = [{ kind: 'templates', templates }];
      for (const t of templates.slice(0, 3)) {
        sets.push({
          kind: 'data',
          template: t,
          records: Array.from({ length: Math.floor(rand() * 4) }, () => ({
            bytes: Math.floor(rand() * 1e6),
            src_addr: '10.1.1.1',
            values: { '315': new Uint8Array(60).map(() => rand() * 256) },
          })),
        });
      }
      if (rand() < 0.1) sets.push({ kind: 'withdraw', templateIds: [rand() < 0.5 ? 2 : 256 + Math.floor(rand() * 20)] });
      if (rand() < 0.3) sets.reverse(); // data before templates
      const header = { sequence: i, sourceId: Math.floor(rand() * 3), unixSecs: 1_700_000_000, sysUptimeMs: Math.floor(rand() * 2 ** 32) };
      const useV9 = rand() < 0.5;
      let buf = useV9
        ? encodeNetflowV9(header, sets)
        : encodeIpfix({ sequence: i, observationDomainId: header.sourceId, exportTime: header.unixSecs }, sets);
      // Mutations: truncate, flip bytes, overwrite lengths/ids, or pure noise.
      const m = rand();
      if (m < 0.2) buf = buf.subarray(0, Math.floor(rand() * buf.length));
      else if (m < 0.5) {
        buf = buf.slice();
        for (let k = 0, n = 1 + Math.floor(rand() * 8); k < n; k++) buf[Math.floor(rand() * buf.length)] = Math.floor(rand() * 256);
      } else if (m < 0.6) {
        buf = buf.slice();
        const at = 16 + Math.floor(rand() * Math.max(1, buf.length - 18));
        if (at + 1 < buf.length) {
          buf[at] = rand() < 0.5 ? 0 : 0xff;
          buf[at + 1] = rand() < 0.5 ? 0 : 0xff;
        }
      } else if (m < 0.65) {
        buf = new Uint8Array(Math.floor(rand() * 300)).map(() => rand() * 256);
        if (buf.length > 2) buf[1] = useV9 ? 9 : 10;
      }
      const out = (useV9 ? v9 : ipfix).decode(buf, ctx);
      flows += out.flows.length;
      errors += out.errors.length;
      for (const e of out.errors) expect(typeof e.reason).toBe('string');
      for (const d of [v9, ipfix]) {
        const s = d.stats();
        expect(s.domains).toBeLessThanOrEqual(LIMITS.maxDomains);
        expect(s.templateBytes).toBeLessThanOrEqual(LIMITS.maxTemplateBytes);
        expect(s.templates).toBeLessThanOrEqual(LIMITS.maxDomains * LIMITS.maxTemplatesPerDomain);
        expect(s.templates).toBeGreaterThanOrEqual(0);
        expect(s.pendingSets).toBeLessThanOrEqual(LIMITS.maxPendingSets);
      }
    }
    // The corpus of mutations exercised both paths.
    expect(flows).toBeGreaterThan(1000);
    expect(errors).toBeGreaterThan(1000);
    v9.expire(Number.MAX_VALUE);
    ipfix.expire(Number.MAX_VALUE);
    expect(v9.stats().pendingSets + ipfix.stats().pendingSets).toBe(0);
  }, 60_000);
});
