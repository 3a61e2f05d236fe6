/**
 * Sends IPFIX datagrams (30 flows each) at a fixed flow rate from one source address, for the
 * collector benchmark. Args: port source flowsPerSecond seconds. Prints what it sent, and its own
 * CPU time, as JSON.
 *
 * It shares the two cores with the collector and the broker, so it is kept cheap: the datagrams
 * are built before the clock starts, and between bursts it sleeps (a timer, about a millisecond)
 * instead of spinning on setImmediate, which took a whole core.
 */
import { createSocket } from 'node:dgram';
import { ipfixDatagrams } from './datagrams.js';

const [port, source, rate, seconds] = process.argv.slice(2);
const flowsPerSecond = Number(rate);
const datagrams = ipfixDatagrams(4000);
const socket = createSocket({ type: 'udp4', sendBufferSize: 8 << 20 });
await new Promise<void>((r) => socket.bind({ address: source as string, port: 0 }, () => r()));
// Connected: the kernel routes once, not per datagram. Nothing listening shows as ECONNREFUSED.
let errors = 0;
socket.on('error', () => errors++);
socket.connect(Number(port), '127.0.0.1');
await new Promise<void>((r) => socket.once('connect', () => r()));

const perMs = flowsPerSecond / 30 / 1000;
const cpu0 = process.cpuUsage();
const start = Date.now();
const end = start + Number(seconds) * 1000;
let sent = 0;
let i = 0;
// The first datagram carries the template with its data; it is re-sent every 1000 datagrams as a refresh.
for (let now = start; now < end; now = Date.now()) {
  const due = Math.floor((now - start) * perMs);
  while (sent < due) {
    const d = i % 1000 === 0 ? (datagrams[0] as Uint8Array) : (datagrams[1 + (i % (datagrams.length - 1))] as Uint8Array);
    socket.send(d);
    sent++;
    i++;
  }
  await new Promise((r) => setTimeout(r, 1));
}
const cpu = process.cpuUsage(cpu0);
await new Promise((r) => setTimeout(r, 200));
socket.close();
process.stdout.write(`${JSON.stringify({ datagrams: sent, flows: sent * 30, cpuSeconds: (cpu.user + cpu.system) / 1e6, errors })}\n`);
