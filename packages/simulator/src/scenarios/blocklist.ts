import type { FlowRecord } from '@flowwatch/flow-schema';
import { emitConversation, TCP_SESSION } from '../conversation.js';
import { Random } from '../random.js';
import { UPLINK_IF } from '../traffic-model.js';
import {
  conversationFor,
  jitterOf,
  makeLabel,
  numberParam,
  periodic,
  pickClient,
  pickOrganisation,
  type Scenario,
  type ScenarioFactory,
  setupRandom,
  stringParam,
} from './scenario.js';

/**
 * Contact with a blocklisted address: an infected workstation beacons to a command-and-control
 * address on the network's blocklist (`indicator`, one of SimulatedNetwork.blocklist by default)
 * every `interval` seconds (default 60, with jitter), small HTTPS exchanges.
 */
export const blocklist: ScenarioFactory = (network, setup) => {
  const rng = setupRandom(setup);
  const org = pickOrganisation(
    network,
    rng,
    ['gp-practice', 'pharmacy', 'care-home', 'community-trust'],
    stringParam(setup.params, 'organisation'),
  );
  const source = stringParam(setup.params, 'source') ?? pickClient(org, rng);
  const indicator = stringParam(setup.params, 'indicator') ?? rng.pick(network.blocklist);
  const interval = numberParam(setup.params, 'interval', 60) * 1000;
  const jitter = jitterOf(setup, 0.2);
  const c = conversationFor(org.exporter);

  return {
    id: setup.id,
    name: 'blocklist',
    startMs: setup.startMs,
    endMs: setup.endMs,
    flows(fromMs: number, toMs: number, out: FlowRecord[]) {
      periodic(setup, interval, fromMs, toMs, jitter, (k, t) => {
        const r = Random.derive(setup.seed, setup.id, 'beacon', k);
        c.proto = 6;
        c.v6 = false;
        c.tos = 0;
        c.client.addr = source;
        c.client.port = 49152 + r.int(16384);
        c.client.ifIndex = org.ifIndex;
        c.client.net = org.v4.length;
        c.server.addr = indicator;
        c.server.port = 443;
        c.server.ifIndex = UPLINK_IF;
        c.server.net = 24;
        c.endMs = t;
        c.durationMs = r.between(200, 1500);
        c.reqBytes = r.between(900, 3000);
        c.reqPackets = r.between(5, 9);
        c.respBytes = r.between(1200, 9000);
        c.respPackets = r.between(4, 10);
        c.reqFlags = TCP_SESSION;
        c.respFlags = TCP_SESSION;
        emitConversation(c, out);
      });
    },
    label: (stoppedMs) =>
      makeLabel(
        setup,
        'blocklist',
        {
          type: 'blocklist',
          entity: { kind: 'host', id: source },
          related: [{ kind: 'organisation', id: org.code }],
          detail: `${source} in ${org.code} beacons to blocklisted ${indicator} every ${interval / 1000} s`,
          facts: { source, organisation: org.code, supplier: org.supplierId, indicator, interval_seconds: interval / 1000 },
        },
        stoppedMs,
      ),
  } satisfies Scenario;
};
