import type { RemoteInfo } from 'node:dgram';
import type { CollectorConfig, RegistryConfig } from '@flowwatch/config';
import { DEFAULT_TEMPLATE_LIMITS, type DecodeContext, type DecodeError, detectProtocol, exportTimeNs } from '@flowwatch/decoders';
import { OldestFirst } from '@flowwatch/insertion-order';
import { BufferedProducer, type ProducerOptions } from '@flowwatch/kafka';
import type { Service } from '@flowwatch/lifecycle';
import { RateLimitedLog, type ReadinessCheck, type Registry, ServiceMetrics } from '@flowwatch/observability';
import type { FastifyInstance } from 'fastify';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { type CollectorMetrics, createCollectorMetrics, registerKernelDropMetric } from './collector-metrics.js';
import { type DecodedDatagram, DecodeStage } from './decode-stage.js';
import { DecodeWorkers, type Received } from './decode-workers.js';
import { canonicalAddress, ExporterRegistry } from './exporter-registry.js';
import { FlowOutput } from './flow-output.js';
import { buildPushServer } from './push-server.js';
import { UdpListener } from './udp-listener.js';

export interface CollectorDeps {
  logger: Logger;
  registry: Registry;
  kafka: Kafka;
  /** The collector's producer buffers within these bounds while Kafka is slow or down. */
  producerOptions: ProducerOptions;
  topics: { flows: string; dlq: string };
  /** Readiness checks of the process; the collector adds its own. */
  readiness: ReadinessCheck[];
  now?: () => number;
}

export interface Collector extends Service {
  /** Ports actually bound (useful with port 0 in tests). */
  ports(): { netflow: number; ipfix: number; sflow: number; push: number };
  /** Replaces the supplier registry without dropping traffic. */
  reload(registry: RegistryConfig): void;
  /** Unregistered sources seen, with datagram counts (bounded), for operators. */
  unknownSources(): { address: string; datagrams: number; lastSeen: string }[];
  /** Feeds one datagram as if received (for tests and the decode path). */
  handleDatagram(buf: Buffer, source: { address: string; port: number }): void;
  readonly push: FastifyInstance | undefined;
  /** Resolves when everything received so far is acknowledged by Kafka. */
  flush(): Promise<void>;
}

const UNKNOWN_SOURCES_MAX = 1024;
const EXPIRE_INTERVAL_MS = 1000;

/**
 * The collector: UDP listeners for NetFlow v5/v9, IPFIX and sFlow v5 (protocol detected from the
 * version field on any port), and the HTTPS push endpoint. Datagrams are accepted only from
 * registered exporters; records go to `flows`, everything rejected goes to `flows.dlq` with the
 * reason. Kafka being slow or down fills the producer's bounded buffer; beyond it, records are
 * refused and counted, and /readyz reports the collector not ready.
 */
export function createCollector(deps: CollectorDeps, config: CollectorConfig, registryConfig: RegistryConfig): Collector {
  const logger = deps.logger.child({ component: 'collector' });
  const metrics: CollectorMetrics = createCollectorMetrics(deps.registry);
  const producer = new BufferedProducer(deps.kafka, deps.producerOptions, new ServiceMetrics(deps.registry, 'collector'), logger);
  const output = new FlowOutput(producer, deps.topics, config.flowsPerMessage, metrics, config.flowsEncoding);
  const warnOnce = new RateLimitedLog(logger);
  // collector.workers = 0: decode here; otherwise in worker threads, one exporter always in the same one.
  const limits = { ...DEFAULT_TEMPLATE_LIMITS, ...config.templates };
  const stage = config.workers === 0 ? new DecodeStage(limits, config.flowsPerMessage, config.flowsEncoding) : undefined;
  let exporters = new ExporterRegistry(registryConfig);
  const unknown = new Map<string, { datagrams: number; lastSeen: number }>();
  const oldestUnknown = new OldestFirst(unknown);
  const now = deps.now ?? Date.now;
  // collector.timeReceivedFrom = export: records carry their datagram's export time (simulations
  // and replays whose event time runs ahead of the clock); sFlow, which states none, gets the
  // latest export time seen. Held data sets still expire by the clock.
  const fromExport = config.timeReceivedFrom === 'export';
  let lastExportNs = 0;

  const onDatagram = (buf: Buffer, rinfo: RemoteInfo | { address: string; port: number }) => {
    const address = canonicalAddress(rinfo.address);
    const exporter = exporters.exporter(address);
    if (!exporter) {
      metrics.unknownSource.inc();
      let u = unknown.get(address);
      if (!u) {
        if (unknown.size >= UNKNOWN_SOURCES_MAX) oldestUnknown.shift();
        unknown.set(address, (u = { datagrams: 0, lastSeen: 0 }));
        metrics.unknownSources.set(unknown.size);
      }
      u.datagrams++;
      u.lastSeen = now();
      warnOnce.warn(
        `unknown:${address}`,
        { source: address, port: rinfo.port, datagrams: u.datagrams },
        'datagram from an unregistered exporter dropped',
      );
      return;
    }
    const receivedNs = now() * 1e6;
    const protocol = detectProtocol(buf) ?? 'unknown';
    metrics.datagrams.inc({ protocol, supplier: exporter.supplierId });
    metrics.datagramBytes.inc({ supplier: exporter.supplierId }, buf.length);
    let stampNs: number | undefined;
    if (fromExport) {
      const exported = exportTimeNs(buf);
      if (exported !== undefined && exported > lastExportNs) lastExportNs = exported;
      stampNs = exported ?? (lastExportNs || receivedNs);
    }
    const received: Received = { exporter, address, port: rinfo.port, atMs: (stampNs ?? receivedNs) / 1e6 };
    if (stage) {
      const ctx: DecodeContext = {
        exporter: address,
        receivedNs,
        supplierId: exporter.supplierId,
        exporterId: exporter.exporterId,
        defaultSamplingRate: exporter.defaultSamplingRate,
      };
      deliver(received, stage.process(buf, ctx, stampNs), buf);
    } else {
      const status = workers?.submit(buf, received, receivedNs, stampNs) ?? 'stopped';
      if (status !== 'queued') {
        const reason = status === 'full' ? 'worker_queue_full' : 'stopped';
        metrics.rejected.inc({ protocol, supplier: exporter.supplierId, reason });
        warnOnce.warn(
          `worker-${reason}`,
          { supplier: exporter.supplierId, reason },
          'datagram not decoded (decode workers): dropped and counted',
        );
      }
    }
  };

  /**
   * Telemetry without flows (docs/collector.md, "Telemetry liveness"): exporters whose datagrams
   * since the last heartbeat all decoded without records or errors (an sFlow agent's counter
   * samples, a template refresh), with the latest reception time; and those that sent records.
   */
  const quiet = new Map<string, { supplierId: string; exporterId: string; atMs: number }>();
  const withRecords = new Set<string>();
  const heartbeat = () => {
    for (const [key, h] of quiet) {
      if (withRecords.has(key)) continue;
      if (output.writeHeartbeat(h) === 'queued') metrics.heartbeats.inc({ supplier: h.supplierId });
    }
    quiet.clear();
    withRecords.clear();
  };

  /** A decoded datagram's records to `flows`, its errors to `flows.dlq`. */
  const deliver = (r: Received, d: DecodedDatagram, datagram?: Uint8Array) => {
    metrics.decodeSeconds.observe(d.decodeSeconds);
    const protocol = d.protocol ?? 'unknown';
    const { supplierId, exporterId } = r.exporter;
    if (config.heartbeatMs > 0) {
      const key = `${supplierId}/${exporterId}`;
      if (d.records > 0) withRecords.add(key);
      else if (d.errors.length === 0) {
        const held = quiet.get(key);
        if (held === undefined) quiet.set(key, { supplierId, exporterId, atMs: r.atMs });
        else if (r.atMs > held.atMs) held.atMs = r.atMs;
      }
    }
    if (d.messages.length > 0) {
      if (output.writeValues(supplierId, exporterId, d.messages) === 'queued') {
        metrics.records.inc({ protocol, supplier: supplierId }, d.messageRecords);
      } else {
        metrics.rejected.inc({ protocol, supplier: supplierId, reason: 'kafka_buffer_full' }, d.messageRecords);
        warnOnce.warn('kafka-buffer-full', { supplier: supplierId }, 'kafka buffer full: records refused and counted');
      }
    }
    const source = `udp:${r.address}:${r.port}`;
    for (const e of d.errors) reject(e, protocol, supplierId, exporterId, source, e.raw ?? datagram ?? new Uint8Array());
  };

  const workers =
    config.workers > 0
      ? new DecodeWorkers({
          workers: config.workers,
          queueDatagrams: config.workerQueueDatagrams,
          limits,
          flowsPerMessage: config.flowsPerMessage,
          flowsEncoding: config.flowsEncoding,
          logger,
          onDecoded: (r, d) => deliver(r, d),
          onExpired: (errors) => expired(errors),
          onLost: (r, reason) => {
            metrics.rejected.inc({ protocol: 'unknown', supplier: r.exporter.supplierId, reason });
            warnOnce.warn(`worker-lost:${reason}`, { supplier: r.exporter.supplierId, reason }, 'datagrams lost with a decode worker');
          },
        })
      : undefined;

  const reject = (e: DecodeError, protocol: string, supplierId: string, exporterId: string, source: string, datagram: Uint8Array) => {
    metrics.rejected.inc({ protocol, supplier: supplierId, reason: e.reason }, e.count);
    warnOnce.warn(`reject:${source}:${e.reason}`, { source, protocol, reason: e.reason, detail: e.detail }, 'flow data rejected');
    output.deadLetter({
      reason: e.reason,
      detail: e.detail,
      source,
      protocol,
      supplier_id: supplierId,
      exporter_id: exporterId,
      received_at: new Date(now()).toISOString(),
      raw: e.raw ?? datagram,
    });
  };

  const listeners = [
    new UdpListener({ host: config.host, port: config.netflowPort, receiveBufferBytes: config.receiveBufferBytes, onDatagram, logger }),
    new UdpListener({ host: config.host, port: config.ipfixPort, receiveBufferBytes: config.receiveBufferBytes, onDatagram, logger }),
    new UdpListener({ host: config.host, port: config.sflowPort, receiveBufferBytes: config.receiveBufferBytes, onDatagram, logger }),
  ];
  const push = config.push.enabled
    ? buildPushServer({
        config: config.push,
        registry: () => exporters,
        output,
        metrics,
        logger,
        warnOnce,
        canAccept: () => producer.hasRoom(),
        keepPushedTime: fromExport,
        now,
      })
    : undefined;
  let pushPort = 0;
  let timer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let started = false;

  const expire = () => {
    if (workers) {
      // The workers answer later; their errors go through `expired`, their figures into stats().
      workers.expire(now() * 1e6);
      const s = workers.stats();
      metrics.templates.set(s.templates);
      metrics.templateBytes.set(s.templateBytes);
      metrics.pendingSets.set(s.pendingSets);
      const depths = workers.depths();
      for (let i = 0; i < depths.length; i++) metrics.workerQueue.set({ worker: String(i) }, depths[i] as number);
      return;
    }
    if (!stage) return;
    expired(stage.expire(now() * 1e6));
    const s = stage.stats();
    metrics.templates.set(s.templates);
    metrics.templateBytes.set(s.templateBytes);
    metrics.pendingSets.set(s.pendingSets);
  };

  const expired = (errors: DecodeError[]) => {
    for (const e of errors) {
      const exporter = e.exporter ? exporters.exporter(e.exporter) : undefined;
      reject(
        e,
        'template',
        exporter?.supplierId ?? 'unknown',
        exporter?.exporterId ?? '',
        `udp:${e.exporter ?? 'unknown'}`,
        e.raw ?? new Uint8Array(),
      );
    }
  };

  registerKernelDropMetric(deps.registry, () => listeners.map((l) => l.boundPort).filter((p) => p > 0));

  return {
    name: 'collector',
    push,
    async start() {
      await producer.start();
      await workers?.start();
      for (const l of listeners) await l.start();
      if (push) {
        await push.listen({ host: config.push.host, port: config.push.port });
        const addr = push.server.address();
        pushPort = typeof addr === 'object' && addr ? addr.port : config.push.port;
      }
      timer = setInterval(expire, EXPIRE_INTERVAL_MS);
      timer.unref();
      if (config.heartbeatMs > 0) {
        heartbeatTimer = setInterval(heartbeat, config.heartbeatMs);
        heartbeatTimer.unref();
      }
      started = true;
      deps.readiness.push({
        name: 'collector',
        check: () => {
          if (!started) return { ready: false, reason: 'stopped' };
          const p = producer.ready();
          return p.ready ? p : { ready: false, reason: `collector cannot forward: ${p.reason}` };
        },
      });
      logger.info(
        {
          netflow: listeners[0]?.boundPort,
          ipfix: listeners[1]?.boundPort,
          sflow: listeners[2]?.boundPort,
          push: pushPort,
          workers: config.workers,
          suppliers: exporters.supplierIds.size,
        },
        'collector listening',
      );
    },
    async stop() {
      started = false;
      if (timer) clearInterval(timer);
      if (heartbeatTimer) clearInterval(heartbeatTimer);
      // Stop receiving first, then let the producer drain what was received.
      for (const l of listeners) await l.stop();
      await push?.close();
      // The workers hand over what they hold before the producer drains.
      await workers?.stop();
      await producer.stop();
    },
    ports: () => ({
      netflow: listeners[0]?.boundPort ?? 0,
      ipfix: listeners[1]?.boundPort ?? 0,
      sflow: listeners[2]?.boundPort ?? 0,
      push: pushPort,
    }),
    reload(registry) {
      exporters = new ExporterRegistry(registry);
      logger.info({ suppliers: exporters.supplierIds.size }, 'registry reloaded');
    },
    unknownSources: () =>
      [...unknown]
        .map(([address, u]) => ({ address, datagrams: u.datagrams, lastSeen: new Date(u.lastSeen).toISOString() }))
        .sort((a, b) => b.datagrams - a.datagrams),
    handleDatagram: (buf, source) => onDatagram(buf, source),
    flush: async () => {
      await workers?.idle();
      await producer.flush();
    },
  };
}
