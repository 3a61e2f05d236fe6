import { existsSync, readFileSync } from 'node:fs';
import type { FlowRecord } from '@flowwatch/flow-schema';
import { describe, expect, it } from 'vitest';
import type { DecodeContext } from '../common/types.js';
import { parsePcap } from '../pcap/pcap-reader.js';
import { decodeNetflowV5, encodeNetflowV5 } from './index.js';

const CORPUS = new URL('../../../../../shared/corpus/', import.meta.url);
const corpus = (path: string) => new Uint8Array(readFileSync(new URL(path, CORPUS)));
const ctx: DecodeContext = {
  exporter: '192.0.2.1',
  receivedNs: 1_700_000_000e9,
  supplierId: 'sup',
  exporterId: 'exp',
  defaultSamplingRate: 1,
};

interface LogstashContext {
  context: string;
  files_in_order: string[];
  expected_event_count: string[];
  assertions: { event: number; field: string; expected: string }[];
  expected_events_json: { netflow: Record<string, unknown> }[];
  json_compare: { decode_index: number; expected_events_json_index: number }[];
}

/** Logstash field names to ours (the ones NetFlow v5 has). */
const LOGSTASH_FIELDS: Record<string, keyof FlowRecord> = {
  ipv4_src_addr: 'src_addr',
  ipv4_dst_addr: 'dst_addr',
  ipv4_next_hop: 'next_hop',
  input_snmp: 'in_if',
  output_snmp: 'out_if',
  in_pkts: 'packets',
  in_bytes: 'bytes',
  l4_src_port: 'src_port',
  l4_dst_port: 'dst_port',
  tcp_flags: 'tcp_flags',
  protocol: 'proto',
  src_tos: 'ip_tos',
  src_as: 'src_as',
  dst_as: 'dst_as',
  src_mask: 'src_net',
  dst_mask: 'dst_net',
  flow_seq_num: 'sequence_num',
  sampling_interval: 'sampling_rate',
};

describe('decodeNetflowV5: logstash-codec-netflow corpus', () => {
  const spec = JSON.parse(
    readFileSync(new URL('logstash-codec-netflow/EXPECTED_from_netflow_spec.json', CORPUS), 'utf8'),
  ) as LogstashContext[];
  const v5 = spec.filter((c) => c.files_in_order.some((f) => f.startsWith('netflow5')));

  it('covers the five v5 contexts', () => {
    expect(v5.map((c) => c.context.trim())).toEqual([
      'Netflow 5 valid 01',
      'Netflow 5 invalid 01',
      'Netflow 5 invalid 02',
      'Netflow5 mikrotik',
      'Netflow5 Juniper MX80',
    ]);
  });

  for (const c of v5) {
    it(`${c.context.trim()}`, () => {
      const file = c.files_in_order[0] as string;
      const out = decodeNetflowV5(corpus(`logstash-codec-netflow/${file}`), ctx);
      if (file.includes('invalid')) {
        // count 55582 and 163: both impossible (1..30), so nothing is decoded
        expect(out.flows).toEqual([]);
        expect(out.errors.map((e) => e.reason)).toEqual(['bad_count']);
        return;
      }
      expect(out.flows).toHaveLength(Number(c.expected_event_count[0]));
      for (const a of c.assertions) {
        const key = a.field.replace('[netflow][', '').replace(']', '');
        if (key === 'version') continue;
        const ours = LOGSTASH_FIELDS[key] as keyof FlowRecord;
        expect(out.flows[a.event]?.[ours], `${key} of event ${a.event}`).toBe(JSON.parse(a.expected));
      }
      for (const j of c.json_compare) {
        const expected = c.expected_events_json[j.expected_events_json_index]?.netflow as Record<string, unknown>;
        const flow = out.flows[j.decode_index] as FlowRecord;
        for (const [key, value] of Object.entries(expected)) {
          const ours = LOGSTASH_FIELDS[key];
          if (ours === undefined || (key === 'sampling_interval' && value === 0)) continue;
          expect(flow[ours], key).toBe(value);
        }
      }
    });
  }

  it('netflow5.dat: decodes the first message and reports the trailing bytes as bad_count', () => {
    const buf = corpus('logstash-codec-netflow/netflow5.dat');
    const out = decodeNetflowV5(buf, ctx);
    expect(out.flows.map((f) => [f.src_addr, f.dst_addr, f.src_port, f.dst_port, f.tcp_flags, f.packets, f.bytes])).toEqual([
      ['10.0.2.2', '10.0.2.15', 54435, 22, 16, 5, 230],
      ['10.0.2.15', '10.0.2.2', 22, 54435, 24, 4, 304],
    ]);
    expect(out.errors).toHaveLength(1);
    expect(out.errors[0]).toMatchObject({ reason: 'bad_count', count: 1 });
    expect(out.errors[0]?.raw?.length).toBe(buf.length - 120);
  });

  it('mikrotik: flow times match Logstash to the millisecond', () => {
    const out = decodeNetflowV5(corpus('logstash-codec-netflow/netflow5_test_microtik.dat'), ctx);
    const f = out.flows[29] as FlowRecord;
    expect(new Date(Math.floor(f.time_flow_start_ns / 1e6)).toISOString()).toBe('2016-07-21T13:51:42.254Z');
    expect(new Date(Math.floor(f.time_flow_end_ns / 1e6)).toISOString()).toBe('2016-07-21T13:51:42.254Z');
  });

  it('Juniper MX80: sampling interval 1000 becomes sampling_rate', () => {
    const out = decodeNetflowV5(corpus('logstash-codec-netflow/netflow5_test_juniper_mx80.dat'), { ...ctx, defaultSamplingRate: 7 });
    expect(new Set(out.flows.map((f) => f.sampling_rate))).toEqual(new Set([1000]));
  });
});

describe('decodeNetflowV5: goflow2 and akvorado corpus', () => {
  it('goflow2 TestDecodeNetFlowV5: 6 records, first input 9', () => {
    const out = decodeNetflowV5(corpus('goflow2/netflowlegacy_TestDecodeNetFlowV5_data.bin'), ctx);
    expect(out.errors).toEqual([]);
    expect(out.flows).toHaveLength(6);
    expect(out.flows[0]?.in_if).toBe(9);
  });

  it('akvorado nfv5.pcap: the expected first flow', () => {
    const packets = parsePcap(corpus('akvorado/netflow/nfv5.pcap'));
    expect(packets).toHaveLength(1);
    const p = packets[0]!;
    const out = decodeNetflowV5(p.payload, { ...ctx, exporter: p.srcAddr, receivedNs: p.timestampNs });
    expect(out.errors).toEqual([]);
    expect(out.flows).toHaveLength(29);
    // akvorado reports sampling rate 1 for an unsampled exporter: our ctx default (header interval is 0)
    expect(out.flows[0]).toMatchObject({
      type: 'NETFLOW_V5',
      sampler_address: '10.19.144.41',
      time_received_ns: p.timestampNs,
      src_addr: '161.202.212.212',
      dst_addr: '202.152.70.24',
      next_hop: '61.6.255.150',
      sampling_rate: 1,
      in_if: 117,
      out_if: 86,
      src_as: 36351,
      dst_as: 10101,
      src_net: 19,
      dst_net: 24,
      bytes: 133,
      packets: 1,
      etype: 2048,
      proto: 6,
      src_port: 30104,
      dst_port: 11963,
      tcp_flags: 0x18,
      sequence_num: 1961402419,
      supplier_id: 'sup',
      exporter_id: 'exp',
    });
  });
});

/** pdu blocks of a tshark -V NetFlow v5 decode. */
function tsharkV5(text: string) {
  const header = {
    uptime: Number(/SysUptime: ([\d.]+) seconds/.exec(text)?.[1]),
    secs: Number(/CurrentSecs: (\d+)/.exec(text)?.[1]),
    nsecs: Number(/CurrentNSecs: (\d+)/.exec(text)?.[1]),
  };
  const pdus = text
    .split(/\n {4}pdu \d+\/\d+\n/)
    .slice(1)
    .map((b) => {
      const get = (re: RegExp) => re.exec(b)?.[1] as string;
      return {
        src_addr: get(/SrcAddr: (\S+)/),
        dst_addr: get(/DstAddr: (\S+)/),
        next_hop: get(/NextHop: (\S+)/),
        in_if: Number(get(/InputInt: (\d+)/)),
        out_if: Number(get(/OutputInt: (\d+)/)),
        packets: Number(get(/Packets: (\d+)/)),
        bytes: Number(get(/Octets: (\d+)/)),
        src_port: Number(get(/SrcPort: (\d+)/)),
        dst_port: Number(get(/DstPort: (\d+)/)),
        proto: Number(get(/Protocol: .*\((\d+)\)/)),
        start: Number(get(/StartTime: ([\d.]+)/)),
        end: Number(get(/EndTime: ([\d.]+)/)),
      };
    });
  return { header, pdus };
}

describe('decodeNetflowV5: tshark oracle', () => {
  const cases: [string, string][] = [
    ['akvorado/netflow/nfv5.pcap', 'akvorado_netflow_nfv5'],
    ['_derived/pcap_from_dat/goflow2_nfv5.pcap', '_derived_pcap_from_dat_goflow2_nfv5'],
    ['_derived/pcap_from_dat/logstash_L27_Netflow_5_valid_01.pcap', '_derived_pcap_from_dat_logstash_L27_Netflow_5_valid_01'],
    ['_derived/pcap_from_dat/logstash_L839_Netflow5_mikrotik.pcap', '_derived_pcap_from_dat_logstash_L839_Netflow5_mikrotik'],
    ['_derived/pcap_from_dat/logstash_L898_Netflow5_Juniper_MX80.pcap', '_derived_pcap_from_dat_logstash_L898_Netflow5_Juniper_MX80'],
  ];
  for (const [pcap, oracle] of cases) {
    it(`${pcap} agrees with tshark`, () => {
      const { header, pdus } = tsharkV5(readFileSync(new URL(`_derived/tshark/${oracle}.tshark.txt`, CORPUS), 'utf8'));
      const [p] = parsePcap(corpus(pcap));
      const out = decodeNetflowV5(p!.payload, ctx);
      expect(pdus.length).toBeGreaterThan(0);
      expect(out.flows).toHaveLength(pdus.length);
      // Flow times: the header clock minus the record's age on the uptime clock, modulo 2^32 ms.
      // softflowd (L27) stamps First = 2^32 - 1, just before its uptime origin: a flow 3.4 s old, not
      // (as Logstash's expectation has it) one starting 49.7 days in the future. Logstash's Juniper
      // expectation is also a second later than this arithmetic; tshark's raw values and we agree.
      const exportMs = header.secs * 1e3 + Math.floor(header.nsecs / 1e6);
      const age = (stamp: number) => {
        const d = (Math.round(header.uptime * 1e3) - Math.round(stamp * 1e3) + 2 ** 32) % 2 ** 32;
        return d >= 2 ** 31 ? d - 2 ** 32 : d;
      };
      pdus.forEach((t, i) => {
        const f = out.flows[i] as FlowRecord;
        const { start, end, ...fields } = t;
        expect(f).toMatchObject(fields);
        expect(Math.floor(f.time_flow_start_ns / 1e6)).toBe(exportMs - age(start));
        expect(Math.floor(f.time_flow_end_ns / 1e6)).toBe(exportMs - age(end));
      });
    });
  }

  it('the invalid files tshark decodes anyway are refused', () => {
    for (const f of ['logstash_L135_Netflow_5_invalid_01', 'logstash_L146_Netflow_5_invalid_02']) {
      expect(existsSync(new URL(`_derived/tshark/_derived_pcap_from_dat_${f}.tshark.txt`, CORPUS))).toBe(true);
      const [p] = parsePcap(corpus(`_derived/pcap_from_dat/${f}.pcap`));
      const out = decodeNetflowV5(p!.payload, ctx);
      expect(out.flows).toEqual([]);
      expect(out.errors[0]?.reason).toBe('bad_count');
    }
  });
});

describe('NetFlow v5 encode -> decode', () => {
  const header = { sysUptimeMs: 5_000_000, unixSecs: 1_700_000_000, unixNsecs: 250_000_000, flowSequence: 42, engineType: 1, engineId: 7 };
  const exportNs = 1_700_000_000e9 + 250_000_000;

  it('round-trips TCP, UDP and ICMP records with times, sampling and routing fields', () => {
    const records: Partial<FlowRecord>[] = [
      {
        src_addr: '10.0.0.1',
        dst_addr: '192.0.2.9',
        next_hop: '10.255.0.1',
        in_if: 3,
        out_if: 4,
        packets: 10,
        bytes: 15_000,
        time_flow_start_ns: exportNs - 60_000e6,
        time_flow_end_ns: exportNs - 1_000e6,
        src_port: 443,
        dst_port: 51_000,
        tcp_flags: 0x1b,
        proto: 6,
        ip_tos: 0x28,
        src_as: 64_500,
        dst_as: 65_001,
        src_net: 24,
        dst_net: 16,
      },
      { src_addr: '198.51.100.7', dst_addr: '203.0.113.3', proto: 17, src_port: 53, dst_port: 33_000, packets: 1, bytes: 80 },
      { src_addr: '198.51.100.7', dst_addr: '203.0.113.3', proto: 1, icmp_type: 3, icmp_code: 4, packets: 2, bytes: 1_200 },
    ];
    const buf = encodeNetflowV5({ ...header, samplingMode: 1, samplingInterval: 100 }, records);
    expect(buf.length).toBe(24 + 48 * 3);
    const out = decodeNetflowV5(buf, ctx);
    expect(out.errors).toEqual([]);
    expect(out.flows[0]).toMatchObject({ ...records[0], sampling_rate: 100, sequence_num: 42, etype: 2048, sampler_address: '192.0.2.1' });
    expect(out.flows[1]).toMatchObject(records[1] as object);
    expect(out.flows[2]).toMatchObject({ ...records[2], dst_port: 3 * 256 + 4 });
  });

  it('handles a SysUptime that wrapped past 2^32 since the flow started', () => {
    // flow started 10 s before the header, when uptime was 2^32 - 4000 ms; it is 6000 ms now
    const buf = encodeNetflowV5({ ...header, sysUptimeMs: 6_000 }, [{ src_addr: '10.0.0.1', time_flow_start_ns: exportNs - 10_000e6 }]);
    expect(new DataView(buf.buffer).getUint32(24 + 24)).toBe(2 ** 32 - 4_000);
    expect(decodeNetflowV5(buf, ctx).flows[0]?.time_flow_start_ns).toBe(exportNs - 10_000e6);
  });

  it('uses the default sampling rate when the header interval is 0, and carries 30 records at most', () => {
    const thirty = Array.from({ length: 30 }, (_, i) => ({ src_addr: `10.0.0.${i}`, packets: i }));
    const out = decodeNetflowV5(encodeNetflowV5(header, thirty), { ...ctx, defaultSamplingRate: 0 });
    expect(out.flows.map((f) => f.packets)).toEqual(thirty.map((r) => r.packets));
    expect(out.flows[0]?.sampling_rate).toBe(0);
    expect(() => encodeNetflowV5(header, [...thirty, {}])).toThrow(RangeError);
    expect(() => encodeNetflowV5(header, [{ src_addr: '2001:db8::1' }])).toThrow(RangeError);
  });
});

describe('decodeNetflowV5: malformed datagrams', () => {
  const good = encodeNetflowV5({ sysUptimeMs: 1, unixSecs: 1, flowSequence: 1 }, [{ src_addr: '10.0.0.1' }, { src_addr: '10.0.0.2' }]);

  it('refuses short headers, other versions and impossible counts', () => {
    expect(decodeNetflowV5(good.subarray(0, 10), ctx).errors[0]?.reason).toBe('truncated');
    const v9 = good.slice();
    v9[1] = 9;
    expect(decodeNetflowV5(v9, ctx).errors[0]?.reason).toBe('bad_version');
    const zero = good.slice();
    zero[3] = 0;
    expect(decodeNetflowV5(zero, ctx)).toMatchObject({ flows: [], errors: [{ reason: 'bad_count' }] });
  });

  it('keeps the whole records of a truncated datagram', () => {
    const out = decodeNetflowV5(good.subarray(0, 24 + 48 + 20), ctx);
    expect(out.flows.map((f) => f.src_addr)).toEqual(['10.0.0.1']);
    expect(out.errors).toMatchObject([{ reason: 'truncated', count: 1 }]);
  });
});

describe('decodeNetflowV5: fuzz', () => {
  it('never throws on 20,000 random and mutated datagrams', () => {
    let seed = 0x5eed;
    const rnd = () => {
      seed = (seed * 1_103_515_245 + 12_345) >>> 0;
      return seed / 2 ** 32;
    };
    const base = encodeNetflowV5(
      { sysUptimeMs: 1000, unixSecs: 1_700_000_000, flowSequence: 1 },
      Array.from({ length: 30 }, (_, i) => ({ src_addr: `10.0.0.${i}`, proto: i % 2 ? 1 : 6, time_flow_start_ns: 1 })),
    );
    let flows = 0;
    for (let i = 0; i < 20_000; i++) {
      let buf: Uint8Array;
      if (i % 4 === 0) {
        buf = new Uint8Array(Math.floor(rnd() * 1500));
        for (let j = 0; j < buf.length; j++) buf[j] = rnd() * 256;
        if (buf.length > 2 && rnd() < 0.5) buf[1] = 5;
      } else {
        buf = base.slice(0, Math.floor(rnd() * (base.length + 40)));
        for (let k = Math.floor(rnd() * 8); k > 0 && buf.length > 0; k--) buf[Math.floor(rnd() * Math.min(buf.length, 32))] = rnd() * 256;
      }
      const out = decodeNetflowV5(buf, ctx);
      flows += out.flows.length;
      expect(out.flows.length <= 30 && (out.flows.length > 0 || out.errors.length > 0)).toBe(true);
    }
    expect(flows).toBeGreaterThan(0);
  });
});
