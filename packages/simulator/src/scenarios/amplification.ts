import type { FlowRecord } from '@flowwatch/flow-schema';
import { emitConversation } from '../conversation.js';
import { serverV4 } from '../network.js';
import { botAddress, UPLINK_IF } from '../traffic-model.js';
import {
  conversationFor,
  makeLabel,
  numberParam,
  overlap,
  pickOrganisation,
  type Scenario,
  type ScenarioFactory,
  setupRandom,
  stringParam,
  windowRandom,
} from './scenario.js';

/** Reflector protocols: source port and typical response datagram size. */
const REFLECTORS = [
  { port: 53, bytes: 3000 }, // DNS ANY
  { port: 123, bytes: 468 }, // NTP monlist
  { port: 389, bytes: 2900 }, // CLDAP
  { port: 11211, bytes: 1400 }, // memcached
  { port: 1900, bytes: 620 }, // SSDP
] as const;

/**
 * Reflection/amplification attack on an organisation's public-facing server: `reflectors` open
 * resolvers, NTP, CLDAP, memcached and SSDP servers (default 300) answer spoofed requests with
 * large UDP datagrams, `rate` bits a second in all (default 600 Mbit/s), through the
 * organisation's exporter. One protocol per attack (`protocol`: 53, 123, 389, 11211, 1900).
 */
export const amplification: ScenarioFactory = (network, setup) => {
  const rng = setupRandom(setup);
  const org = pickOrganisation(
    network,
    rng,
    ['acute-trust', 'community-trust', 'mental-health-trust', 'local-authority', 'ambulance-trust'],
    stringParam(setup.params, 'organisation'),
  );
  const victim = serverV4(org, Math.min(2, org.servers - 1));
  const rate = numberParam(setup.params, 'rate', 600e6);
  const count = Math.round(numberParam(setup.params, 'reflectors', 300));
  const wanted = stringParam(setup.params, 'protocol');
  const proto = wanted === undefined ? rng.pick(REFLECTORS) : REFLECTORS.find((r) => String(r.port) === wanted);
  if (!proto) throw new RangeError(`amplification protocol must be one of ${REFLECTORS.map((r) => r.port).join(', ')}`);
  const reflectors = Array.from({ length: count }, () => botAddress(rng));
  const c = conversationFor(org.exporter);
  // One flow per reflector per second of the window: packets follow from the rate.
  const packetsPerSecond = rate / 8 / proto.bytes;

  return {
    id: setup.id,
    name: 'amplification',
    startMs: setup.startMs,
    endMs: setup.endMs,
    flows(fromMs: number, toMs: number, out: FlowRecord[]) {
      const w = overlap(setup, fromMs, toMs);
      if (!w) return;
      const r = windowRandom(setup, fromMs);
      for (let s = Math.ceil(w[0] / 1000) * 1000; s < w[1]; s += 1000) {
        for (const reflector of reflectors) {
          const packets = r.poisson(packetsPerSecond / reflectors.length);
          if (packets === 0) continue;
          c.proto = 17;
          c.v6 = false;
          c.tos = 0;
          c.client.addr = reflector;
          c.client.port = proto.port;
          c.client.ifIndex = UPLINK_IF;
          c.client.net = 0;
          c.server.addr = victim;
          c.server.port = 1024 + r.int(64512);
          c.server.ifIndex = org.ifIndex;
          c.server.net = org.v4.length;
          c.endMs = s + r.int(1000);
          c.durationMs = Math.min(999, c.endMs - s);
          c.reqPackets = packets;
          c.reqBytes = packets * proto.bytes;
          c.respPackets = 0;
          emitConversation(c, out);
        }
      }
    },
    label: (stoppedMs) =>
      makeLabel(
        setup,
        'amplification',
        {
          type: 'amplification',
          entity: { kind: 'host', id: victim },
          related: [{ kind: 'organisation', id: org.code }],
          also: ['flood', 'volume_spike'],
          detail: `UDP/${proto.port} reflection from ${count} reflectors onto ${victim} in ${org.code} at ${Math.round(rate / 1e6)} Mbit/s`,
          facts: { target: victim, organisation: org.code, supplier: org.supplierId, port: proto.port, reflectors: count, rate_bps: rate },
        },
        stoppedMs,
      ),
  } satisfies Scenario;
};
