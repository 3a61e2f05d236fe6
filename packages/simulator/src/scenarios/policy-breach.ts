import type { FlowRecord } from '@flowwatch/flow-schema';
import { emitConversation, TCP_SESSION } from '../conversation.js';
import { serviceV4 } from '../network.js';
import { Random } from '../random.js';
import { UPLINK_IF } from '../traffic-model.js';
import {
  carriersOf,
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

/** The rule the policy-breach scenario breaks, for the detector's policy configuration. */
export const PACS_POLICY = { service: 'pacs', allowedGroups: ['acute-trusts'] } as const;

/**
 * Policy breach: an organisation outside the groups allowed to use the imaging exchange (a care
 * home by default) retrieves images from it over DICOM, `sessions` per minute (default 2), each a
 * few tens of MB. Background traffic only ever reaches PACS from acute trusts.
 */
export const policyBreach: ScenarioFactory = (network, setup) => {
  const rng = setupRandom(setup);
  const org = pickOrganisation(network, rng, ['care-home'], stringParam(setup.params, 'organisation'));
  const source = pickClient(org, rng);
  const pacs = network.services.find((s) => s.id === PACS_POLICY.service);
  if (!pacs) throw new RangeError('the simulated network has no pacs service');
  const perMinute = numberParam(setup.params, 'sessions', 2);
  const jitter = jitterOf(setup, 0.5);
  const c = conversationFor(org.exporter);

  return {
    id: setup.id,
    name: 'policy-breach',
    startMs: setup.startMs,
    endMs: setup.endMs,
    flows(fromMs: number, toMs: number, out: FlowRecord[]) {
      periodic(setup, 60_000 / perMinute, fromMs, toMs, jitter, (k, t) => {
        const r = Random.derive(setup.seed, setup.id, 'session', k);
        c.proto = 6;
        c.v6 = false;
        c.tos = 0;
        c.client.addr = source;
        c.client.port = 49152 + r.int(16384);
        c.client.ifIndex = org.ifIndex;
        c.client.net = org.v4.length;
        c.server.addr = serviceV4(pacs, r.int(pacs.hosts));
        c.server.port = 104;
        c.server.ifIndex = UPLINK_IF;
        c.server.net = 24;
        c.endMs = t;
        c.durationMs = r.between(5000, 25_000);
        c.reqBytes = r.between(2000, 8000);
        c.reqPackets = r.between(10, 40);
        c.respBytes = Math.round(r.logNormal(30e6, 0.5));
        c.respPackets = Math.ceil(c.respBytes / 1400);
        c.reqFlags = TCP_SESSION;
        c.respFlags = TCP_SESSION;
        emitConversation(c, out);
      });
    },
    label: (stoppedMs) =>
      makeLabel(
        setup,
        'policy-breach',
        {
          type: 'policy',
          also: ['new_pair', 'volume_spike'],
          entity: { kind: 'organisation', id: org.code },
          related: [{ kind: 'host', id: source }, { kind: 'service', id: pacs.id }, ...carriersOf(org)],
          detail: `${org.code} (${org.type}) retrieves images from ${pacs.id}, which only ${PACS_POLICY.allowedGroups.join(', ')} may use`,
          facts: {
            organisation: org.code,
            organisation_type: org.type,
            source,
            service: pacs.id,
            rule: `only groups ${PACS_POLICY.allowedGroups.join(', ')} may reach service ${pacs.id}`,
            supplier: org.supplierId,
          },
        },
        stoppedMs,
      ),
  } satisfies Scenario;
};
