import type { FlowRecord } from '@flowwatch/flow-schema';
import { activity, ORG_PROFILE_OF, type ProfileName } from './activity.js';
import { ipv4ToString, ipv6Address } from './addresses.js';
import { APPLICATIONS, type Application, drawSize, MIXES, recordsPerConversation } from './applications.js';
import { BOT_FIRST_OCTETS } from './catalog.js';
import { type Conversation, emitConversation, newConversation, TCP_MIDDLE, TCP_SESSION, TCP_SYN } from './conversation.js';
import {
  clientV4,
  clientV6,
  type InternetRange,
  ORG_TYPES,
  type OrgType,
  SERVER_APP,
  SERVER_DC,
  SERVER_FILE,
  type SimOrganisation,
  type SimService,
  type SimulatedNetwork,
  serverV4,
  serverV6,
  serviceV4,
  serviceV6,
} from './network.js';
import { AliasTable, Random } from './random.js';

export interface TrafficOptions {
  seed: number;
  /** Background records per wall-clock second at the busiest moment of the week. */
  rate: number;
  /** Simulated seconds per wall-clock second. */
  speed: number;
  /** Event-time length of a slot, the unit flows are generated in (ms). */
  slotMs: number;
}

/** Scales the rate of one kind of organisation's application at an instant (scenarios: a surge). */
export type Modulation = (type: OrgType, appId: string, tMs: number) => number;

/** Routers cut long flows into records at the active timeout. */
export const ACTIVE_TIMEOUT_MS = 60_000;
/** Share of conversations over IPv6 where the application, the far end and the exporter allow it. */
const V6_SHARE = 0.2;
/** Interface of the exporter towards the core (services, other suppliers, the Internet). */
export const UPLINK_IF = 1;
/** Another site of the same organisation is this far above its circuit's ifIndex. */
const OTHER_SITE_IF = 1000;

interface AppModel {
  app: Application;
  /** Conversations per event-second at activity 1, before the group's daily factor. */
  rate: number;
  profile: ProfileName;
  ranges: { list: InternetRange[]; pick: AliasTable } | undefined;
  service: SimService | undefined;
}

interface GroupModel {
  type: OrgType;
  orgs: SimOrganisation[];
  pickOrg: AliasTable;
  apps: AppModel[];
}

/**
 * Background traffic: for each slot of event time, every kind of organisation makes conversations
 * of each of its applications at a Poisson rate that follows its daily and weekly rhythm (with a
 * day-to-day factor and minute-to-minute noise), spread over its organisations by size. A slot's
 * flows depend only on the seed, the options and the slot's index, so they come out the same
 * whichever order or grouping slots are generated in.
 */
export class TrafficModel {
  private readonly groups: GroupModel[] = [];
  private readonly conv: Conversation;
  private readonly peersBySupplier = new Map<string, SimOrganisation[]>();
  private readonly acute: SimOrganisation[];
  private readonly trusts: SimOrganisation[];
  /** Conversations per event-second per unit of weight, so that the weekly peak makes `rate` records per wall second. */
  readonly scale: number;

  constructor(
    private readonly network: SimulatedNetwork,
    private readonly options: TrafficOptions,
  ) {
    const services = new Map(network.services.map((s) => [s.id, s]));
    const firstExporter = network.exporters[0];
    if (!firstExporter) throw new RangeError('the network has no exporters');
    this.conv = newConversation(firstExporter);
    this.acute = network.organisations.filter((o) => o.type === 'acute-trust');
    this.trusts = network.organisations.filter((o) => o.type.endsWith('-trust'));
    for (const org of this.acute) {
      const list = this.peersBySupplier.get(org.supplierId) ?? [];
      list.push(org);
      this.peersBySupplier.set(org.supplierId, list);
    }

    for (const type of ORG_TYPES) {
      const orgs = network.organisations.filter((o) => o.type === type);
      if (orgs.length === 0) continue;
      const staff = orgs.reduce((s, o) => s + o.staff, 0);
      const mix = MIXES[type];
      const mixTotal = Object.values(mix).reduce((a, b) => a + b, 0);
      const apps: AppModel[] = [];
      for (const app of APPLICATIONS) {
        const w = mix[app.id];
        if (!w) continue;
        const service = app.target.kind === 'service' ? services.get(app.target.service) : undefined;
        if (app.target.kind === 'service' && !service) continue;
        let ranges: AppModel['ranges'];
        if (app.target.kind === 'internet') {
          const categories = app.target.categories;
          const list = network.internet.filter((r) => categories.includes(r.category));
          if (list.length === 0) continue;
          ranges = { list, pick: new AliasTable(list.map((r) => r.weight)) };
        }
        apps.push({ app, rate: (staff * w) / mixTotal, profile: app.profile ?? ORG_PROFILE_OF[type], ranges, service });
      }
      this.groups.push({ type, orgs, pickOrg: new AliasTable(orgs.map((o) => o.staff)), apps });
    }

    // The busiest moment of a week (every 15 minutes of a GMT week) sets the scale.
    let peak = 0;
    const monday = Date.UTC(2026, 0, 5);
    for (let t = monday; t < monday + 7 * 86_400_000; t += 900_000) peak = Math.max(peak, this.unscaledRecordRate(t));
    this.scale = options.rate / options.speed / peak;
  }

  /** Expected background records per event-second at an instant (without the daily factor and noise). */
  expectedRecordsPerSecond(tMs: number): number {
    return this.scale * this.unscaledRecordRate(tMs);
  }

  private unscaledRecordRate(tMs: number): number {
    let sum = 0;
    for (const g of this.groups) for (const a of g.apps) sum += a.rate * activity(a.profile, tMs) * recordsPerConversation(a.app);
    return sum;
  }

  /** Appends the background records of slot `index` (flows ending in [index*slotMs, (index+1)*slotMs)). */
  slot(index: number, out: FlowRecord[], modulation?: Modulation): void {
    const { slotMs, seed } = this.options;
    const from = index * slotMs;
    const mid = from + slotMs / 2;
    const seconds = slotMs / 1000;
    const day = Math.floor(from / 86_400_000);
    const minute = Math.floor(mid / 60_000);
    for (const g of this.groups) {
      // A busier or quieter day, and minute-to-minute noise, shared by the kind's applications.
      const dayFactor = Random.derive(seed, 'day', g.type, day).logNormal(1, 0.08);
      const noise = Random.derive(seed, 'minute', g.type, minute).logNormal(1, 0.1);
      for (const a of g.apps) {
        const rng = Random.derive(seed, 'slot', index, g.type, a.app.id);
        let lambda = this.scale * a.rate * activity(a.profile, mid) * dayFactor * noise * seconds;
        if (modulation) lambda *= modulation(g.type, a.app.id, mid);
        const n = rng.poisson(lambda);
        for (let i = 0; i < n; i++) {
          const org = g.orgs[g.pickOrg.sample(rng)] as SimOrganisation;
          this.conversation(rng, org, a, from + rng.int(slotMs), out);
        }
      }
    }
  }

  private conversation(rng: Random, org: SimOrganisation, a: AppModel, endMs: number, out: FlowRecord[]): void {
    const { app } = a;
    const c = this.conv;
    c.exporter = org.exporter;
    c.proto = app.proto;
    c.tos = app.tos ?? 0;
    const canV6 = app.v6 && org.exporter.protocol !== 'netflow5';
    let v6 = canV6 && rng.chance(V6_SHARE);
    const client = c.client;
    const server = c.server;

    // The far end first: it decides whether IPv6 is possible.
    const t = app.target;
    let range: InternetRange | undefined;
    if (t.kind === 'internet' && a.ranges) {
      range = a.ranges.list[a.ranges.pick.sample(rng)] as InternetRange;
      if (!range.v6) v6 = false;
    }
    c.v6 = v6;
    const ip = v6 ? 40 : 20;

    client.addr = v6 ? clientV6(org, rng.int(org.clients)) : clientV4(org, rng.int(org.clients));
    client.port = 49152 + rng.int(16384);
    client.ifIndex = org.ifIndex;
    client.net = v6 ? 48 : org.v4.length;
    client.as = 0;
    server.port = app.ports.length === 1 ? (app.ports[0] as number) : rng.pick(app.ports);
    server.ifIndex = UPLINK_IF;
    server.as = 0;

    switch (t.kind) {
      case 'service': {
        const svc = a.service as SimService;
        const k = rng.int(svc.hosts);
        server.addr = v6 ? serviceV6(svc, k) : serviceV4(svc, k);
        server.net = v6 ? 48 : 24;
        break;
      }
      case 'internet': {
        const r = range as InternetRange;
        if (v6 && r.v6) {
          server.addr = ipv6Address([r.v6[0], r.v6[1], rng.int(0x10000), rng.int(0x10000)], 0, 0, rng.int(0x10000), 1 + rng.int(0xfffe));
          server.net = 32;
        } else {
          const p = rng.pick(r.v4);
          server.addr = ipv4ToString(p.base + 1 + rng.int(2 ** (32 - p.length) - 2));
          server.net = p.length;
        }
        server.as = r.asn;
        break;
      }
      case 'server': {
        const k = serverIndex(org, t.role, rng);
        server.addr = v6 ? serverV6(org, k) : serverV4(org, k);
        server.net = client.net;
        server.ifIndex = org.ifIndex + OTHER_SITE_IF;
        break;
      }
      case 'peer': {
        const peer = this.peerOf(org, rng);
        const k = serverIndex(peer, 'app', rng);
        server.addr = v6 ? serverV6(peer, k) : serverV4(peer, k);
        server.net = v6 ? 48 : peer.v4.length;
        if (peer.exporter === org.exporter) server.ifIndex = peer.ifIndex;
        break;
      }
      case 'inbound': {
        // The scanner is the client; the organisation's address answers nothing.
        server.addr = rng.chance(0.5) ? serverV4(org, rng.int(org.servers)) : clientV4(org, rng.int(org.clients));
        server.net = org.v4.length;
        server.ifIndex = org.ifIndex;
        client.addr = botAddress(rng);
        client.ifIndex = UPLINK_IF;
        client.net = 0;
        c.v6 = false;
        break;
      }
    }

    if (app.proto === 1) {
      c.icmpType = v6 ? 128 : 8;
      c.icmpReplyType = v6 ? 129 : 0;
      client.port = 0;
      server.port = 0;
    }

    c.durationMs = Math.min(ACTIVE_TIMEOUT_MS, drawSize(rng, app.duration, 0));
    const cut = c.durationMs >= ACTIVE_TIMEOUT_MS;
    if (rng.chance(app.failure)) {
      // Nobody answers: TCP sends its SYN (and retries), UDP its datagram.
      if (app.proto === 6) {
        c.reqPackets = rng.between(1, 3);
        c.reqBytes = c.reqPackets * (ip + (app.requestPacket < 60 ? app.requestPacket - 20 : 32));
        c.reqFlags = TCP_SYN;
        c.durationMs = c.reqPackets === 1 ? 0 : (c.reqPackets - 1) * 1000;
      } else {
        c.reqPackets = 1;
        c.reqBytes = drawSize(rng, app.request, ip + 8);
      }
      c.respPackets = 0;
      c.respBytes = 0;
    } else {
      // Sizes are IP bytes: at least an IP and transport header per packet.
      const hdr = ip + (app.proto === 6 ? 20 : 8);
      const minReq = app.proto === 6 ? 3 : 1;
      const minResp = app.proto === 6 ? 2 : 1;
      const v6Extra = v6 ? 20 : 0;
      c.reqBytes = drawSize(rng, app.request, minReq * hdr);
      c.reqPackets = Math.max(minReq, Math.round(c.reqBytes / app.requestPacket));
      c.reqBytes = Math.max(c.reqBytes + v6Extra * c.reqPackets, c.reqPackets * hdr);
      c.respBytes = drawSize(rng, app.response, minResp * hdr);
      c.respPackets = Math.max(minResp, Math.round(c.respBytes / app.responsePacket));
      c.respBytes = Math.max(c.respBytes + v6Extra * c.respPackets, c.respPackets * hdr);
      c.reqFlags = cut ? TCP_MIDDLE : TCP_SESSION;
      c.respFlags = cut ? TCP_MIDDLE : TCP_SESSION;
    }
    c.endMs = endMs;
    emitConversation(c, out);
  }

  /** Another organisation's application server: an acute trust (mostly on the same supplier) or, for trusts, another trust. */
  private peerOf(org: SimOrganisation, rng: Random): SimOrganisation {
    const local = this.peersBySupplier.get(org.supplierId);
    let pool: SimOrganisation[];
    if (org.type.endsWith('-trust')) pool = this.trusts;
    else if (local && local.length > 0 && rng.chance(0.7)) pool = local;
    else pool = this.acute.length > 0 ? this.acute : this.network.organisations;
    let peer = rng.pick(pool);
    if (peer === org && pool.length > 1) peer = rng.pick(pool);
    return peer;
  }
}

function serverIndex(org: SimOrganisation, role: 'dc' | 'file' | 'app', rng: Random): number {
  if (role === 'dc' || org.servers === 1) return SERVER_DC;
  if (role === 'file' || org.servers <= SERVER_APP) return Math.min(SERVER_FILE, org.servers - 1);
  return SERVER_APP + rng.int(org.servers - SERVER_APP);
}

/** A random address in ISP customer space (scanners, bots). */
export function botAddress(rng: Random): string {
  return `${rng.pick(BOT_FIRST_OCTETS)}.${rng.int(256)}.${rng.int(256)}.${1 + rng.int(254)}`;
}
