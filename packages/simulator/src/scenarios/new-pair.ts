import type { FlowRecord } from '@flowwatch/flow-schema';
import { emitConversation, TCP_SESSION } from '../conversation.js';
import { serverV4 } from '../network.js';
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
 * A new organisation pair: a GP practice starts exchanging HL7 messages (TCP 2575) with a council
 * on another supplier, which it never talked to (an integration switched on without a change
 * record, or a supplier link misused): `sessions` a minute (default 1), small exchanges.
 */
export const newPair: ScenarioFactory = (network, setup) => {
  const rng = setupRandom(setup);
  const org = pickOrganisation(network, rng, ['gp-practice'], stringParam(setup.params, 'organisation'));
  const named = stringParam(setup.params, 'peer');
  const peers = network.organisations.filter((o) => o.type === 'local-authority' && o.supplierId !== org.supplierId);
  const peer = named
    ? network.organisations.find((o) => o.code === named)
    : rng.pick(peers.length > 0 ? peers : network.organisations.filter((o) => o !== org));
  if (!peer) throw new RangeError(`no organisation ${named} in the simulated network`);
  const source = pickClient(org, rng);
  const server = serverV4(peer, Math.min(2, peer.servers - 1));
  const perMinute = numberParam(setup.params, 'sessions', 1);
  const jitter = jitterOf(setup, 0.5);
  const c = conversationFor(org.exporter);

  return {
    id: setup.id,
    name: 'new-pair',
    startMs: setup.startMs,
    endMs: setup.endMs,
    flows(fromMs: number, toMs: number, out: FlowRecord[]) {
      periodic(setup, 60_000 / perMinute, fromMs, toMs, jitter, (k, t) => {
        const r = Random.derive(setup.seed, setup.id, 'message', k);
        c.proto = 6;
        c.v6 = false;
        c.tos = 0;
        c.client.addr = source;
        c.client.port = 49152 + r.int(16384);
        c.client.ifIndex = org.ifIndex;
        c.client.net = org.v4.length;
        c.server.addr = server;
        c.server.port = 2575;
        c.server.ifIndex = peer.exporter === org.exporter ? peer.ifIndex : UPLINK_IF;
        c.server.net = peer.v4.length;
        c.endMs = t;
        c.durationMs = r.between(100, 900);
        c.reqBytes = r.between(1500, 12_000);
        c.reqPackets = r.between(4, 12);
        c.respBytes = r.between(300, 900);
        c.respPackets = r.between(3, 6);
        c.reqFlags = TCP_SESSION;
        c.respFlags = TCP_SESSION;
        emitConversation(c, out);
      });
    },
    label: (stoppedMs) =>
      makeLabel(
        setup,
        'new-pair',
        {
          type: 'new_pair',
          entity: { kind: 'organisation', id: org.code },
          related: [
            { kind: 'organisation', id: peer.code },
            { kind: 'host', id: source },
          ],
          detail: `${org.code} (${org.supplierId}) starts HL7 exchanges with ${peer.code} (${peer.supplierId}), never seen before`,
          facts: { organisation: org.code, peer: peer.code, source, server, supplier: org.supplierId, port: 2575 },
        },
        stoppedMs,
      ),
  } satisfies Scenario;
};
