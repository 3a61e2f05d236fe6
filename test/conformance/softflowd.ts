import { spawn } from 'node:child_process';
import type { FlowRecord } from '@flowwatch/flow-schema';
import type { Conversation } from '@flowwatch/test-support';

/** What conformance compares of a flow: addresses, ports, protocol, bytes and packets. */
export type Tuple = [string, string, number, number, number, number, number];

export const tuple = (f: Pick<FlowRecord, 'src_addr' | 'dst_addr' | 'src_port' | 'dst_port' | 'proto' | 'bytes' | 'packets'>): Tuple => [
  f.src_addr,
  f.dst_addr,
  f.src_port,
  f.dst_port,
  f.proto,
  f.bytes,
  f.packets,
];

/** The tuples as sorted strings: equal lists are the same multiset of flows. */
export const sortTuples = (t: Tuple[]): string[] => t.map((x) => JSON.stringify(x)).sort();

/** A synthetic capture's conversations as the tuples an exporter should report. */
export const conversationTuples = (conversations: readonly Conversation[]): Tuple[] =>
  conversations.map((c) => [c.src, c.dst, c.srcPort, c.dstPort, c.proto, c.bytes, c.packets]);

/** Runs softflowd over capture `pcapFile`, exporting NetFlow `version` to 127.0.0.1:`port`, until it exits. */
export function runSoftflowd(pcapFile: string, port: number, version: 5 | 9 | 10): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const p = spawn('softflowd', ['-r', pcapFile, '-n', `127.0.0.1:${port}`, '-v', String(version), '-d'], { stdio: 'ignore' });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`softflowd exit ${code}`))));
  });
}
