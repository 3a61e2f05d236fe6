/**
 * Micro benchmark: NetFlow v9 and IPFIX decode of encoder-built datagrams (30 records each, a
 * typical 20-field IPv4 template). Run from the repository root:
 *   node --conditions=flowwatch-src --import tsx packages/decoders/src/ipfix/bench.ts
 */
import type { DecodeContext } from '../common/types.js';
import { encodeNetflowV9, NetflowV9Decoder } from '../netflow9/index.js';
import type { EncoderRecord, EncoderTemplate } from '../template/template-encoder.js';
import { encodeIpfix, IpfixDecoder } from './index.js';

const fields = [
  [8, 4],
  [12, 4],
  [7, 2],
  [11, 2],
  [4, 1],
  [6, 1],
  [5, 1],
  [1, 8],
  [2, 8],
  [10, 4],
  [14, 4],
  [15, 4],
  [16, 4],
  [17, 4],
  [9, 1],
  [13, 1],
  [22, 4],
  [21, 4],
  [61, 1],
  [48, 1],
] as const;
const template: EncoderTemplate = { id: 256, fields: fields.map(([id, length]) => ({ id, length })) };
const records: EncoderRecord[] = Array.from({ length: 30 }, (_, i) => ({
  src_addr: `10.0.${i}.${(i * 7) % 250}`,
  dst_addr: `192.0.2.${i + 1}`,
  src_port: 40000 + i,
  dst_port: 443,
  proto: 6,
  tcp_flags: 0x18,
  bytes: 1500 * (i + 1),
  packets: i + 1,
  in_if: 3,
  out_if: 4,
  next_hop: '10.255.0.1',
  src_as: 64500,
  dst_as: 15169,
  src_net: 24,
  dst_net: 24,
  time_flow_start_ns: 1_699_999_990_000e6,
  time_flow_end_ns: 1_699_999_999_000e6,
}));
const ctx: DecodeContext = {
  exporter: '192.0.2.10',
  receivedNs: 1_700_000_000e9,
  supplierId: 's',
  exporterId: 'e',
  defaultSamplingRate: 1,
};

const v9 = new NetflowV9Decoder();
v9.decode(
  encodeNetflowV9({ sequence: 0, sourceId: 1, unixSecs: 1_700_000_000, sysUptimeMs: 3_600_000 }, [
    { kind: 'templates', templates: [template] },
  ]),
  ctx,
);
const v9data = encodeNetflowV9({ sequence: 1, sourceId: 1, unixSecs: 1_700_000_000, sysUptimeMs: 3_600_000 }, [
  { kind: 'data', template, records },
]);

const ipfix = new IpfixDecoder();
ipfix.decode(
  encodeIpfix({ sequence: 0, observationDomainId: 1, exportTime: 1_700_000_000 }, [{ kind: 'templates', templates: [template] }]),
  ctx,
);
const ipfixData = encodeIpfix({ sequence: 1, observationDomainId: 1, exportTime: 1_700_000_000, systemInitMs: 1_699_996_400_000 }, [
  { kind: 'data', template, records },
]);

function run(name: string, decode: () => number, seconds: number): void {
  // Warm up, then measure.
  for (let i = 0; i < 20_000; i++) decode();
  let flows = 0;
  let n = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < until) {
    for (let i = 0; i < 1000; i++) flows += decode();
    n += 1000;
    now = process.hrtime.bigint();
  }
  const secs = Number(now - start) / 1e9;
  console.log(
    `${name}: ${Math.round(flows / secs).toLocaleString('en')} flows/s (${Math.round(n / secs).toLocaleString('en')} datagrams/s of 30 records)`,
  );
}

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
run('NetFlow v9', () => v9.decode(v9data, ctx).flows.length, seconds);
run('IPFIX     ', () => ipfix.decode(ipfixData, ctx).flows.length, seconds);
