import type { FlowRecord } from '@flowwatch/flow-schema';
import { emptyFlow } from '@flowwatch/flow-schema';
import { describe, expect, it } from 'vitest';
import type { DecodeContext } from '../common/types.js';
import type { EncoderTemplate } from '../template/template-encoder.js';
import { corpusFile, ctxFor } from '../template/test-corpus.js';
import { encodeIpfix, IpfixDecoder } from './index.js';

const ctx: DecodeContext = {
  exporter: '2001:db8::7',
  receivedNs: 1_700_000_100e9,
  supplierId: 'acme',
  exporterId: 'edge-2',
  defaultSamplingRate: 0,
};
const header = { sequence: 1000, observationDomainId: 3, exportTime: 1_700_000_000, systemInitMs: 1_699_000_000_000 };

const V4: EncoderTemplate = {
  id: 256,
  fields: [
    { id: 8, length: 4 },
    { id: 12, length: 4 },
    { id: 7, length: 2 },
    { id: 11, length: 2 },
    { id: 4, length: 1 },
    { id: 1, length: 4 }, // reduced-size octetDeltaCount (RFC 7011 s6.2)
    { id: 2, length: 2 },
    { id: 10, length: 4 },
    { id: 14, length: 4 },
    { id: 152, length: 8 },
    { id: 153, length: 8 },
    { id: 12345, length: 65535, enterprise: 5951 }, // NetScaler-like string, skipped by length
    { id: 226, length: 4 },
    { id: 228, length: 2 },
    { id: 243, length: 2 },
    { id: 254, length: 2 },
    { id: 138, length: 4 },
    { id: 192, length: 1 },
    { id: 60, length: 1 },
  ],
};

const V6: EncoderTemplate = {
  id: 257,
  fields: [
    { id: 27, length: 16 },
    { id: 28, length: 16 },
    { id: 63, length: 16 },
    { id: 4, length: 1 },
    { id: 1, length: 8 },
    { id: 2, length: 8 },
    { id: 156, length: 8 }, // nanoseconds, NTP format
    { id: 157, length: 8 },
    { id: 302, length: 4 },
  ],
};

function flow(over: Partial<FlowRecord>): FlowRecord {
  return {
    ...emptyFlow('IPFIX'),
    time_received_ns: ctx.receivedNs,
    sequence_num: header.sequence,
    sampler_address: ctx.exporter,
    supplier_id: ctx.supplierId,
    exporter_id: ctx.exporterId,
    observation_domain_id: header.observationDomainId,
    ...over,
  };
}

const v4flow = flow({
  src_addr: '10.1.2.3',
  dst_addr: '192.0.2.200',
  src_port: 51000,
  dst_port: 443,
  proto: 6,
  bytes: 1_000_000,
  packets: 700,
  in_if: 3,
  out_if: 4,
  time_flow_start_ns: 1_699_999_990_123e6,
  time_flow_end_ns: 1_699_999_999_456e6,
  post_nat_dst_addr: '198.51.100.1',
  post_nat_dst_port: 8443,
  src_vlan: 10,
  vlan_id: 10,
  dst_vlan: 20,
  observation_point_id: 9,
  ip_ttl: 61,
  etype: 2048,
});

const v6flow = flow({
  src_addr: '2001:db8::1',
  dst_addr: '::ffff:192.0.2.1',
  bgp_next_hop: '2001:db8:ffff::1',
  proto: 17,
  bytes: 5000,
  packets: 5,
  time_flow_start_ns: 1_699_999_000_000_000_000,
  time_flow_end_ns: 1_699_999_001_000_000_000,
  etype: 34525,
});

describe('IPFIX encode/decode round trip', () => {
  it('round-trips IPv4 and IPv6 flows with variable-length and enterprise fields', () => {
    const d = new IpfixDecoder();
    const long = 'x'.repeat(300); // 3-byte variable length form (255 + 2 bytes)
    const out = d.decode(
      encodeIpfix(header, [
        { kind: 'templates', templates: [V4, V6] },
        {
          kind: 'data',
          template: V4,
          records: [
            { ...v4flow, values: { '5951/12345': 'short' } },
            { ...v4flow, values: { '5951/12345': long } },
          ],
        },
        { kind: 'data', template: V6, records: [v6flow], padding: 3 },
      ]),
      ctx,
    );
    expect(out.errors).toEqual([]);
    expect(out.flows).toEqual([v4flow, v4flow, v6flow]);
  });

  it('keeps whole-millisecond flowStart/EndMilliseconds exact although t * 1e6 is not exact in float64', () => {
    const d = new IpfixDecoder();
    const startMs = 1_795_514_400_162;
    expect((startMs * 1e6) / 1e6).toBeLessThan(startMs); // the float64 trap this guards against
    const f = flow({ src_addr: '10.0.0.1', time_flow_start_ns: startMs * 1e6, time_flow_end_ns: (startMs + 700) * 1e6 });
    const out = d.decode(
      encodeIpfix({ ...header, exportTime: 1_795_514_401 }, [
        { kind: 'templates', templates: [V4] },
        { kind: 'data', template: V4, records: [f] },
      ]),
      ctx,
    );
    expect(Math.round(out.flows[0]!.time_flow_start_ns / 1e6)).toBe(startMs);
    expect(Math.round(out.flows[0]!.time_flow_end_ns / 1e6)).toBe(startMs + 700);
  });

  it('resolves sysUpTime, delta and duration times', () => {
    const d = new IpfixDecoder();
    const t: EncoderTemplate = {
      id: 258,
      fields: [
        { id: 8, length: 4 },
        { id: 160, length: 8 },
        { id: 22, length: 4 },
        { id: 21, length: 4 },
      ],
    };
    const u: EncoderTemplate = {
      id: 259,
      fields: [
        { id: 8, length: 4 },
        { id: 158, length: 4 },
        { id: 161, length: 4 },
      ],
    };
    const f = { src_addr: '10.0.0.1', time_flow_start_ns: 1_699_999_950_000e6, time_flow_end_ns: 1_699_999_990_000e6 };
    const out = d.decode(
      encodeIpfix(header, [
        { kind: 'templates', templates: [t, u] },
        { kind: 'data', template: t, records: [f] },
        { kind: 'data', template: u, records: [f] },
      ]),
      ctx,
    );
    for (const r of out.flows) expect([r.time_flow_start_ns, r.time_flow_end_ns]).toEqual([f.time_flow_start_ns, f.time_flow_end_ns]);
  });

  it('withdraws one template, then all (template id 2)', () => {
    const d = new IpfixDecoder();
    d.decode(encodeIpfix(header, [{ kind: 'templates', templates: [V4, V6] }]), ctx);
    expect(d.stats().templates).toBe(2);
    d.decode(encodeIpfix(header, [{ kind: 'withdraw', templateIds: [256] }]), ctx);
    expect(d.stats().templates).toBe(1);
    const held = d.decode(encodeIpfix(header, [{ kind: 'data', template: V4, records: [v4flow] }]), ctx);
    expect(held.flows).toEqual([]);
    expect(d.stats().pendingSets).toBe(1);
    d.decode(encodeIpfix(header, [{ kind: 'withdraw', templateIds: [2] }]), ctx);
    expect(d.stats().templates).toBe(0);
  });

  it('applies options sampling: packet interval/space per selector id, and systemInitTime', () => {
    const d = new IpfixDecoder();
    const opts: EncoderTemplate = {
      id: 400,
      scopeFields: [{ id: 302, length: 4 }],
      fields: [
        { id: 305, length: 4 },
        { id: 306, length: 4 },
      ],
    };
    const init: EncoderTemplate = { id: 401, scopeFields: [{ id: 144, length: 4 }], fields: [{ id: 160, length: 8 }] };
    const up: EncoderTemplate = {
      id: 402,
      fields: [
        { id: 8, length: 4 },
        { id: 22, length: 4 },
        { id: 21, length: 4 },
      ],
    };
    d.decode(
      encodeIpfix(header, [
        { kind: 'templates', templates: [opts, init] },
        { kind: 'data', template: opts, records: [{ values: { '302': 77, '305': 1, '306': 99 } }] },
        { kind: 'data', template: init, records: [{ values: { '144': 1 } }] },
      ]),
      ctx,
    );
    const out = d.decode(
      encodeIpfix(header, [
        { kind: 'templates', templates: [V6, up] },
        {
          kind: 'data',
          template: V6,
          records: [
            { ...v6flow, values: { '302': 77 } },
            { ...v6flow, values: { '302': 78 } },
          ],
        },
        {
          kind: 'data',
          template: up,
          records: [{ src_addr: '10.0.0.1', time_flow_start_ns: 1_699_999_950_000e6, time_flow_end_ns: 1_699_999_990_000e6 }],
        },
      ]),
      { ...ctx, defaultSamplingRate: 1 },
    );
    expect(out.flows.map((f) => f.sampling_rate)).toEqual([100, 1, 1]);
    expect(out.flows[2]!.time_flow_start_ns).toBe(1_699_999_950_000e6);
  });

  it('emits the reverse direction of RFC 5103 biflow records', () => {
    const d = new IpfixDecoder();
    const bi: EncoderTemplate = {
      id: 500,
      fields: [
        { id: 8, length: 4 },
        { id: 12, length: 4 },
        { id: 7, length: 2 },
        { id: 11, length: 2 },
        { id: 85, length: 8 },
        { id: 86, length: 8 },
        { id: 85, length: 8, enterprise: 29305 },
        { id: 86, length: 8, enterprise: 29305 },
      ],
    };
    const out = d.decode(
      encodeIpfix(header, [
        { kind: 'templates', templates: [bi] },
        {
          kind: 'data',
          template: bi,
          records: [
            {
              src_addr: '10.0.0.1',
              dst_addr: '10.0.0.2',
              src_port: 1234,
              dst_port: 53,
              bytes: 60,
              packets: 1,
              values: { '29305/85': 120, '29305/86': 1 },
            },
          ],
        },
      ]),
      ctx,
    );
    expect(out.flows.map((f) => [f.src_addr, f.src_port, f.dst_addr, f.dst_port, f.bytes, f.packets])).toEqual([
      ['10.0.0.1', 1234, '10.0.0.2', 53, 60, 1],
      ['10.0.0.2', 53, '10.0.0.1', 1234, 120, 1],
    ]);
  });

  it('refuses impossible templates and sets', () => {
    const d = new IpfixDecoder();
    const big = d.decode(encodeIpfix(header, [{ kind: 'raw', setId: 2, body: new Uint8Array([1, 0, 0xff, 0xff, 0, 8, 0, 4]) }]), ctx);
    expect(big.errors.map((e) => e.reason)).toEqual(['bad_length']);
    const scope = d.decode(encodeIpfix(header, [{ kind: 'raw', setId: 3, body: new Uint8Array([1, 0, 0, 1, 0, 2, 0, 8, 0, 4]) }]), ctx);
    expect(scope.errors.map((e) => e.reason)).toEqual(['template_invalid']);
    const short = encodeIpfix(header, [{ kind: 'templates', templates: [V4] }]);
    expect(d.decode(short.subarray(0, short.length - 3), ctx).errors.map((e) => e.reason)).toEqual(['truncated', 'bad_length']);
    expect(d.stats().templates).toBe(0);
  });
});

describe('IPFIX NetScaler data before its template (Logstash corpus)', () => {
  const data = corpusFile('logstash-codec-netflow/ipfix_test_netscaler_data.dat');
  const tpl = corpusFile('logstash-codec-netflow/ipfix_test_netscaler_tpl.dat');

  it('returns the held flows with the template, in the later decode output', () => {
    const d = new IpfixDecoder();
    expect(d.decode(data, ctxFor('192.0.2.1'))).toEqual({ flows: [], errors: [] });
    const out = d.decode(tpl, ctxFor('192.0.2.1'));
    expect(out.errors).toEqual([]);
    expect(out.flows.map((f) => f.src_addr)).toHaveLength(3);
  });

  it('reports template_not_found with the set bytes when the template never comes', () => {
    const d = new IpfixDecoder({ pendingTtlMs: 10 });
    d.decode(data, ctxFor('192.0.2.1'));
    const n = d.stats().pendingSets;
    expect(n).toBeGreaterThan(0);
    const out = d.expire(ctxFor('192.0.2.1').receivedNs + 11e6);
    expect(out.errors).toHaveLength(n);
    for (const e of out.errors) {
      expect(e.reason).toBe('template_not_found');
      expect(e.exporter).toBe('192.0.2.1');
      expect(e.raw!.length).toBeGreaterThan(4);
    }
  });
});
