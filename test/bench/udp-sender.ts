/**
 * Sends IPFIX datagrams (30 flows each) at a fixed flow rate from one source address, for the
 * collector benchmark. Args: port source flowsPerSecond seconds. Prints what it sent as JSON.
 */
import { createSocket } from 'node:dgram';
import { ipfixDatagrams } from './datagrams.js';

const [port, source, rate, seconds] = process.argv.slice(2);
const flowsPerSecond = Number(rate);
const datagrams = ipfixDatagrams(4000);
const socket = createSocket({ type: 'udp4', sendBufferSize: 8 << 20 });
await new Promise<void>((r) => socket.bind({ address: source as string, port: 0 }, () => r()));

const perMs = flowsPerSecond / 30 / 1000;
const end = Date.now() + Number(seconds) * 1000;
const start = Date.now();
let sent = 0;
let i = 0;
// The first datagram carries the template with its data; it is re-sent every 1000 datagrams as a refresh.
while (Date.now() < end) {
  const due = Math.floor((Date.now() - start) * perMs);
  while (sent < due) {
    const d = i % 1000 === 0 ? (datagrams[0] as Uint8Array) : (datagrams[1 + (i % (datagrams.length - 1))] as Uint8Array);
    socket.send(d, Number(port), '127.0.0.1');
    sent++;
    i++;
  }
  await new Promise((r) => setImmediate(r));
}
await new Promise((r) => setTimeout(r, 200));
socket.close();
process.stdout.write(`${JSON.stringify({ datagrams: sent, flows: sent * 30 })}\n`);
