import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlowDecoder } from '@flowwatch/decoders';
import type { FlowRecord } from '@flowwatch/flow-schema';
import { udpDatagramFrame, writePcap } from '@flowwatch/test-support';
import { describe, expect, it } from 'vitest';
import { generateNetwork } from '../generate-network.js';
import { Simulation } from '../simulation.js';
import type { Datagram } from './exporter.js';

/**
 * tshark (Wireshark's dissectors, an independent implementation) must decode what the simulator
 * sends: the datagrams of a simulated minute are written to a pcap as UDP from each exporter's
 * address to the collector's ports, and tshark's fields are compared, datagram by datagram, with
 * flowwatch's decoder.
 */

const SEED = 17;
const network = generateNetwork({ seed: SEED });
const START = Date.UTC(2026, 10, 24, 11, 0);
const step = new Simulation(network, { seed: SEED, startMs: START, speed: 1, rate: 400 }).advance(START + 20_000);
const PORTS = { netflow: 2055, ipfix: 4739, sflow: 6343 } as const;
const dir = mkdtempSync(join(tmpdir(), 'fw-sim-tshark-'));

function capture(name: string, datagrams: Datagram[]): string {
  const file = join(dir, `${name}.pcap`);
  writeFileSync(
    file,
    writePcap(
      datagrams.map((d, i) => ({
        timeMs: START + i,
        frame: udpDatagramFrame(d.exporter.address, 40_000, '127.0.0.1', PORTS[d.port], d.bytes, i),
      })),
    ),
  );
  return file;
}

/** tshark's fields, one row per frame, each field a list (all occurrences). */
function tshark(file: string, fields: string[], filter?: string): string[][][] {
  const args = ['-r', file, '-d', 'udp.port==2055,cflow', '-d', 'udp.port==4739,cflow', '-d', 'udp.port==6343,sflow', '-T', 'fields'];
  if (filter) args.push('-Y', filter);
  args.push('-E', 'occurrence=a', '-E', 'aggregator=|', ...fields.flatMap((f) => ['-e', f]));
  const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t').map((c) => (c === '' ? [] : c.split('|'))));
}

function ours(datagrams: Datagram[]): FlowRecord[][] {
  const decoder = new FlowDecoder();
  return datagrams.map((d) => {
    const out = decoder.decode(d.bytes, {
      exporter: d.exporter.address,
      receivedNs: 0,
      supplierId: '',
      exporterId: '',
      defaultSamplingRate: 1,
    });
    expect(out.errors).toEqual([]);
    return out.flows;
  });
}

const key = (src: string, dst: string, sport: number, dport: number, proto: number, bytes: number, packets: number) =>
  `${src} ${dst} ${sport} ${dport} ${proto} ${bytes} ${packets}`;

describe('tshark decodes what the simulator sends', { timeout: 30_000 }, () => {
  for (const [protocol, name] of [
    ['netflow5', 'NetFlow v5'],
    ['netflow9', 'NetFlow v9'],
    ['ipfix', 'IPFIX'],
  ] as const) {
    it(`${name}: every record of every datagram, with flowwatch's values`, () => {
      const datagrams = step.datagrams.filter((d) => d.exporter.protocol === protocol);
      expect(datagrams.length).toBeGreaterThan(10);
      const file = capture(protocol, datagrams);
      expect(tshark(file, ['frame.number'], '_ws.malformed || _ws.expert.severity >= warning')).toEqual([]);
      const rows = tshark(file, [
        'cflow.srcaddr',
        'cflow.dstaddr',
        'cflow.srcaddrv6',
        'cflow.dstaddrv6',
        'cflow.srcport',
        'cflow.dstport',
        'cflow.protocol',
        'cflow.octets',
        'cflow.packets',
      ]);
      expect(rows).toHaveLength(datagrams.length);
      const expected = ours(datagrams);
      let total = 0;
      rows.forEach((cols, i) => {
        const [src4 = [], dst4 = [], src6 = [], dst6 = [], sport = [], dport = [], proto = [], octets = [], packets = []] = cols;
        // Our datagrams carry the IPv4 set before the IPv6 set, so addresses line up in that order.
        const src = [...src4, ...src6];
        const dst = [...dst4, ...dst6];
        const theirs = src.map((s, k) =>
          key(s, dst[k] ?? '', Number(sport[k]), Number(dport[k]), Number(proto[k]), Number(octets[k]), Number(packets[k])),
        );
        const mine = (expected[i] as FlowRecord[]).map((f) =>
          key(f.src_addr, f.dst_addr, f.src_port, f.dst_port, f.proto, f.bytes, f.packets),
        );
        expect(theirs.sort()).toEqual(mine.sort());
        total += mine.length;
      });
      expect(total).toBe(datagrams.reduce((s, d) => s + d.records, 0));
    });
  }

  it('sFlow v5: every flow sample (the sampled packet, rate, frame length) and the counter samples', () => {
    const datagrams = step.datagrams.filter((d) => d.exporter.protocol === 'sflow5');
    expect(datagrams.length).toBeGreaterThan(2);
    const file = capture('sflow5', datagrams);
    expect(tshark(file, ['frame.number'], '_ws.malformed')).toEqual([]);
    const rows = tshark(file, [
      'sflow_245.agent',
      'ip.src',
      'ip.dst',
      'ipv6.src',
      'ipv6.dst',
      'sflow.flow_sample.sampling_rate',
      'sflow_245.header.frame_length',
      'sflow_245.ifinoct',
    ]);
    expect(rows).toHaveLength(datagrams.length);
    const expected = ours(datagrams);
    let counters = 0;
    let samples = 0;
    rows.forEach((cols, i) => {
      const [agent = [], ipSrc = [], ipDst = [], ip6Src = [], ip6Dst = [], rate = [], frameLength = [], inOctets = []] = cols;
      const d = datagrams[i] as Datagram;
      const flows = expected[i] as FlowRecord[];
      expect(agent).toEqual([d.exporter.address]);
      // The first ip.src/ip.dst is the UDP datagram's own header; the others are the sampled packets'.
      const theirs = [...ipSrc.slice(1).map((s, k) => `${s} ${ipDst[k + 1]}`), ...ip6Src.map((s, k) => `${s} ${ip6Dst[k]}`)];
      expect(theirs.sort()).toEqual(flows.map((f) => `${f.src_addr} ${f.dst_addr}`).sort());
      expect(rate.map(Number)).toEqual(flows.map((f) => f.sampling_rate));
      expect(frameLength.map(Number)).toEqual(flows.map((f) => f.bytes));
      counters += inOctets.length;
      samples += flows.length;
    });
    expect(samples).toBeGreaterThan(20);
    expect(counters).toBeGreaterThan(0);
  });
});
