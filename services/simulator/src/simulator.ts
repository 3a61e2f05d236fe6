import { createSocket, type Socket } from 'node:dgram';
import type { SimulatorConfig } from '@flowwatch/config';
import type { Service } from '@flowwatch/lifecycle';
import { RateLimitedLog, type Registry } from '@flowwatch/observability';
import { type CollectorPort, FLOW_TYPE_OF, type Label, Simulation, type SimulationPlan } from '@flowwatch/simulator';
import type { Logger } from 'pino';
import { LabelsWriter } from './labels-writer.js';
import { PushClient } from './push-client.js';
import { createSimulatorMetrics } from './simulator-metrics.js';

/** A counter child with its labels bound (prom-client's `counter.labels(...)`). */
interface Increment {
  inc(value?: number): void;
}

export interface SimulatorDeps {
  logger: Logger;
  registry: Registry;
  /** Wall clock (ms); tests may replace it. */
  now?: () => number;
  fetch?: typeof fetch;
}

/** Where the collector listens. */
export interface CollectorTarget {
  host: string;
  ports: Record<CollectorPort, number>;
  /** http(s)://host:port/api/v1/flows */
  pushUrl: string;
}

export interface SimulatorStats {
  records: number;
  datagrams: number;
  pushes: number;
  labels: Label[];
  /** Event time sent so far (ms). */
  eventMs: number;
  startedAt: number;
}

export interface Simulator extends Service {
  /** Resolves when the configured duration has been simulated and sent (never without a duration). */
  readonly done: Promise<void>;
  stats(): SimulatorStats;
}

/**
 * The simulator as a service: a UDP socket bound to each exporter's 127.x address, a push client
 * with each push supplier's token, and a loop that every `tickMs` moves the simulated clock to
 * start + (wall time elapsed) x speed, lets the Simulation generate and encode what that reached
 * (at most `maxRate` records a second; it falls behind rather than drops) and sends it. Labels are
 * appended to `labelsFile` as scenarios end, and on stop for those cut short.
 */
export function createSimulator(deps: SimulatorDeps, config: SimulatorConfig, plan: SimulationPlan, target: CollectorTarget): Simulator {
  const logger = deps.logger.child({ component: 'simulator' });
  const metrics = createSimulatorMetrics(deps.registry);
  const warnOnce = new RateLimitedLog(logger);
  const now = deps.now ?? Date.now;
  const labels = new LabelsWriter(config.labelsFile);
  const tokens = new Map(plan.network.suppliers.filter((s) => s.pushToken).map((s) => [s.id, s.pushToken as string]));
  const push = new PushClient({ url: target.pushUrl, tokens, metrics, warnOnce, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
  /** Per exporter: its socket, its send callback and its metric children (no per-datagram closures or label look-ups). */
  const sockets = new Map<
    string,
    { socket: Socket; onSent: (err: Error | null) => void; datagrams: Increment; records: Increment; bytes: Increment }
  >();
  const stats: SimulatorStats = { records: 0, datagrams: 0, pushes: 0, labels: [], eventMs: plan.options.startMs, startedAt: 0 };
  let simulation: Simulation | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let wallStart = 0;
  let tokensLeft = 0;
  let lastTick = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });

  const writeLabels = (out: readonly Label[]) => {
    if (out.length === 0) return;
    labels.write(out);
    stats.labels.push(...out);
    for (const l of out) {
      metrics.labels.inc({ type: l.type });
      logger.info({ label: l.id, type: l.type, entity: l.entity, start: l.start, end: l.end }, 'scenario ended');
    }
  };

  const tick = () => {
    timer = undefined;
    if (!running || !simulation) return;
    const sim = simulation;
    const wall = now();
    // Token bucket on records: refilled at maxRate, holding at most a fifth of a second's worth.
    tokensLeft = Math.min(config.maxRate * 0.2, tokensLeft + ((wall - lastTick) / 1000) * config.maxRate);
    lastTick = wall;
    let clock = plan.options.startMs + (wall - wallStart) * config.speed;
    if (plan.endMs !== undefined) clock = Math.min(clock, plan.endMs);
    if (tokensLeft > 0 && !push.full()) {
      const step = sim.advance(clock, tokensLeft);
      tokensLeft -= step.records;
      for (const d of step.datagrams) {
        const out = sockets.get(d.exporter.address);
        if (!out) continue;
        out.socket.send(d.bytes, target.ports[d.port], target.host, out.onSent);
        out.datagrams.inc();
        out.records.inc(d.records);
        out.bytes.inc(d.bytes.length);
        stats.datagrams++;
        stats.records += d.records;
      }
      for (const p of step.pushes) {
        push.push(p);
        stats.pushes++;
        stats.records += p.records;
      }
      writeLabels(step.labels);
      stats.eventMs = step.eventMs;
    }
    metrics.eventTime.set(stats.eventMs / 1000);
    metrics.lag.set(Math.max(0, clock - stats.eventMs) / 1000);
    metrics.activeScenarios.set(sim.scenarios.filter((s) => s.startMs <= stats.eventMs && s.endMs > stats.eventMs).length);
    if (plan.endMs !== undefined && stats.eventMs + sim.slotMs > plan.endMs) {
      logger.info({ records: stats.records, eventMs: stats.eventMs }, 'simulated duration complete');
      running = false;
      resolveDone();
      return;
    }
    timer = setTimeout(tick, config.tickMs);
  };

  return {
    name: 'simulator',
    done,
    stats: () => stats,
    async start() {
      simulation = new Simulation(plan.network, plan.options);
      for (const e of plan.network.exporters) {
        if (e.address === '') continue;
        const socket = createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind({ address: e.address, port: 0 }, () => {
            socket.off('error', reject);
            resolve();
          });
        }).catch((err: Error) => {
          throw new Error(`cannot send as exporter ${e.supplierId}/${e.id} from ${e.address}: ${err.message}`);
        });
        socket.on('error', (err) => warnOnce.warn(`socket:${e.address}`, { err: err.message }, 'exporter socket error'));
        const labels = { protocol: FLOW_TYPE_OF[e.protocol], supplier: e.supplierId };
        sockets.set(e.address, {
          socket,
          onSent: (err) => {
            if (!err) return;
            metrics.sendErrors.inc({ reason: 'udp_send' });
            warnOnce.warn(`udp:${e.address}`, { exporter: e.id, err: err.message }, 'datagram not sent');
          },
          datagrams: metrics.datagrams.labels(labels),
          records: metrics.records.labels(labels),
          bytes: metrics.sentBytes.labels({ supplier: e.supplierId }),
        });
      }
      wallStart = now();
      lastTick = wallStart;
      stats.startedAt = wallStart;
      running = true;
      logger.info(
        {
          suppliers: plan.network.suppliers.length,
          organisations: plan.network.organisations.length,
          exporters: sockets.size,
          start: new Date(plan.options.startMs).toISOString(),
          speed: config.speed,
          rate: config.rate,
          scenarios: simulation.scenarios.map((s) => `${s.id}@${new Date(s.startMs).toISOString()}`),
          collector: target,
        },
        'simulator sending',
      );
      timer = setTimeout(tick, 0);
    },
    async stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      running = false;
      if (simulation) writeLabels(simulation.finish());
      simulation = undefined;
      await push.drain(2000);
      push.stop();
      for (const s of sockets.values()) s.socket.close();
      sockets.clear();
    },
  };
}

/** The collector's address as the simulator should send to it: a wildcard listener is reached on loopback. */
export function collectorTarget(collector: {
  host: string;
  netflowPort: number;
  ipfixPort: number;
  sflowPort: number;
  push: { host: string; port: number; tls?: unknown };
}): CollectorTarget {
  const local = (h: string) => (h === '0.0.0.0' || h === '::' || h === '' ? '127.0.0.1' : h);
  const pushHost = local(collector.push.host);
  return {
    host: local(collector.host),
    ports: { netflow: collector.netflowPort, ipfix: collector.ipfixPort, sflow: collector.sflowPort },
    pushUrl: `${collector.push.tls ? 'https' : 'http'}://${pushHost.includes(':') ? `[${pushHost}]` : pushHost}:${collector.push.port}/api/v1/flows`,
  };
}
