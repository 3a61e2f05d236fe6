import { readFileSync } from 'node:fs';
import { Counter, type Registry, ServiceMetrics } from '@flowwatch/observability';

/** Every collector metric, named flowwatch_collector_*; labels from small fixed sets only. */
export function createCollectorMetrics(registry: Registry) {
  const m = new ServiceMetrics(registry, 'collector');
  return {
    datagrams: m.counter('datagrams', 'UDP datagrams received from registered exporters, by protocol and supplier', [
      'protocol',
      'supplier',
    ]),
    datagramBytes: m.counter('datagram_bytes', 'Bytes of UDP datagrams received from registered exporters', ['supplier']),
    unknownSource: m.counter('unknown_source_datagrams', 'Datagrams dropped because their source is no registered exporter'),
    unknownSources: m.gauge('unknown_sources', 'count', 'Distinct unregistered source addresses seen (bounded table)'),
    records: m.counter('records', 'Flow records decoded or accepted, by protocol and supplier', ['protocol', 'supplier']),
    rejected: m.counter('rejected', 'Datagrams, sets or records rejected, by protocol, supplier and reason', [
      'protocol',
      'supplier',
      'reason',
    ]),
    templates: m.gauge('templates', 'count', 'Templates held for NetFlow v9 and IPFIX exporters'),
    templateBytes: m.gauge(
      'templates',
      'bytes',
      'Estimated heap bytes of those templates (bounded by collector.templates.maxTemplateBytes)',
    ),
    pendingSets: m.gauge('pending_sets', 'count', 'Data sets held waiting for their template'),
    workerQueue: m.gauge('worker_queued_datagrams', 'count', 'Datagrams waiting for or inside each decode worker (collector.workers)', [
      'worker',
    ]),
    decodeSeconds: m.histogram(
      'decode_duration',
      'seconds',
      'Time to decode one datagram',
      [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005],
    ),
    pushRequests: m.counter('push_requests', 'HTTPS push requests by status code class and supplier', ['status', 'supplier']),
    deadLetters: m.counter('dead_letters', 'Messages sent to the dead-letter topic, by reason', ['reason']),
    heartbeats: m.counter(
      'heartbeats',
      'Heartbeats on `flows` for exporters alive without flow records (counter samples, template refreshes)',
      ['supplier'],
    ),
  };
}
export type CollectorMetrics = ReturnType<typeof createCollectorMetrics>;

/**
 * Kernel receive drops of our UDP sockets, read from /proc/net/udp and udp6 (the `drops` column)
 * at scrape time, so an operator can tell datagrams the kernel lost (socket buffer full) from
 * datagrams the collector refused. Summed per local port.
 */
export function registerKernelDropMetric(registry: Registry, ports: () => readonly number[]): void {
  const name = 'flowwatch_collector_kernel_udp_drops_total';
  if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
  new Counter({
    name,
    help: 'Datagrams the kernel dropped on the collector UDP sockets (from /proc/net/udp{,6})',
    labelNames: ['port'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [port, drops] of kernelUdpDrops(ports())) this.inc({ port: String(port) }, drops);
    },
  });
}

export function kernelUdpDrops(ports: readonly number[], files = ['/proc/net/udp', '/proc/net/udp6']): Map<number, number> {
  const wanted = new Set(ports);
  const out = new Map<number, number>();
  for (const p of ports) out.set(p, 0);
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 13) continue;
      const local = cols[1] ?? '';
      const port = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
      if (!wanted.has(port)) continue;
      const drops = Number(cols[cols.length - 1]);
      if (Number.isFinite(drops)) out.set(port, (out.get(port) ?? 0) + drops);
    }
  }
  return out;
}
