import { describe, expect, it } from 'vitest';
import type { DecodeContext } from '../common/types.js';
import { encodeIpfix } from '../ipfix/index.js';
import { encodeNetflowV9, NetflowV9Decoder } from '../netflow9/index.js';
import type { EncoderTemplate } from './template-encoder.js';

const ctx: DecodeContext = { exporter: '192.0.2.1', receivedNs: 1.7e18, supplierId: 's', exporterId: 'e', defaultSamplingRate: 0 };
const fields = [1, 2, 4, 7, 8, 11, 12, 10, 14, 21, 22].map((id) => ({ id, length: 4 }));
const flood = (sourceId: number, first: number, n = 32): Uint8Array =>
  encodeNetflowV9({ sequence: 0, sourceId, unixSecs: 1_700_000_000, sysUptimeMs: 1 }, [
    { kind: 'templates', templates: Array.from({ length: n }, (_, k): EncoderTemplate => ({ id: first + k, fields })) },
  ]);

describe('template byte budget (maxTemplateBytes)', () => {
  it('forgets the least recently used domains of a template flood, keeps the newest usable', () => {
    const budget = 256 * 1024;
    const d = new NetflowV9Decoder({ maxTemplateBytes: budget });
    for (let source = 0; source < 500; source++) d.decode(flood(source, 256), ctx);
    const s = d.stats();
    expect(s.templateBytes).toBeLessThanOrEqual(budget);
    expect(s.templates).toBeGreaterThan(100); // well below 500 x 32 = 16,000
    expect(s.templates).toBeLessThan(500 * 32);
    // The latest domain's templates still decode its data.
    const t: EncoderTemplate = { id: 256, fields };
    const data = encodeNetflowV9({ sequence: 1, sourceId: 499, unixSecs: 1_700_000_000, sysUptimeMs: 1 }, [
      { kind: 'data', template: t, records: [{ src_addr: '10.0.0.1', dst_addr: '10.0.0.2', bytes: 5 }] },
    ]);
    expect(d.decode(data, ctx).flows.map((f) => f.src_addr)).toEqual(['10.0.0.1']);
  });

  it('refuses, with a reason, templates one domain cannot fit even alone', () => {
    const d = new NetflowV9Decoder({ maxTemplateBytes: 65_536 });
    const out = d.decode(flood(1, 256, 64), ctx);
    expect(d.stats().templateBytes).toBeLessThanOrEqual(65_536);
    expect(out.errors.length).toBeGreaterThan(0);
    expect(out.errors.every((e) => e.reason === 'template_limit' && /over 65536 bytes/.test(e.detail))).toBe(true);
    expect(d.stats().templates + out.errors.length).toBe(64);
  });

  it('withdrawals give their bytes back (IPFIX)', async () => {
    const { IpfixDecoder } = await import('../ipfix/index.js');
    const d = new IpfixDecoder({ maxTemplateBytes: 1 << 20 });
    const templates = Array.from({ length: 10 }, (_, k): EncoderTemplate => ({ id: 300 + k, fields }));
    d.decode(encodeIpfix({ sequence: 0, observationDomainId: 1, exportTime: 1_700_000_000 }, [{ kind: 'templates', templates }]), ctx);
    expect(d.stats().templateBytes).toBeGreaterThan(0);
    d.decode(
      encodeIpfix({ sequence: 1, observationDomainId: 1, exportTime: 1_700_000_000 }, [{ kind: 'withdraw', templateIds: [2] }]),
      ctx,
    );
    expect(d.stats()).toMatchObject({ templates: 0, templateBytes: 0 });
  });
});
