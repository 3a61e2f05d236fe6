import type { FlowRecord } from '@flowwatch/flow-schema';
import { ipv4ToString } from '../addresses.js';
import { emitConversation, TCP_ACK, TCP_RST, TCP_SYN } from '../conversation.js';
import { serverV4, serviceV4 } from '../network.js';
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

/** Ports a scan finds open on a server (SYN-ACK); the rest answer RST or nothing. */
const OPEN_PORTS = new Set([22, 53, 80, 135, 139, 443, 445, 3389, 8080, 8443]);
const TCP_SYN_ACK = TCP_SYN | TCP_ACK;
const TCP_RST_ACK = TCP_RST | TCP_ACK;
/** What a scan or sweep also causes: a probe of a service access policy restricts (PACS, for acute trusts only) breaks the policy, a true alert. */
const PROBE_ALSO = ['lateral_movement', 'new_pair', 'policy'] as const;

/**
 * Port scan: a compromised workstation probes one server's TCP ports, 1-1024 then well-known high
 * ports, in random order at `rate` probes a second (default 5). Closed ports answer RST, open ones
 * SYN-ACK, a fifth of the probes get nothing (filtered). The server is a national service's host
 * or another organisation's server (`target: service` | `peer`, random by default).
 */
export const portScan: ScenarioFactory = (network, setup) => {
  const rng = setupRandom(setup);
  const org = pickOrganisation(
    network,
    rng,
    ['acute-trust', 'community-trust', 'mental-health-trust', 'local-authority', 'gp-practice'],
    stringParam(setup.params, 'organisation'),
  );
  const source = stringParam(setup.params, 'source') ?? pickClient(org, rng);
  const rate = numberParam(setup.params, 'rate', 5);
  const kind = stringParam(setup.params, 'target') ?? (rng.chance(0.5) ? 'service' : 'peer');
  let target: string;
  let targetName: string;
  if (kind === 'service') {
    const svc = rng.pick(network.services);
    target = serviceV4(svc, 0);
    targetName = `service ${svc.id}`;
  } else {
    const others = network.organisations.filter((o) => o !== org && o.servers > 2);
    const peer = others.length > 0 ? rng.pick(others) : org;
    target = serverV4(peer, 2 + rng.int(Math.max(1, peer.servers - 2)));
    targetName = `organisation ${peer.code}`;
  }
  const high = [1433, 1521, 2049, 3306, 3389, 5432, 5900, 5985, 6379, 8000, 8080, 8443, 9000, 9200, 11211, 27017];
  const ports = [...rng.shuffle(Array.from({ length: 1024 }, (_, i) => i + 1)), ...high.filter((p) => p > 1024)];
  const period = 1000 / rate;
  const jitter = jitterOf(setup, 0.5);
  const c = conversationFor(org.exporter);

  return {
    id: setup.id,
    name: 'port-scan',
    startMs: setup.startMs,
    endMs: setup.endMs,
    flows(fromMs: number, toMs: number, out: FlowRecord[]) {
      periodic(setup, period, fromMs, toMs, jitter, (k, t) => {
        const port = ports[k % ports.length] as number;
        const r = Random.derive(setup.seed, setup.id, 'probe', k);
        c.proto = 6;
        c.v6 = false;
        c.tos = 0;
        c.client.addr = source;
        c.client.port = 40000 + (k % 20000);
        c.client.ifIndex = org.ifIndex;
        c.client.net = org.v4.length;
        c.server.addr = target;
        c.server.port = port;
        c.server.ifIndex = UPLINK_IF;
        c.server.net = 24;
        c.endMs = t;
        c.durationMs = 0;
        c.reqPackets = 1;
        c.reqBytes = 44;
        c.reqFlags = TCP_SYN;
        const answer = r.next();
        c.respPackets = answer < 0.2 ? 0 : 1;
        c.respBytes = OPEN_PORTS.has(port) ? 44 : 40;
        c.respFlags = OPEN_PORTS.has(port) ? TCP_SYN_ACK : TCP_RST_ACK;
        emitConversation(c, out);
      });
    },
    label: (stoppedMs) =>
      makeLabel(
        setup,
        'port-scan',
        {
          type: 'port_scan',
          also: [...PROBE_ALSO],
          entity: { kind: 'host', id: source },
          related: [
            { kind: 'organisation', id: org.code },
            { kind: 'host', id: target },
          ],
          detail: `${source} in ${org.code} scans TCP ports of ${target} (${targetName}) at ${rate}/s`,
          facts: { source, organisation: org.code, target, rate, supplier: org.supplierId },
        },
        stoppedMs,
      ),
  } satisfies Scenario;
};

/**
 * Host sweep: a compromised workstation tries one port (445 by default) on every address of another
 * organisation's network, in a scrambled order, at `rate` addresses a second (default 5). A third of
 * the addresses answer RST; the rest stay silent.
 */
export const hostSweep: ScenarioFactory = (network, setup) => {
  const rng = setupRandom(setup);
  const org = pickOrganisation(
    network,
    rng,
    ['gp-practice', 'community-trust', 'local-authority'],
    stringParam(setup.params, 'organisation'),
  );
  const source = stringParam(setup.params, 'source') ?? pickClient(org, rng);
  const rate = numberParam(setup.params, 'rate', 5);
  const port = numberParam(setup.params, 'port', 445);
  const big = network.organisations.filter((o) => o !== org && o.v4.length <= 18);
  const victim = big.length > 0 ? rng.pick(big) : org;
  const size = 2 ** (32 - victim.v4.length);
  const period = 1000 / rate;
  const jitter = jitterOf(setup, 0.5);
  const c = conversationFor(org.exporter);

  return {
    id: setup.id,
    name: 'host-sweep',
    startMs: setup.startMs,
    endMs: setup.endMs,
    flows(fromMs: number, toMs: number, out: FlowRecord[]) {
      periodic(setup, period, fromMs, toMs, jitter, (k, t) => {
        // An odd multiplier modulo a power of two visits every address once per cycle.
        const offset = ((k * 40_503 + 7) % size) >>> 0;
        const r = Random.derive(setup.seed, setup.id, 'sweep', k);
        c.proto = 6;
        c.v6 = false;
        c.tos = 0;
        c.client.addr = source;
        c.client.port = 50000 + (k % 15000);
        c.client.ifIndex = org.ifIndex;
        c.client.net = org.v4.length;
        c.server.addr = ipv4ToString(victim.v4.base + offset);
        c.server.port = port;
        c.server.ifIndex = victim.exporter === org.exporter ? victim.ifIndex : UPLINK_IF;
        c.server.net = victim.v4.length;
        c.endMs = t;
        c.durationMs = 0;
        c.reqPackets = 1;
        c.reqBytes = 52;
        c.reqFlags = TCP_SYN;
        c.respPackets = r.chance(1 / 3) ? 1 : 0;
        c.respBytes = 40;
        c.respFlags = TCP_RST_ACK;
        emitConversation(c, out);
      });
    },
    label: (stoppedMs) =>
      makeLabel(
        setup,
        'host-sweep',
        {
          type: 'host_sweep',
          also: [...PROBE_ALSO],
          entity: { kind: 'host', id: source },
          related: [
            { kind: 'organisation', id: org.code },
            { kind: 'organisation', id: victim.code },
          ],
          detail: `${source} in ${org.code} sweeps TCP/${port} across ${victim.code}'s ${ipv4ToString(victim.v4.base)}/${victim.v4.length} at ${rate} addresses/s`,
          facts: {
            source,
            organisation: org.code,
            target_organisation: victim.code,
            target_prefix: `${ipv4ToString(victim.v4.base)}/${victim.v4.length}`,
            port,
            rate,
            supplier: org.supplierId,
          },
        },
        stoppedMs,
      ),
  } satisfies Scenario;
};
