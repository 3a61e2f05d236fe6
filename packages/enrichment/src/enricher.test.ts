import type { RegistryConfig } from '@flowwatch/config';
import { emptyFlow, type FlowRecord } from '@flowwatch/flow-schema';
import { describe, expect, it } from 'vitest';
import { copyEnrichedFlow, Enricher, emptyEnrichedFlow } from './enricher.js';

const supplier = (id: string) => ({ id, name: id, exporters: [], pushTokens: [], clientCertFingerprints: [] });

const registry: RegistryConfig = {
  suppliers: [supplier('north'), supplier('south')],
  organisations: [
    { code: 'RA1', name: 'Acute trust A', type: 'acute', supplier: 'north', prefixes: ['10.1.0.0/16', '2001:db8:1::/48'] },
    { code: 'RB2', name: 'Acute trust B', type: 'acute', supplier: 'north', prefixes: ['10.2.0.0/16'] },
    { code: 'GP3', name: 'Practice C', type: 'gp', supplier: 'south', prefixes: ['10.3.0.0/24'] },
    // A more specific block carved out of A's /16 belongs to D.
    { code: 'SD4', name: 'Site D', type: 'gp', supplier: 'south', prefixes: ['10.1.99.0/24'] },
  ],
  services: [
    { id: 'email', name: 'Mail relay', supplier: 'north', prefixes: ['192.0.2.0/24'], ports: [25, 587] },
    { id: 'web', name: 'Portal', supplier: 'south', prefixes: ['192.0.2.10/32', '2001:db8:ff::/64'], ports: [443] },
    { id: 'spine', name: 'National spine', prefixes: ['198.51.100.0/24'], ports: [] },
    { id: 'dns', name: 'Resolver', supplier: 'south', prefixes: ['198.51.100.53/32'], ports: [53] },
  ],
  groups: [
    { id: 'acute', name: 'Acute trusts', organisations: ['RA1', 'RB2'] },
    { id: 'north-only', name: '', organisations: ['RA1'] },
  ],
};

function flow(src: string, dst: string, extra: Partial<FlowRecord> = {}): FlowRecord {
  return { ...emptyFlow('IPFIX'), src_addr: src, dst_addr: dst, bytes: 1000, packets: 10, sampling_rate: 1, ...extra };
}

describe('Enricher', () => {
  const enricher = new Enricher(registry);

  it('names the organisations and their suppliers, keeping every input field', () => {
    const input = flow('10.1.2.3', '10.3.0.9', { dst_port: 443, exporter_id: 'r1', supplier_id: 'north' });
    const out = enricher.enrich(input);
    expect(out).toEqual({
      ...input,
      src_org: 'RA1',
      dst_org: 'GP3',
      src_org_supplier: 'north',
      dst_org_supplier: 'south',
      service: '',
      direction: 'cross_supplier',
      bytes_est: 1000,
      packets_est: 10,
    });
    expect(input).not.toHaveProperty('src_org');
    expect(enricher.enrich(flow('10.1.99.1', '2001:db8:1::5')).src_org).toBe('SD4');
    expect(enricher.enrich(flow('::ffff:10.2.0.1', '')).src_org).toBe('RB2');
  });

  it.each([
    ['internal: same organisation', '10.1.0.1', '10.1.200.2', 'internal'],
    ['internal: across address families', '10.1.0.1', '2001:db8:1::2', 'internal'],
    ['cross_org: organisations on the same supplier', '10.1.0.1', '10.2.0.1', 'cross_org'],
    ['cross_supplier: organisations on different suppliers', '10.1.0.1', '10.3.0.1', 'cross_supplier'],
    ['cross_supplier: a carved-out block is its own organisation', '10.1.0.1', '10.1.99.1', 'cross_supplier'],
    ['cross_org: organisation to a service on its supplier', '10.1.0.1', '192.0.2.1', 'cross_org'],
    ['cross_supplier: organisation to a service on another supplier', '10.3.0.1', '192.0.2.1', 'cross_supplier'],
    ['cross_org: a service with no supplier never crosses suppliers', '10.3.0.1', '198.51.100.1', 'cross_org'],
    ['cross_supplier: service reply to an organisation on another supplier', '192.0.2.1', '10.3.0.1', 'cross_supplier'],
    ['internal: within one service', '198.51.100.1', '198.51.100.2', 'internal'],
    ['to_internet: organisation to an unknown address', '10.2.0.1', '8.8.8.8', 'to_internet'],
    ['to_internet: service to an unknown address', '198.51.100.7', '2001:4860::8888', 'to_internet'],
    ['from_internet: unknown address to an organisation', '203.0.113.9', '10.3.0.200', 'from_internet'],
    ['from_internet: unknown address to a service', '203.0.113.9', '192.0.2.1', 'from_internet'],
    ['external: neither end known', '203.0.113.9', '8.8.8.8', 'external'],
    ['external: absent addresses', '', '', 'external'],
    ['external: malformed addresses', '10.1.0.300', 'not-an-ip', 'external'],
  ] as const)('%s', (_name, src, dst, direction) => {
    expect(enricher.enrich(flow(src, dst, { src_port: 40000, dst_port: 25 })).direction).toBe(direction);
  });

  it('uses the matched service supplier for direction, falling back to the most specific prefix', () => {
    // 198.51.100.53: dns (south) on port 53, else the covering spine (no supplier).
    expect(enricher.enrich(flow('10.1.0.1', '198.51.100.53', { dst_port: 53 }))).toMatchObject({
      service: 'dns',
      direction: 'cross_supplier',
    });
    expect(enricher.enrich(flow('10.1.0.1', '198.51.100.53', { dst_port: 80 }))).toMatchObject({
      service: 'spine',
      direction: 'cross_org',
    });
    // Off every service's port, the address still counts as inside the network.
    expect(enricher.enrich(flow('203.0.113.9', '192.0.2.10', { dst_port: 80 }))).toMatchObject({
      service: '',
      direction: 'from_internet',
    });
    // ...as the first service of its most specific prefix: web (south) on 192.0.2.10/32.
    expect(enricher.enrich(flow('10.3.0.1', '192.0.2.10', { dst_port: 80 })).direction).toBe('cross_org');
    expect(enricher.enrich(flow('10.1.0.1', '192.0.2.10', { dst_port: 80 })).direction).toBe('cross_supplier');
  });

  it('matches services by destination prefix and port', () => {
    expect(enricher.serviceFor('192.0.2.77', 25)).toBe('email');
    expect(enricher.serviceFor('192.0.2.77', 587)).toBe('email');
    expect(enricher.serviceFor('192.0.2.77', 443)).toBe('');
    // The /32 of web answers 443; its other ports fall back to the covering /24 of email.
    expect(enricher.serviceFor('192.0.2.10', 443)).toBe('web');
    expect(enricher.serviceFor('192.0.2.10', 25)).toBe('email');
    expect(enricher.serviceFor('192.0.2.10', 80)).toBe('');
    expect(enricher.serviceFor('198.51.100.1', 0)).toBe('spine');
    expect(enricher.serviceFor('198.51.100.53', 53)).toBe('dns');
    expect(enricher.serviceFor('198.51.100.53', 123)).toBe('spine');
    expect(enricher.serviceFor('2001:db8:ff::1', 443)).toBe('web');
    expect(enricher.serviceFor('2001:db8:ff:1::1', 443)).toBe('');
    expect(enricher.serviceFor('garbage', 443)).toBe('');
  });

  it('prefers the destination service, else the source service on its port (replies)', () => {
    expect(enricher.enrich(flow('192.0.2.10', '198.51.100.1', { src_port: 443, dst_port: 9999 })).service).toBe('spine');
    expect(enricher.enrich(flow('192.0.2.10', '10.1.0.1', { src_port: 443, dst_port: 50000 })).service).toBe('web');
    expect(enricher.enrich(flow('192.0.2.10', '10.1.0.1', { src_port: 8080, dst_port: 50000 })).service).toBe('');
    expect(enricher.enrich(flow('10.1.0.1', '192.0.2.5', { dst_port: 587 }))).toMatchObject({ service: 'email', src_org: 'RA1' });
  });

  it('on a prefix two services share, the one naming the port wins over the any-port one', () => {
    const shared = new Enricher({
      ...registry,
      services: [
        { id: 'any', name: 'any', prefixes: ['203.0.113.0/24'], ports: [] },
        { id: 'https', name: 'https', prefixes: ['203.0.113.0/24'], ports: [443] },
      ],
    });
    expect(shared.serviceFor('203.0.113.1', 443)).toBe('https');
    expect(shared.serviceFor('203.0.113.1', 22)).toBe('any');
  });

  it('scales bytes and packets by the sampling rate; 0 (unknown) counts as unsampled', () => {
    const scaled = (sampling_rate: number) => enricher.enrich(flow('10.1.0.1', '8.8.8.8', { sampling_rate }));
    expect(scaled(1000)).toMatchObject({ bytes: 1000, packets: 10, bytes_est: 1_000_000, packets_est: 10_000 });
    expect(scaled(1)).toMatchObject({ bytes_est: 1000, packets_est: 10 });
    expect(scaled(0)).toMatchObject({ bytes_est: 1000, packets_est: 10 });
  });

  it('lists the groups of an organisation', () => {
    expect(enricher.groupsOf('RA1')).toEqual(['acute', 'north-only']);
    expect(enricher.groupsOf('RB2')).toEqual(['acute']);
    expect(enricher.groupsOf('GP3')).toEqual([]);
    expect(enricher.groupsOf('nope')).toEqual([]);
    expect(enricher.organisationFor('10.2.3.4')).toBe('RB2');
    expect(enricher.organisationFor('8.8.8.8')).toBe('');
  });

  it('works with an empty registry', () => {
    const empty = new Enricher({ suppliers: [], organisations: [], services: [], groups: [] });
    expect(empty.enrich(flow('10.1.0.1', '10.2.0.1'))).toMatchObject({ src_org: '', service: '', direction: 'external' });
  });

  it('enrichInto and copyEnrichedFlow write every field enrich does, overwriting the previous record', () => {
    // Every input field set to a value of its own, so a field left out would show.
    const distinct = (i: number): FlowRecord => {
      const out: Record<string, unknown> = {};
      let n = 1;
      for (const [k, v] of Object.entries(emptyFlow('IPFIX'))) out[k] = typeof v === 'number' ? i * 1000 + n++ : `${k}-${i}`;
      return { ...(out as unknown as FlowRecord), type: 'IPFIX', sampling_rate: 2 };
    };
    const inputs = [
      distinct(1),
      { ...distinct(2), src_addr: '10.1.2.3', dst_addr: '192.0.2.7', dst_port: 25 },
      flow('10.1.2.3', '10.3.0.9'),
      flow('203.0.113.9', '10.2.0.1'),
    ];
    const reused = emptyEnrichedFlow();
    const copy = emptyEnrichedFlow();
    expect(Object.keys(reused)).toEqual(Object.keys(enricher.enrich(inputs[0]!)));
    for (const input of inputs) {
      const expected = enricher.enrich(input);
      expect(enricher.enrichInto(input, reused)).toBe(reused);
      expect(reused).toEqual(expected);
      expect(copyEnrichedFlow(reused, copy)).toEqual(expected);
    }
  });

  it('knows after enrichInto whether the service is the destination, as serviceFor says', () => {
    const out = emptyEnrichedFlow();
    const cases = [
      flow('10.1.2.3', '192.0.2.7', { dst_port: 25, src_port: 40000 }),
      flow('192.0.2.7', '10.1.2.3', { src_port: 25, dst_port: 40000 }),
      flow('10.1.2.3', '198.51.100.53', { dst_port: 53 }),
      flow('10.1.2.3', '198.51.100.53', { dst_port: 80 }),
      flow('198.51.100.53', '192.0.2.10', { src_port: 53, dst_port: 8443 }),
    ];
    for (const input of cases) {
      const f = enricher.enrichInto(input, out);
      expect(f.service).not.toBe('');
      expect(enricher.lastEnriched).toBe(f);
      expect(enricher.lastServiceAtDestination).toBe(enricher.serviceFor(f.dst_addr, f.dst_port) === f.service);
    }
    expect(cases.map((c) => enricher.enrichInto(c, out) && enricher.lastServiceAtDestination)).toEqual([true, false, true, true, false]);
  });
});
