import type { FlowRecord } from '@flowwatch/flow-schema';
import { ipv4ToString } from '../addresses.js';
import { emitConversation, TCP_MIDDLE } from '../conversation.js';
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
 * Slow exfiltration: a workstation uploads to an address on the Internet nobody else talks to
 * (RFC 5737 space, see catalog.ts) over HTTPS, steadily: one upload flow every `interval` seconds
 * (default 30) averaging `rate` bytes a second (default 50,000, 180 MB an hour), answered only by
 * ACKs. Low and slow: it never stands out by volume against its organisation's traffic.
 */
export const exfiltration: ScenarioFactory = (network, setup) => {
  const rng = setupRandom(setup);
  const org = pickOrganisation(
    network,
    rng,
    ['acute-trust', 'mental-health-trust', 'community-trust', 'local-authority'],
    stringParam(setup.params, 'organisation'),
  );
  const source = stringParam(setup.params, 'source') ?? pickClient(org, rng);
  const rate = numberParam(setup.params, 'rate', 50_000);
  const interval = numberParam(setup.params, 'interval', 30) * 1000;
  const range = network.exfiltrationRange;
  const destination = ipv4ToString(range.base + 10 + rng.int(200));
  const jitter = jitterOf(setup, 0.3);
  const c = conversationFor(org.exporter);

  return {
    id: setup.id,
    name: 'exfiltration',
    startMs: setup.startMs,
    endMs: setup.endMs,
    flows(fromMs: number, toMs: number, out: FlowRecord[]) {
      periodic(setup, interval, fromMs, toMs, jitter, (k, t) => {
        const r = Random.derive(setup.seed, setup.id, 'upload', k);
        c.proto = 6;
        c.v6 = false;
        c.tos = 0;
        c.client.addr = source;
        c.client.port = 51000 + (k % 100);
        c.client.ifIndex = org.ifIndex;
        c.client.net = org.v4.length;
        c.server.addr = destination;
        c.server.port = 443;
        c.server.ifIndex = UPLINK_IF;
        c.server.net = range.length;
        c.server.as = 64_496; // documentation ASN (RFC 5398)
        c.endMs = t;
        c.durationMs = Math.round(interval * 0.9);
        c.reqBytes = Math.round(((rate * interval) / 1000) * r.logNormal(1, 0.2));
        c.reqPackets = Math.ceil(c.reqBytes / 1400);
        c.respPackets = Math.ceil(c.reqPackets / 2);
        c.respBytes = c.respPackets * 52;
        c.reqFlags = TCP_MIDDLE;
        c.respFlags = TCP_MIDDLE;
        emitConversation(c, out);
        c.server.as = 0;
      });
    },
    label: (stoppedMs) => {
      const end = Math.min(stoppedMs ?? setup.endMs, setup.endMs);
      return makeLabel(
        setup,
        'exfiltration',
        {
          type: 'exfiltration',
          entity: { kind: 'host', id: source },
          related: [{ kind: 'organisation', id: org.code }],
          detail: `${source} in ${org.code} uploads to ${destination}:443 at about ${rate} bytes/s`,
          facts: {
            source,
            organisation: org.code,
            supplier: org.supplierId,
            destination,
            rate_bytes_per_second: rate,
            approx_bytes: Math.round((rate * Math.max(0, end - setup.startMs)) / 1000),
          },
        },
        stoppedMs,
      );
    },
  } satisfies Scenario;
};
