import type { FlowRecord } from '@flowwatch/flow-schema';
import { emitConversation, TCP_SYN } from '../conversation.js';
import { serviceV4 } from '../network.js';
import { botAddress, UPLINK_IF } from '../traffic-model.js';
import {
  conversationFor,
  makeLabel,
  numberParam,
  overlap,
  type Scenario,
  type ScenarioFactory,
  setupRandom,
  stringParam,
  windowRandom,
} from './scenario.js';

/**
 * DDoS on a national service (`service`, default spine): a botnet of `bots` addresses (default 3000)
 * sends `rate` flows a second (default 2,500 for SYN, 800 for UDP) at the service's first two addresses. `kind: syn` (the
 * default) is a SYN flood to 443, one to three 40-60 byte SYNs per flow; `kind: udp` a UDP flood of
 * large datagrams. The flood arrives from the Internet through every supplier, so every exporter
 * reports a share of it.
 */
export const ddos: ScenarioFactory = (network, setup) => {
  const name = setup.params.kind === 'udp' && setup.id.startsWith('udp-flood') ? 'udp-flood' : 'ddos';
  const rng = setupRandom(setup);
  const serviceId = stringParam(setup.params, 'service') ?? 'spine';
  const service = network.services.find((s) => s.id === serviceId);
  if (!service) throw new RangeError(`no service ${serviceId} in the simulated network`);
  const botCount = Math.round(numberParam(setup.params, 'bots', 3000));
  const kind = stringParam(setup.params, 'kind') ?? 'syn';
  if (kind !== 'syn' && kind !== 'udp') throw new RangeError(`ddos kind must be syn or udp, got ${kind}`);
  // A small attack by today's standards: about 5,000 SYNs/s (one flow per SYN burst, as with
  // random source ports), or 90,000 packets/s (800 Mbit/s) of UDP.
  const rate = numberParam(setup.params, 'rate', kind === 'syn' ? 2500 : 800);
  const bots = Array.from({ length: botCount }, () => botAddress(rng));
  const targets = [serviceV4(service, 0), serviceV4(service, Math.min(1, service.hosts - 1))];
  const exporters = network.exporters;
  const c = conversationFor(exporters[0] ?? network.exporters[0]!);

  return {
    id: setup.id,
    name,
    startMs: setup.startMs,
    endMs: setup.endMs,
    flows(fromMs: number, toMs: number, out: FlowRecord[]) {
      const w = overlap(setup, fromMs, toMs);
      if (!w) return;
      const r = windowRandom(setup, fromMs);
      const n = r.poisson((rate * (w[1] - w[0])) / 1000);
      for (let i = 0; i < n; i++) {
        c.exporter = exporters[r.int(exporters.length)]!;
        c.v6 = false;
        c.tos = 0;
        c.client.addr = bots[r.int(bots.length)] as string;
        c.client.port = 1024 + r.int(64512);
        c.client.ifIndex = UPLINK_IF;
        c.client.net = 0;
        c.server.addr = targets[r.int(targets.length)] as string;
        c.server.ifIndex = 2;
        c.server.net = 24;
        c.endMs = w[0] + r.int(w[1] - w[0]);
        c.respPackets = 0;
        if (kind === 'syn') {
          c.proto = 6;
          c.server.port = 443;
          c.reqPackets = r.between(1, 3);
          c.reqBytes = c.reqPackets * r.between(40, 60);
          c.reqFlags = TCP_SYN;
          c.durationMs = (c.reqPackets - 1) * 1000;
        } else {
          c.proto = 17;
          c.server.port = r.chance(0.5) ? 443 : 53;
          c.reqPackets = r.between(20, 200);
          c.reqBytes = c.reqPackets * 1200;
          c.durationMs = r.between(500, 5000);
        }
        emitConversation(c, out);
      }
    },
    label: (stoppedMs) =>
      makeLabel(
        setup,
        name,
        {
          type: kind === 'syn' ? 'syn_flood' : 'flood',
          also: kind === 'syn' ? ['flood', 'volume_spike'] : ['volume_spike'],
          entity: { kind: 'service', id: service.id },
          related: targets.map((t) => ({ kind: 'host' as const, id: t })),
          detail: `${kind === 'syn' ? 'SYN' : 'UDP'} flood on ${service.id} (${targets.join(', ')}) from ${bots.length} bots at ${rate} flows/s`,
          facts: { service: service.id, targets, bots: bots.length, rate, kind },
        },
        stoppedMs,
      ),
  } satisfies Scenario;
};

/** The UDP variant of `ddos` under its own name (a `flood` label), for schedules that pick by name. */
export const udpFlood: ScenarioFactory = (network, setup) => ddos(network, { ...setup, params: { kind: 'udp', ...setup.params } });
