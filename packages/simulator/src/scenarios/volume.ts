import type { FlowRecord } from '@flowwatch/flow-schema';
import { ipv4ToNumber } from '../addresses.js';
import { emitConversation, TCP_MIDDLE } from '../conversation.js';
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

/**
 * Volume spike: an organisation starts an unscheduled bulk copy in the middle of the day (a full
 * backup run by hand, a mis-pointed replication): `streams` parallel TCP streams (default 8) from
 * its file server to the national backup service, `rate` bytes a second in all (default 25 MB/s,
 * 1.5 GB a minute), reported every 10 s as the active timeout cuts them.
 */
export const volumeSpike: ScenarioFactory = (network, setup) => {
  const rng = setupRandom(setup);
  const org = pickOrganisation(
    network,
    rng,
    ['acute-trust', 'community-trust', 'mental-health-trust', 'local-authority'],
    stringParam(setup.params, 'organisation'),
  );
  const backup = network.services.find((s) => s.id === (stringParam(setup.params, 'service') ?? 'backup')) ?? network.services[0]!;
  const rate = numberParam(setup.params, 'rate', 25e6);
  const streams = Math.max(1, Math.round(numberParam(setup.params, 'streams', 8)));
  const sources = Array.from({ length: streams }, () => pickClient(org, rng));
  const target = serviceV4(backup, 0);
  const period = 10_000;
  const jitter = jitterOf(setup, 0.2);
  const c = conversationFor(org.exporter);
  return {
    id: setup.id,
    name: 'volume-spike',
    startMs: setup.startMs,
    endMs: setup.endMs,
    flows(fromMs: number, toMs: number, out: FlowRecord[]) {
      periodic(setup, period, fromMs, toMs, jitter, (k, t) => {
        const r = Random.derive(setup.seed, setup.id, 'chunk', k);
        for (let i = 0; i < streams; i++) {
          c.proto = 6;
          c.v6 = false;
          c.tos = 0;
          c.client.addr = sources[i] as string;
          c.client.port = 50_000 + i;
          c.client.ifIndex = org.ifIndex;
          c.client.net = org.v4.length;
          c.server.addr = target;
          c.server.port = 443;
          c.server.ifIndex = UPLINK_IF;
          c.server.net = 24;
          c.endMs = t - i;
          c.durationMs = period;
          c.reqBytes = Math.round(((rate * period) / 1000 / streams) * r.logNormal(1, 0.1));
          c.reqPackets = Math.ceil(c.reqBytes / 1400);
          c.respPackets = Math.ceil(c.reqPackets / 2);
          c.respBytes = c.respPackets * 52;
          c.reqFlags = TCP_MIDDLE;
          c.respFlags = TCP_MIDDLE;
          emitConversation(c, out);
        }
      });
    },
    label: (stoppedMs) =>
      makeLabel(
        setup,
        'volume-spike',
        {
          type: 'volume_spike',
          entity: { kind: 'organisation', id: org.code },
          related: [{ kind: 'service', id: backup.id }, ...sources.map((id) => ({ kind: 'host' as const, id })), ...carriersOf(org)],
          also: ['new_pair'],
          detail: `${org.code} copies ${Math.round(rate / 1e6)} MB/s to ${backup.id} (${target}) over ${streams} streams`,
          facts: { organisation: org.code, supplier: org.supplierId, service: backup.id, rate_bytes_per_second: rate, streams },
        },
        stoppedMs,
      ),
  } satisfies Scenario;
};

/**
 * Volume drop: an organisation's access circuit fails over to a thin backup link and most of its
 * traffic stops: only `keep` of its flows (default 0.05) get through, in both directions. The
 * largest organisation by default (a drop is only measurable where there is volume to lose).
 */
export const volumeDrop: ScenarioFactory = (network, setup) => {
  const named = stringParam(setup.params, 'organisation');
  const org = named
    ? network.organisations.find((o) => o.code === named)
    : [...network.organisations].sort((a, b) => b.staff - a.staff || a.index - b.index)[0];
  if (!org) throw new RangeError(`no organisation ${named} in the simulated network`);
  const keep = numberParam(setup.params, 'keep', 0.05);
  if (keep > 1) throw new RangeError('volume-drop keep must be at most 1');
  const base = org.v4.base;
  const size = 2 ** (32 - org.v4.length);
  // The organisation's /48: its addresses start with its first three groups.
  const v6 = `${org.v6
    .slice(0, 3)
    .map((g) => g.toString(16))
    .join(':')}:`;
  const inside = (addr: string) => {
    if (addr.includes(':')) return addr.startsWith(v6);
    const n = ipv4ToNumber(addr);
    return n >= base && n < base + size;
  };
  return {
    id: setup.id,
    name: 'volume-drop',
    startMs: setup.startMs,
    endMs: setup.endMs,
    keeps(r: FlowRecord, tMs: number) {
      if (tMs < setup.startMs || tMs >= setup.endMs) return true;
      if (!inside(r.src_addr) && !inside(r.dst_addr)) return true;
      // Deterministic per record: which flows survive does not depend on how time is sliced.
      return Random.derive(setup.seed, setup.id, r.time_flow_end_ns, r.src_port, r.dst_port).next() < keep;
    },
    label: (stoppedMs) =>
      makeLabel(
        setup,
        'volume-drop',
        {
          type: 'volume_drop',
          entity: { kind: 'organisation', id: org.code },
          related: carriersOf(org),
          detail: `${org.code} (${org.type}, ${org.staff} staff) fails over to a backup link: ${Math.round(keep * 100)}% of its traffic gets through`,
          facts: { organisation: org.code, supplier: org.supplierId, keep },
        },
        stoppedMs,
      ),
  } satisfies Scenario;
};
