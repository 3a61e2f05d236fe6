/**
 * Decoder micro benchmark: flows/s for NetFlow v5 (30 records per datagram) and sFlow v5 (8 flow
 * samples per datagram, raw Ethernet/IPv4|IPv6/TCP|UDP headers plus extended records), decoding
 * encoder-built datagrams in a loop after a warm-up.
 *   node --conditions=flowwatch-src --import tsx packages/decoders/src/sflow5/bench.ts
 */
import type { DecodeContext, DecodeOutput } from '../common/types.js';
import { decodeNetflowV5, encodeNetflowV5 } from '../netflow5/index.js';
import { decodeSflowV5, encodeSflowV5 } from './index.js';

const ctx: DecodeContext = {
  exporter: '192.0.2.1',
  receivedNs: Date.now() * 1e6,
  supplierId: 'bench',
  exporterId: 'bench',
  defaultSamplingRate: 1,
};

const nfv5 = Array.from({ length: 16 }, (_, d) =>
  encodeNetflowV5(
    { sysUptimeMs: 1_000_000 + d, unixSecs: 1_700_000_000, flowSequence: d * 30, samplingInterval: 100 },
    Array.from({ length: 30 }, (_, i) => ({
      src_addr: `10.${d}.${i}.1`,
      dst_addr: `192.0.2.${i}`,
      next_hop: '10.255.0.1',
      proto: i % 3 === 0 ? 17 : 6,
      src_port: 1024 + i,
      dst_port: 443,
      packets: 10 + i,
      bytes: 15_000 + i,
      in_if: 1,
      out_if: 2,
      time_flow_start_ns: 1_699_999_990e9,
      time_flow_end_ns: 1_699_999_999e9,
    })),
  ),
);

const sflow = Array.from({ length: 16 }, (_, d) =>
  encodeSflowV5({
    agentAddress: '198.51.100.1',
    sequence: d,
    uptimeMs: 1000,
    flowSamples: Array.from({ length: 8 }, (_, i) => ({
      samplingRate: 1000,
      expanded: i % 4 === 3,
      flow: {
        src_mac: '02:00:00:00:00:01',
        dst_mac: '02:00:00:00:00:02',
        vlan_id: 10 + i,
        src_addr: i % 4 === 0 ? `2001:db8::${d}:${i}` : `10.${d}.${i}.1`,
        dst_addr: i % 4 === 0 ? '2001:db8::1' : '192.0.2.1',
        proto: i % 2 ? 17 : 6,
        src_port: 1024 + i,
        dst_port: 443,
        bytes: 1514,
        in_if: 1,
        out_if: 2,
        src_vlan: 10,
        dst_vlan: 20,
        next_hop: '10.255.0.1',
        src_net: 24,
        dst_net: 16,
      },
    })),
  }),
);

function run(name: string, datagrams: Uint8Array[], decode: (b: Uint8Array, c: DecodeContext) => DecodeOutput): void {
  let sink = 0;
  const loop = (n: number) => {
    for (let i = 0; i < n; i++) sink += decode(datagrams[i & 15] as Uint8Array, ctx).flows.length;
  };
  loop(20_000); // warm-up
  let best = 0;
  for (let round = 0; round < 5; round++) {
    const before = sink;
    const t0 = process.hrtime.bigint();
    loop(50_000);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.max(best, (sink - before) / s);
  }
  const perDatagram = decode(datagrams[0] as Uint8Array, ctx).flows.length;
  console.log(
    `${name.padEnd(10)} ${(best / 1e6).toFixed(2)} M flows/s  (${perDatagram} flows/datagram, ${Math.round(best / perDatagram).toLocaleString('en')} datagrams/s, best of 5)`,
  );
}

console.log(`node ${process.version}`);
run('netflow5', nfv5, decodeNetflowV5);
run('sflow5', sflow, decodeSflowV5);
