import type { FlowRecord } from '@flowwatch/flow-schema';
import { ipv4ToString } from '../addresses.js';
import { emitConversation, TCP_ACK, TCP_RST, TCP_SESSION, TCP_SYN } from '../conversation.js';
import { clientV4, type SimOrganisation } from '../network.js';
import { UPLINK_IF } from '../traffic-model.js';
import {
  carriersOf,
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

interface Infection {
  host: string;
  org: SimOrganisation;
  atMs: number;
  /** The infection it came from (undefined: patient zero). */
  parent: Infection | undefined;
}

/**
 * An SMB worm: patient zero, a workstation, probes TCP/445 on random addresses (half in its own
 * organisation, a third in other organisations, the rest anywhere in 10/8) at `attempts` per
 * second per infected host (default 2), and infects further hosts: growth is exponential, reaching
 * `hosts` (default 40) in `organisations` (default 6) by four fifths of the scenario. Each
 * infection is one real SMB session (a few hundred kB) from an infected host to the new one.
 * Mostly, probes go unanswered; some get RST.
 */
export const wormSmb: ScenarioFactory = (network, setup) => {
  const rng = setupRandom(setup);
  const maxHosts = Math.round(numberParam(setup.params, 'hosts', 40));
  const maxOrgs = Math.round(numberParam(setup.params, 'organisations', 6));
  const attempts = numberParam(setup.params, 'attempts', 2);
  const origin = pickOrganisation(
    network,
    rng,
    ['gp-practice', 'community-trust', 'acute-trust'],
    stringParam(setup.params, 'organisation'),
    10,
  );

  // The infection schedule, fixed at the start: who, where, when, from whom.
  const infections: Infection[] = [
    { host: clientV4(origin, rng.int(origin.clients)), org: origin, atMs: setup.startMs, parent: undefined },
  ];
  const orgs: SimOrganisation[] = [origin];
  const taken = new Set(infections.map((i) => i.host));
  const span = (setup.endMs - setup.startMs) * 0.8;
  for (let i = 1; i < maxHosts; i++) {
    const parent = infections[rng.int(infections.length)] as Infection;
    const from = parent.org;
    let org = from;
    const roll = rng.next();
    if (orgs.length < maxOrgs && roll > 0.7) {
      const sameSupplier = roll < 0.9;
      const candidates = network.organisations.filter((o) => !orgs.includes(o) && (o.supplierId === from.supplierId) === sameSupplier);
      if (candidates.length > 0) {
        org = rng.pick(candidates);
        orgs.push(org);
      }
    }
    let host = clientV4(org, rng.int(org.clients));
    for (let tries = 0; taken.has(host) && tries < 10; tries++) host = clientV4(org, rng.int(org.clients));
    if (taken.has(host)) continue;
    taken.add(host);
    // Exponential growth: infection i at span * log(i + 1) / log(maxHosts).
    const atMs = Math.round(setup.startMs + (span * Math.log(i + 1)) / Math.log(maxHosts));
    infections.push({ host, org, atMs, parent });
  }
  infections.sort((a, b) => a.atMs - b.atMs);
  const c = conversationFor(origin.exporter);

  return {
    id: setup.id,
    name: 'worm-smb',
    startMs: setup.startMs,
    endMs: setup.endMs,
    flows(fromMs: number, toMs: number, out: FlowRecord[]) {
      const w = overlap(setup, fromMs, toMs);
      if (!w) return;
      const r = windowRandom(setup, fromMs);
      for (const inf of infections) {
        if (inf.atMs >= w[1]) break;
        // The infecting session, when it falls in this window.
        if (inf.parent && inf.atMs >= w[0]) session(inf.parent, inf, inf.atMs, out);
        // Probes from this host over the part of the window it is infected for.
        const a = Math.max(w[0], inf.atMs);
        const n = r.poisson((attempts * (w[1] - a)) / 1000);
        for (let i = 0; i < n; i++) {
          const t = a + r.int(Math.max(1, w[1] - a));
          const roll = r.next();
          let target: string;
          let sameExporter = false;
          let net = 8;
          if (roll < 0.5) {
            target = clientV4(inf.org, r.int(inf.org.clients));
            sameExporter = true;
            net = inf.org.v4.length;
          } else if (roll < 0.85) {
            const other = r.chance(0.5) ? r.pick(orgs) : r.pick(network.organisations);
            target = ipv4ToString(other.v4.base + 1 + r.int(2 ** (32 - other.v4.length) - 2));
            sameExporter = other.exporter === inf.org.exporter;
            net = other.v4.length;
          } else {
            target = ipv4ToString((10 << 24) + r.int(0xff_ffff));
          }
          probe(inf, target, sameExporter ? inf.org.ifIndex : UPLINK_IF, net, t, r.chance(0.15), out);
        }
      }
    },
    label: (stoppedMs) => {
      const reached = infections.filter((i) => i.atMs < (stoppedMs ?? setup.endMs));
      const reachedOrgs = [...new Set(reached.map((i) => i.org.code))];
      const zero = infections[0] as Infection;
      return makeLabel(
        setup,
        'worm-smb',
        {
          type: 'lateral_movement',
          // Two probes a second per infected host: an infected organisation's outbound flows rise
          // a hundredfold, a true volume spike of that organisation (and of its exporter).
          also: ['host_sweep', 'new_pair', 'volume_spike'],
          entity: { kind: 'organisation', id: origin.code },
          related: [
            ...reachedOrgs.filter((o) => o !== origin.code).map((id) => ({ kind: 'organisation' as const, id })),
            ...reached.map((i) => ({ kind: 'host' as const, id: i.host })),
            ...[...new Set(reached.map((i) => i.org))].flatMap(carriersOf),
          ],
          detail: `SMB worm from ${zero.host} in ${origin.code}: ${reached.length} hosts in ${reachedOrgs.length} organisations infected`,
          facts: {
            patient_zero: zero.host,
            organisation: origin.code,
            supplier: origin.supplierId,
            infected_hosts: reached.length,
            organisations: reachedOrgs,
            attempts_per_host_per_second: attempts,
          },
        },
        stoppedMs,
      );
    },
  } satisfies Scenario;

  function probe(inf: Infection, target: string, ifIndex: number, net: number, t: number, answered: boolean, out: FlowRecord[]): void {
    c.exporter = inf.org.exporter;
    c.proto = 6;
    c.v6 = false;
    c.tos = 0;
    c.client.addr = inf.host;
    c.client.port = 49152 + (t % 16384);
    c.client.ifIndex = inf.org.ifIndex;
    c.client.net = inf.org.v4.length;
    c.server.addr = target;
    c.server.port = 445;
    c.server.ifIndex = ifIndex;
    c.server.net = net;
    c.endMs = t;
    c.reqPackets = answered ? 1 : 2;
    c.durationMs = answered ? 0 : 1000;
    c.reqBytes = 52 * c.reqPackets;
    c.reqFlags = TCP_SYN;
    c.respPackets = answered ? 1 : 0;
    c.respBytes = 40;
    c.respFlags = TCP_RST | TCP_ACK;
    emitConversation(c, out);
  }

  function session(from: Infection, to: Infection, t: number, out: FlowRecord[]): void {
    c.exporter = from.org.exporter;
    c.proto = 6;
    c.v6 = false;
    c.tos = 0;
    c.client.addr = from.host;
    c.client.port = 49152 + (t % 16384);
    c.client.ifIndex = from.org.ifIndex;
    c.client.net = from.org.v4.length;
    c.server.addr = to.host;
    c.server.port = 445;
    c.server.ifIndex = to.org.exporter === from.org.exporter ? to.org.ifIndex : UPLINK_IF;
    c.server.net = to.org.v4.length;
    c.endMs = t;
    c.durationMs = 4000;
    c.reqBytes = 350_000 + (t % 100_000);
    c.reqPackets = Math.ceil(c.reqBytes / 1300);
    c.respBytes = 40_000 + (t % 10_000);
    c.respPackets = Math.ceil(c.respBytes / 400);
    c.reqFlags = TCP_SESSION;
    c.respFlags = TCP_SESSION;
    emitConversation(c, out);
  }
};
