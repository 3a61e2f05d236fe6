import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FlowRecord } from '@flowwatch/flow-schema';
import { type Conversation, syntheticTraffic, udpDatagramFrame, writePcap } from '@flowwatch/test-support';
import { describe, expect, it } from 'vitest';
import { conversationTuples, runSoftflowd, sortTuples, type Tuple, tuple } from './softflowd.js';

/**
 * Conformance against real exporters and a real decoder: softflowd turns a capture with known
 * conversations into NetFlow v5, v9 and IPFIX; we capture its datagrams into a pcap; then
 * `flowwatch decode` must report every conversation with its exact packets and bytes, and agree
 * with tshark on every flow tshark decodes from the same capture.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'fw-conformance-'));
const traffic = syntheticTraffic(60);
const trafficFile = join(dir, 'traffic.pcap');
writeFileSync(trafficFile, traffic.pcap);

async function exportWithSoftflowd(version: 5 | 9 | 10): Promise<{ capture: string; port: number; datagrams: number }> {
  const socket = createSocket('udp4');
  const received: { payload: Buffer; port: number }[] = [];
  let last = Date.now();
  socket.on('message', (payload, rinfo) => {
    received.push({ payload, port: rinfo.port });
    last = Date.now();
  });
  await new Promise<void>((r) => socket.bind({ address: '127.0.0.1', port: 0 }, () => r()));
  const port = socket.address().port;
  await runSoftflowd(trafficFile, port, version);
  while (Date.now() - last < 500) await new Promise((r) => setTimeout(r, 100));
  socket.close();
  const capture = join(dir, `softflowd-v${version}.pcap`);
  const t0 = Date.UTC(2026, 10, 21, 12);
  writeFileSync(
    capture,
    writePcap(received.map((d, i) => ({ timeMs: t0 + i, frame: udpDatagramFrame('127.0.0.1', d.port, '127.0.0.1', port, d.payload, i) }))),
  );
  return { capture, port, datagrams: received.length };
}

function flowwatchDecode(file: string): FlowRecord[] {
  const out = execFileSync(
    process.execPath,
    ['--conditions=flowwatch-src', '--import', 'tsx', join(ROOT, 'services/cli/src/main.ts'), 'decode', file],
    {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FlowRecord);
}

function tsharkFlows(file: string, port: number): Tuple[] {
  const fields = ['cflow.srcaddr', 'cflow.dstaddr', 'cflow.srcport', 'cflow.dstport', 'cflow.protocol', 'cflow.octets', 'cflow.packets'];
  const out = execFileSync(
    'tshark',
    [
      '-r',
      file,
      '-d',
      `udp.port==${port},cflow`,
      '-T',
      'fields',
      '-E',
      'occurrence=a',
      '-E',
      'aggregator=,',
      ...fields.flatMap((f) => ['-e', f]),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const tuples: Tuple[] = [];
  for (const line of out.split('\n')) {
    const cols = line.split('\t').map((c) => (c === '' ? [] : c.split(',')));
    const n = cols[0]?.length ?? 0;
    for (let i = 0; i < n; i++) {
      tuples.push([
        cols[0]?.[i] ?? '',
        cols[1]?.[i] ?? '',
        Number(cols[2]?.[i]),
        Number(cols[3]?.[i]),
        Number(cols[4]?.[i]),
        Number(cols[5]?.[i]),
        Number(cols[6]?.[i]),
      ]);
    }
  }
  return tuples;
}

function expectGroundTruth(flows: FlowRecord[], conversations: Conversation[]) {
  expect(sortTuples(flows.map(tuple))).toEqual(sortTuples(conversationTuples(conversations)));
  for (const f of flows) {
    expect(f.time_flow_start_ns).toBeGreaterThan(0);
    expect(f.time_flow_end_ns).toBeGreaterThanOrEqual(f.time_flow_start_ns);
    expect(f.etype).toBe(2048);
  }
}

describe('softflowd -> flowwatch decode (and tshark as the oracle)', () => {
  for (const version of [5, 9, 10] as const) {
    it(`NetFlow ${version === 10 ? 'IPFIX' : `v${version}`}: every conversation with exact packets and bytes`, async () => {
      const { capture, port, datagrams } = await exportWithSoftflowd(version);
      expect(datagrams).toBeGreaterThan(0);
      const flows = flowwatchDecode(capture);
      expect(flows.every((f) => f.type === (version === 5 ? 'NETFLOW_V5' : version === 9 ? 'NETFLOW_V9' : 'IPFIX'))).toBe(true);
      expectGroundTruth(flows, traffic.conversations);
      // tshark stops at softflowd's v9 record count (which leaves out template records), so it
      // decodes no v9 data here; for v5 and IPFIX it must agree with us flow for flow.
      const oracle = tsharkFlows(capture, port);
      if (version !== 9) expect(oracle.length).toBe(flows.length);
      const ours = new Set(sortTuples(flows.map(tuple)));
      for (const t of sortTuples(oracle)) expect(ours.has(t)).toBe(true);
    });
  }
});

/**
 * fprobe has no capture-file input: it captures live with libpcap. It watches the loopback
 * interface for UDP conversations this test sends (ports chosen for the run, so other traffic on
 * lo is filtered out) and exports NetFlow v5; capturing needs CAP_NET_RAW (root here and in CI).
 */
describe('fprobe (live capture on lo) -> flowwatch decode (and tshark as the oracle)', () => {
  const canCapture = process.getuid?.() === 0;
  it.skipIf(!canCapture)(
    'NetFlow v5: every conversation with exact packets and bytes',
    async () => {
      const collector = createSocket('udp4');
      const received: { payload: Buffer; port: number }[] = [];
      collector.on('message', (payload, rinfo) => received.push({ payload, port: rinfo.port }));
      await new Promise<void>((r) => collector.bind({ address: '127.0.0.1', port: 0 }, () => r()));
      const port = collector.address().port;
      // Destination ports for this run: a block of 8 unlikely to carry anything else.
      const base = 20_000 + Math.floor(Math.random() * 40_000);
      const sinks = await Promise.all(
        Array.from({ length: 8 }, async (_, k) => {
          const s = createSocket('udp4');
          await new Promise<void>((r) => s.bind({ address: '127.0.0.2', port: base + k }, () => r()));
          return s;
        }),
      );
      const filter = `udp and dst host 127.0.0.2 and dst portrange ${base}-${base + 7}`;
      // -q/-B: fprobe drops packets beyond its pending queue (100 by default); -d 3: idle flows
      // are exported after 3 s.
      const args = ['-l', '2', '-i', 'lo', '-p', '-f', filter, '-q', '100000', '-B', '8192', '-s', '1', '-d', '3', '-e', '120'];
      const fprobe = spawn('fprobe', [...args, `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      let log = '';
      fprobe.stdout?.on('data', (d) => (log += d));
      fprobe.stderr?.on('data', (d) => (log += d));
      const exited = new Promise((r) => fprobe.on('exit', r));
      await new Promise((r) => setTimeout(r, 1500)); // libpcap opens the interface
      // Ground truth: per conversation a distinct source port, a packet count and payload sizes.
      const conversations: Conversation[] = [];
      for (let c = 0; c < 12; c++) {
        const sender = createSocket('udp4');
        await new Promise<void>((r) => sender.bind({ address: '127.0.0.1', port: 0 }, () => r()));
        const packets = 3 + ((c * 5) % 17);
        let bytes = 0;
        for (let i = 0; i < packets; i++) {
          const size = 20 + ((c * 131 + i * 37) % 1200);
          bytes += 20 + 8 + size; // fprobe counts IP bytes (link layer excluded by default)
          await new Promise<void>((r, j) => sender.send(Buffer.alloc(size, c), base + (c % 4), '127.0.0.2', (e) => (e ? j(e) : r())));
          await new Promise((r) => setTimeout(r, 2));
        }
        const srcPort = sender.address().port;
        conversations.push({ src: '127.0.0.1', dst: '127.0.0.2', srcPort, dstPort: base + (c % 4), proto: 17, packets, bytes });
        sender.close();
      }
      // Packets exported so far per source port, from the v5 records (24-byte header, 48-byte
      // records, dPkts at 16, srcport at 32).
      const exportedPackets = () => {
        const n = new Map<number, number>();
        for (const d of received) {
          for (let k = 0; k < d.payload.readUInt16BE(2); k++) {
            const r = 24 + k * 48;
            n.set(d.payload.readUInt16BE(r + 32), (n.get(d.payload.readUInt16BE(r + 32)) ?? 0) + d.payload.readUInt32BE(r + 16));
          }
        }
        return n;
      };
      const complete = () => {
        const n = exportedPackets();
        return conversations.every((c) => n.get(c.srcPort) === c.packets);
      };
      // libpcap hands packets over a block at a time, so the last ones can sit in a partly filled
      // block: filler packets to port base+7 (left out of the comparison) keep blocks moving until
      // every conversation has been exported whole (or 20 s).
      const filler = createSocket('udp4');
      const t0 = Date.now();
      while (!complete() && Date.now() - t0 < 20_000) {
        filler.send(Buffer.alloc(64), base + 7, '127.0.0.2');
        await new Promise((r) => setTimeout(r, 20));
      }
      filler.close();
      fprobe.kill('SIGTERM');
      await exited;
      collector.close();
      for (const s of sinks) s.close();
      expect({ datagrams: received.length > 0, log: received.length > 0 ? '' : log }).toEqual({ datagrams: true, log: '' });
      const capture = join(dir, 'fprobe-v5.pcap');
      writeFileSync(
        capture,
        writePcap(
          received.map((d, i) => ({ timeMs: t0 + i, frame: udpDatagramFrame('127.0.0.1', d.port, '127.0.0.1', port, d.payload, i) })),
        ),
      );
      const all = flowwatchDecode(capture);
      expect(all.every((f) => f.type === 'NETFLOW_V5')).toBe(true);
      // fprobe may export one conversation as two records (packets it takes from its queue after
      // expiring the flow start a new one): the sums per conversation must be exact.
      const perConversation = new Map<string, FlowRecord>();
      for (const f of all.filter((r) => r.dst_port !== base + 7)) {
        const key = `${f.src_addr} ${f.src_port} ${f.dst_addr} ${f.dst_port} ${f.proto}`;
        const seen = perConversation.get(key);
        perConversation.set(
          key,
          seen
            ? {
                ...seen,
                packets: seen.packets + f.packets,
                bytes: seen.bytes + f.bytes,
                time_flow_end_ns: Math.max(seen.time_flow_end_ns, f.time_flow_end_ns),
              }
            : f,
        );
      }
      expectGroundTruth([...perConversation.values()], conversations);
      const oracle = tsharkFlows(capture, port);
      expect(sortTuples(oracle)).toEqual(sortTuples(all.map(tuple)));
    },
    60_000,
  );
});
