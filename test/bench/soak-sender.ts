/**
 * The soak benchmark's exporters (test/bench/soak-bench.ts), as a process of its own: 16 exporters
 * (8 suppliers, one IPFIX and one NetFlow v9 each) send pre-encoded datagrams of 30 flows,
 * re-stamped to the current time just before sending, at a steady total rate, paced like
 * udp-sender.ts (bursts every millisecond or so, sleeping in between, never spinning). Every
 * `incidentEveryS` a port scan from a fresh external source is sent through one exporter.
 *
 * Arg: one JSON object (SoakSenderOptions). Prints JSON lines: `progress` every second,
 * `incident` when one is sent, `done` at the end (also on SIGTERM).
 */
import { createSocket, type Socket } from 'node:dgram';
import {
  backgroundFlows,
  dataDatagram,
  hostAddress,
  portScanFlows,
  RECORDS_PER_DATAGRAM,
  restamp,
  SOAK_ORGANISATIONS,
  SOAK_SUPPLIERS,
  type StampedDatagram,
  soakExporters,
  templateDatagram,
} from './soak-traffic.js';

export interface SoakSenderOptions {
  port: number;
  /** Background flows per second, all exporters together. */
  rate: number;
  seconds: number;
  incidentEveryS: number;
  firstIncidentS: number;
  /** Distinct ports of one host each scan probes. */
  scanPorts: number;
  /** Pre-encoded datagrams per exporter, sent in turn. */
  poolDatagrams: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as SoakSenderOptions;
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
const exporters = soakExporters();
const built = Date.now();
const pools: StampedDatagram[][] = exporters.map((e, i) =>
  Array.from({ length: options.poolDatagrams }, (_, k) =>
    dataDatagram(e, backgroundFlows(e.supplier, RECORDS_PER_DATAGRAM, built, i * 100_003 + k), built),
  ),
);
const sockets: Socket[] = [];
let errors = 0;
for (const e of exporters) {
  const socket = createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
  await new Promise<void>((r) => socket.bind({ address: e.address, port: 0 }, () => r()));
  socket.on('error', () => errors++);
  // Connected: the kernel routes once, not per datagram.
  socket.connect(options.port, '127.0.0.1');
  await new Promise<void>((r) => socket.once('connect', () => r()));
  sockets.push(socket);
}
/** Per exporter: IPFIX sequence = data records sent before (RFC 7011 s3.1); v9 = datagrams sent (RFC 3954 s5.1). */
const sequence = exporters.map(() => 0);
const next = exporters.map(() => 0);
const lastTemplate = exporters.map(() => 0);
let datagrams = 0;
let flows = 0;
let templates = 0;
let incidents = 0;

function send(e: number, bytes: Uint8Array, records: number): void {
  (sockets[e] as Socket).send(bytes);
  const ex = exporters[e];
  sequence[e] = (sequence[e] as number) + (ex?.protocol === 'IPFIX' ? records : 1);
}

function sendTemplates(e: number, now: number): void {
  send(e, templateDatagram(exporters[e] as (typeof exporters)[number], now, sequence[e] as number), 0);
  lastTemplate[e] = now;
  templates++;
}

function sendIncident(now: number): void {
  const n = incidents++;
  const src = `198.51.${100 + (n >> 8)}.${n & 255}`;
  const org = (n * 37 + 11) % SOAK_ORGANISATIONS;
  const dst = hostAddress(org, 5);
  // Through the IPFIX exporter of the organisation's supplier (which carries its traffic).
  const e = exporters.findIndex((x) => x.supplier === org % SOAK_SUPPLIERS && x.protocol === 'IPFIX');
  const probes = portScanFlows(src, dst, options.scanPorts, now);
  for (let i = 0; i < probes.length; i += RECORDS_PER_DATAGRAM) {
    const d = dataDatagram(exporters[e] as (typeof exporters)[number], probes.slice(i, i + RECORDS_PER_DATAGRAM), now);
    send(e, restamp(d, now, sequence[e] as number), d.flows);
    datagrams++;
    flows += d.flows;
  }
  say({ type: 'incident', n, src, dst, ms: now, flows: probes.length });
}

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});
const perMs = options.rate / RECORDS_PER_DATAGRAM / 1000;
const cpu0 = process.cpuUsage();
const start = Date.now();
for (let e = 0; e < exporters.length; e++) sendTemplates(e, start);
const end = start + options.seconds * 1000;
let nextIncident = start + options.firstIncidentS * 1000;
let nextProgress = start + 1000;
let sent = 0;
let rr = 0;
for (let now = start; now < end && !stopping; now = Date.now()) {
  const due = Math.floor((now - start) * perMs);
  while (sent < due) {
    const e = rr++ % exporters.length;
    // Templates refreshed every 20 s per exporter, as routers do on a timer.
    if (now - (lastTemplate[e] as number) >= 20_000) sendTemplates(e, now);
    const pool = pools[e] as StampedDatagram[];
    const d = pool[(next[e] as number) % pool.length] as StampedDatagram;
    next[e] = (next[e] as number) + 1;
    send(e, restamp(d, now, sequence[e] as number), d.flows);
    sent++;
    datagrams++;
    flows += d.flows;
  }
  if (now >= nextIncident) {
    sendIncident(now);
    nextIncident += options.incidentEveryS * 1000;
  }
  if (now >= nextProgress) {
    say({ type: 'progress', ms: now, datagrams, flows, templates, incidents, errors });
    nextProgress += 1000;
  }
  await new Promise((r) => setTimeout(r, 1));
}
const cpu = process.cpuUsage(cpu0);
await new Promise((r) => setTimeout(r, 200));
for (const s of sockets) s.close();
say({
  type: 'done',
  ms: Date.now(),
  seconds: (Date.now() - start) / 1000,
  datagrams,
  flows,
  templates,
  incidents,
  errors,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
});
