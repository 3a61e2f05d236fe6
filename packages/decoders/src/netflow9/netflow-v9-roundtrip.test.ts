import type { FlowRecord } from '@flowwatch/flow-schema';
import { emptyFlow } from '@flowwatch/flow-schema';
import { describe, expect, it } from 'vitest';
import type { DecodeContext } from '../common/types.js';
import type { EncoderTemplate } from './index.js';
import { encodeNetflowV9, NetflowV9Decoder } from './index.js';

const ctx: DecodeContext = {
  exporter: '198.51.100.7',
  receivedNs: 1_700_000_100e9,
  supplierId: 'acme',
  exporterId: 'edge-1',
  defaultSamplingRate: 0,
};
const header = { sequence: 42, sourceId: 7, unixSecs: 1_700_000_000, sysUptimeMs: 5_000_000 };

const V4: EncoderTemplate = {
  id: 256,
  fields: [
    { id: 8, length: 4 },
    { id: 12, length: 4 },
    { id: 7, length: 2 },
    { id: 11, length: 2 },
    { id: 4, length: 1 },
    { id: 6, length: 1 },
    { id: 5, length: 1 },
    { id: 1, length: 4 }, // reduced-size IN_BYTES
    { id: 2, length: 4 },
    { id: 10, length: 2 },
    { id: 14, length: 2 },
    { id: 15, length: 4 },
    { id: 16, length: 4 },
    { id: 17, length: 4 },
    { id: 9, length: 1 },
    { id: 13, length: 1 },
    { id: 22, length: 4 },
    { id: 21, length: 4 },
    { id: 56, length: 6 },
    { id: 80, length: 6 },
    { id: 58, length: 2 },
    { id: 61, length: 1 },
    { id: 89, length: 1 },
    { id: 225, length: 4 },
    { id: 227, length: 2 },
  ],
};

const V6: EncoderTemplate = {
  id: 257,
  fields: [
    { id: 27, length: 16 },
    { id: 28, length: 16 },
    { id: 62, length: 16 },
    { id: 29, length: 1 },
    { id: 30, length: 1 },
    { id: 31, length: 4 },
    { id: 4, length: 1 },
    { id: 139, length: 2 },
    { id: 1, length: 8 },
    { id: 2, length: 8 },
    { id: 22, length: 4 },
    { id: 21, length: 4 },
    { id: 70, length: 3 },
    { id: 48, length: 1 },
  ],
};

function flow(over: Partial<FlowRecord>): FlowRecord {
  return {
    ...emptyFlow('NETFLOW_V9'),
    time_received_ns: ctx.receivedNs,
    sequence_num: header.sequence,
    sampler_address: ctx.exporter,
    supplier_id: ctx.supplierId,
    exporter_id: ctx.exporterId,
    observation_domain_id: header.sourceId,
    ...over,
  };
}

const v4flow = flow({
  src_addr: '10.1.2.3',
  dst_addr: '192.0.2.200',
  src_port: 51000,
  dst_port: 443,
  proto: 6,
  tcp_flags: 0x1b,
  ip_tos: 8,
  bytes: 123_456,
  packets: 99,
  in_if: 3,
  out_if: 4,
  next_hop: '10.0.0.1',
  src_as: 64500,
  dst_as: 15169,
  src_net: 24,
  dst_net: 16,
  time_flow_start_ns: 1_699_999_990_000e6,
  time_flow_end_ns: 1_699_999_999_500e6,
  src_mac: '00:11:22:33:44:55',
  dst_mac: 'aa:bb:cc:dd:ee:ff',
  src_vlan: 100,
  vlan_id: 100,
  flow_direction: 1,
  forwarding_status: 64,
  post_nat_src_addr: '203.0.113.9',
  post_nat_src_port: 40000,
  etype: 2048,
});

const v6flow = flow({
  src_addr: '2001:db8::1',
  dst_addr: '2001:db8:0:1::2',
  next_hop: 'fe80::1',
  src_net: 48,
  dst_net: 64,
  ipv6_flow_label: 0x12345,
  proto: 58,
  icmp_type: 128,
  icmp_code: 0,
  bytes: 2 ** 40,
  packets: 3,
  time_flow_start_ns: 1_699_999_000_000e6,
  time_flow_end_ns: 1_699_999_001_000e6,
  mpls_label: 20005,
  etype: 34525,
});

describe('NetFlow v9 encode/decode round trip', () => {
  it('round-trips IPv4 and IPv6 flows', () => {
    const d = new NetflowV9Decoder();
    const buf = encodeNetflowV9(header, [
      { kind: 'templates', templates: [V4, V6] },
      { kind: 'data', template: V4, records: [v4flow] },
      { kind: 'data', template: V6, records: [v6flow] },
    ]);
    const out = d.decode(buf, ctx);
    expect(out.errors).toEqual([]);
    expect(out.flows).toEqual([v4flow, v6flow]);
    expect(d.stats()).toMatchObject({ templates: 2, domains: 1, pendingSets: 0 });
  });

  it('computes FIRST/LAST_SWITCHED across the 32-bit sysUptime wrap', () => {
    const d = new NetflowV9Decoder();
    // Uptime wrapped 1 s ago: the flow started 3 s ago, at an uptime near 2^32.
    const h = { ...header, sysUptimeMs: 1000 };
    const f = flow({
      ...v4flow,
      time_flow_start_ns: (header.unixSecs * 1000 - 3000) * 1e6,
      time_flow_end_ns: (header.unixSecs * 1000 - 500) * 1e6,
    });
    const buf = encodeNetflowV9(h, [
      { kind: 'templates', templates: [V4] },
      { kind: 'data', template: V4, records: [f] },
    ]);
    expect(buf.length).toBeGreaterThan(0);
    const out = d.decode(buf, ctx);
    expect(out.flows[0]!.time_flow_start_ns).toBe(f.time_flow_start_ns);
    expect(out.flows[0]!.time_flow_end_ns).toBe(f.time_flow_end_ns);
  });

  it('keeps whole-millisecond times exact although t * 1e6 is not exact in float64 (1795514400162e6 / 1e6 < 1795514400162)', () => {
    const d = new NetflowV9Decoder();
    const unixSecs = 1_795_514_401;
    const h = { ...header, unixSecs, sysUptimeMs: 3_000_000 };
    const startMs = 1_795_514_400_162;
    expect((startMs * 1e6) / 1e6).toBeLessThan(startMs); // the float64 trap this guards against
    const f = flow({ ...v4flow, time_flow_start_ns: startMs * 1e6, time_flow_end_ns: (startMs + 700) * 1e6 });
    const out = d.decode(
      encodeNetflowV9(h, [
        { kind: 'templates', templates: [V4] },
        { kind: 'data', template: V4, records: [f] },
      ]),
      ctx,
    );
    expect(Math.round(out.flows[0]!.time_flow_start_ns / 1e6)).toBe(startMs);
    expect(Math.round(out.flows[0]!.time_flow_end_ns / 1e6)).toBe(startMs + 700);
  });

  it('applies sampling from options records: per sampler id, else exporter-wide, else the default', () => {
    const d = new NetflowV9Decoder();
    // Cisco style: scope System, FLOW_SAMPLER_ID, FLOW_SAMPLER_MODE, FLOW_SAMPLER_RANDOM_INTERVAL.
    const samplerOpts: EncoderTemplate = {
      id: 300,
      scopeFields: [{ id: 1, length: 4 }],
      fields: [
        { id: 48, length: 1 },
        { id: 49, length: 1 },
        { id: 50, length: 4 },
      ],
    };
    // Juniper SRX style: no scope at all (scope length 0), SAMPLING_INTERVAL.
    const globalOpts: EncoderTemplate = { id: 301, scopeFields: [], fields: [{ id: 34, length: 4 }] };
    const before = d.decode(
      encodeNetflowV9(header, [
        { kind: 'templates', templates: [V6] },
        { kind: 'data', template: V6, records: [{ ...v6flow, values: { '48': 5 } }] },
      ]),
      { ...ctx, defaultSamplingRate: 7 },
    );
    expect(before.flows[0]!.sampling_rate).toBe(7);
    const opts = d.decode(
      encodeNetflowV9(header, [
        { kind: 'templates', templates: [samplerOpts, globalOpts] },
        { kind: 'data', template: samplerOpts, records: [{ values: { '48': 5, '49': 2, '50': 1000 } }] },
        { kind: 'data', template: globalOpts, records: [{ values: { '34': 64 } }] },
      ]),
      ctx,
    );
    expect(opts).toEqual({ flows: [], errors: [] });
    const after = d.decode(
      encodeNetflowV9(header, [
        {
          kind: 'data',
          template: V6,
          records: [
            { ...v6flow, values: { '48': 5 } },
            { ...v6flow, values: { '48': 9 } },
          ],
        },
      ]),
      { ...ctx, defaultSamplingRate: 7 },
    );
    expect(after.flows.map((f) => f.sampling_rate)).toEqual([1000, 64]);
    expect(after.flows[0]!.bytes).toBe(v6flow.bytes); // never scaled
  });

  it('re-defines a template: later data uses the new fields; a refresh changes nothing', () => {
    const d = new NetflowV9Decoder();
    const short: EncoderTemplate = {
      id: 256,
      fields: [
        { id: 8, length: 4 },
        { id: 1, length: 4 },
      ],
    };
    d.decode(encodeNetflowV9(header, [{ kind: 'templates', templates: [V4] }]), ctx);
    d.decode(encodeNetflowV9(header, [{ kind: 'templates', templates: [V4] }]), ctx);
    expect(d.stats().templates).toBe(1);
    const out = d.decode(
      encodeNetflowV9(header, [
        { kind: 'templates', templates: [short] },
        { kind: 'data', template: short, records: [{ src_addr: '10.9.9.9', bytes: 77 }] },
      ]),
      ctx,
    );
    expect(out.flows).toHaveLength(1);
    expect(out.flows[0]).toMatchObject({ src_addr: '10.9.9.9', bytes: 77, dst_addr: '' });
    expect(d.stats().templates).toBe(1);
  });

  it('holds data that arrives before its template and decodes it when the template comes', () => {
    const d = new NetflowV9Decoder();
    const early = d.decode(encodeNetflowV9(header, [{ kind: 'data', template: V4, records: [v4flow, v4flow] }]), ctx);
    expect(early).toEqual({ flows: [], errors: [] });
    expect(d.stats().pendingSets).toBe(1);
    const late = d.decode(encodeNetflowV9({ ...header, sequence: 43 }, [{ kind: 'templates', templates: [V4] }]), ctx);
    expect(late.errors).toEqual([]);
    expect(late.flows).toEqual([v4flow, v4flow]); // with the held datagram's own header values
    expect(d.stats().pendingSets).toBe(0);
  });

  it('expires held data after the TTL and drops the oldest on overflow, with the set bytes', () => {
    const d = new NetflowV9Decoder({ maxPendingSets: 2, pendingTtlMs: 1000 });
    const data = encodeNetflowV9(header, [{ kind: 'data', template: V4, records: [v4flow] }]);
    for (let i = 0; i < 3; i++) d.decode(data, { ...ctx, receivedNs: ctx.receivedNs + i });
    expect(d.stats().pendingSets).toBe(2);
    const overflow = d.decode(data, ctx);
    expect(overflow.errors.map((e) => e.reason)).toEqual(['pending_overflow']);
    expect(overflow.errors[0]!.raw).toEqual(data.subarray(20));
    expect(d.expire(ctx.receivedNs + 999e6).errors).toEqual([]);
    const expired = d.expire(ctx.receivedNs + 1001e6);
    expect(expired.errors.map((e) => [e.reason, e.exporter])).toEqual([
      ['template_not_found', ctx.exporter],
      ['template_not_found', ctx.exporter],
    ]);
    expect(d.stats().pendingSets).toBe(0);
  });

  it('keeps templates apart per exporter and source id', () => {
    const d = new NetflowV9Decoder();
    d.decode(encodeNetflowV9(header, [{ kind: 'templates', templates: [V4] }]), ctx);
    const other = d.decode(encodeNetflowV9({ ...header, sourceId: 8 }, [{ kind: 'data', template: V4, records: [v4flow] }]), ctx);
    expect(other.flows).toEqual([]);
    const otherExporter = d.decode(encodeNetflowV9(header, [{ kind: 'data', template: V4, records: [v4flow] }]), {
      ...ctx,
      exporter: '198.51.100.8',
    });
    expect(otherExporter.flows).toEqual([]);
    expect(d.stats()).toMatchObject({ templates: 1, domains: 3, pendingSets: 2 });
  });

  it('bounds templates per domain and domains in all', () => {
    const d = new NetflowV9Decoder({ maxTemplatesPerDomain: 2, maxDomains: 3 });
    const many = [256, 257, 258].map((id) => ({ ...V4, id }));
    const out = d.decode(encodeNetflowV9(header, [{ kind: 'templates', templates: many }]), ctx);
    expect(out.errors.map((e) => e.reason)).toEqual(['template_limit']);
    for (let s = 0; s < 10; s++) d.decode(encodeNetflowV9({ ...header, sourceId: 100 + s }, [{ kind: 'templates', templates: [V4] }]), ctx);
    expect(d.stats()).toMatchObject({ templates: 3, domains: 3, pendingSets: 0 });
  });

  it('reports bad lengths for the rest of the datagram, keeping the flows before', () => {
    const d = new NetflowV9Decoder();
    const good = encodeNetflowV9(header, [
      { kind: 'templates', templates: [V4] },
      { kind: 'data', template: V4, records: [v4flow] },
    ]);
    const bad = new Uint8Array([...good, 1, 0, 0, 2, 9, 9]);
    const out = d.decode(bad, ctx);
    expect(out.flows).toEqual([v4flow]);
    expect(out.errors.map((e) => e.reason)).toEqual(['bad_length']);
    // Zero fill after the last flowset (Palo Alto) is not an error.
    expect(d.decode(new Uint8Array([...good, 0, 0, 0, 0, 0, 0, 0, 0]), ctx).errors).toEqual([]);
  });

  it('refuses templates that cannot describe a record', () => {
    const d = new NetflowV9Decoder();
    const zero: EncoderTemplate = {
      id: 300,
      fields: [
        { id: 8, length: 0 },
        { id: 1, length: 0 },
      ],
    };
    const out = d.decode(encodeNetflowV9(header, [{ kind: 'templates', templates: [zero] }]), ctx);
    expect(out.errors.map((e) => e.reason)).toEqual(['template_invalid']);
    const low = d.decode(encodeNetflowV9(header, [{ kind: 'templates', templates: [{ ...V4, id: 12 }] }]), ctx);
    expect(low.errors.map((e) => e.reason)).toEqual(['template_invalid']);
    expect(d.stats().templates).toBe(0);
  });

  it('derives ICMP type and code from the destination port when no ICMP field is present', () => {
    const d = new NetflowV9Decoder();
    const t: EncoderTemplate = {
      id: 260,
      fields: [
        { id: 4, length: 1 },
        { id: 11, length: 2 },
        { id: 8, length: 4 },
      ],
    };
    const out = d.decode(
      encodeNetflowV9(header, [
        { kind: 'templates', templates: [t] },
        { kind: 'data', template: t, records: [{ proto: 1, dst_port: 3 * 256 + 1, src_addr: '10.0.0.1' }] },
      ]),
      ctx,
    );
    expect(out.flows[0]).toMatchObject({ icmp_type: 3, icmp_code: 1, dst_port: 769, etype: 2048 });
  });
});
