import { createHash } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { registrySchema } from '@flowwatch/config';
import { Enricher } from '@flowwatch/enrichment';
import { emptyFlow } from '@flowwatch/flow-schema';
import { describe, expect, it } from 'vitest';
import { generateNetwork } from './generate-network.js';
import { clientV4, clientV6, EXPORT_PROTOCOLS, serverV4, serverV6, serviceV4, serviceV6 } from './network.js';

const network = generateNetwork({ seed: 42 });

/** Which organisation or service an address belongs to, by the enrichment's own prefix matching. */
function owner(enricher: Enricher, addr: string): { org: string; service: string } {
  const f = { ...emptyFlow('IPFIX'), src_addr: addr, dst_addr: '192.0.2.1' };
  const e = enricher.enrich(f);
  return { org: e.src_org, service: e.service };
}

describe('generateNetwork', () => {
  it('makes a registry the config schema accepts, with the default sizes', () => {
    const parsed = registrySchema.safeParse(network.registry);
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
    expect(network.registry.suppliers).toHaveLength(8);
    expect(network.registry.organisations).toHaveLength(300);
    expect(network.registry.services).toHaveLength(12);
    expect(network.registry.groups.map((g) => g.id)).toEqual(
      expect.arrayContaining(['acute-trusts', 'gp-practices', 'care-homes', 'pharmacies', 'local-authorities']),
    );
  });

  it('is the same for the same seed and different for another', () => {
    expect(generateNetwork({ seed: 42 })).toEqual(network);
    const other = generateNetwork({ seed: 43 });
    expect(other.registry.organisations.map((o) => o.code)).not.toEqual(network.registry.organisations.map((o) => o.code));
  });

  it('gives every supplier exporters on distinct 127/8 addresses, speaking every protocol between them', () => {
    const protocols = new Set(network.suppliers.map((s) => s.protocol));
    expect([...protocols].sort()).toEqual([...EXPORT_PROTOCOLS].sort());
    const addresses = network.exporters.filter((e) => e.protocol !== 'json').map((e) => e.address);
    expect(new Set(addresses).size).toBe(addresses.length);
    for (const a of addresses) expect(a).toMatch(/^127\.\d+\.\d+\.\d+$/);
    for (const s of network.suppliers) {
      expect(s.exporters.length).toBeGreaterThan(0);
      expect(network.organisations.some((o) => o.supplierId === s.id)).toBe(true);
    }
  });

  it('gives push suppliers a token whose SHA-256 is in the registry, and no one else a token', () => {
    for (const s of network.suppliers) {
      const entry = network.registry.suppliers.find((r) => r.id === s.id);
      if (s.protocol === 'json') {
        expect(s.pushToken).toMatch(/^fwsim_/);
        expect(entry?.pushTokens).toEqual([
          `sha256:${createHash('sha256')
            .update(s.pushToken as string)
            .digest('hex')}`,
        ]);
        expect(entry?.exporters).toEqual([]);
      } else {
        expect(s.pushToken).toBeUndefined();
        expect(entry?.pushTokens).toEqual([]);
      }
    }
    // Derived from the seed: another seed, other tokens.
    const other = generateNetwork({ seed: 43 }).suppliers.find((s) => s.protocol === 'json');
    expect(other?.pushToken).not.toBe(network.suppliers.find((s) => s.protocol === 'json')?.pushToken);
  });

  it('addresses hosts inside their own organisation or service, as the enrichment sees them', () => {
    const enricher = new Enricher(network.registry);
    for (const org of network.organisations) {
      const samples = [
        clientV4(org, 0),
        clientV4(org, org.clients - 1),
        clientV6(org, org.clients - 1),
        serverV4(org, 0),
        serverV6(org, org.servers - 1),
      ];
      for (const a of samples) expect(owner(enricher, a), `${a} of ${org.code}`).toEqual({ org: org.code, service: '' });
    }
    for (const s of network.services) {
      for (const a of [serviceV4(s, 0), serviceV6(s, s.hosts - 1)]) expect(owner(enricher, a).org).toBe('');
      const f = { ...emptyFlow('IPFIX'), src_addr: '10.0.0.1', dst_addr: serviceV4(s, s.hosts - 1), dst_port: s.ports[0] as number };
      expect(enricher.enrich(f).service).toBe(s.id);
    }
  });

  it('allocates non-overlapping, aligned IPv4 prefixes in 10/8 sized by kind of organisation', () => {
    const spans = network.organisations.map((o) => [o.v4.base, o.v4.base + 2 ** (32 - o.v4.length)] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    for (const o of network.organisations) {
      expect(o.v4.base % 2 ** (32 - o.v4.length)).toBe(0);
      expect(o.v4.base >>> 24).toBe(10);
    }
    const acute = network.organisations.filter((o) => o.type === 'acute-trust');
    const gp = network.organisations.filter((o) => o.type === 'gp-practice');
    expect(acute.length).toBeGreaterThan(10);
    expect(gp.length).toBeGreaterThan(100);
    expect(acute.every((o) => o.v4.length === 16)).toBe(true);
    expect(gp.every((o) => o.v4.length === 24)).toBe(true);
    // Trusts are far bigger than practices.
    const avg = (xs: { staff: number }[]) => xs.reduce((s, o) => s + o.staff, 0) / xs.length;
    expect(avg(acute)).toBeGreaterThan(50 * avg(gp));
  });

  it('gives organisations unique codes shaped like ODS (trusts, practices, pharmacies), CQC and ONS codes', () => {
    const codes = network.organisations.map((o) => o.code);
    expect(new Set(codes).size).toBe(codes.length);
    const shapes: Record<string, RegExp> = {
      'acute-trust': /^R[A-Z0-9]{2}$/,
      'gp-practice': /^[A-Z]\d{5}$/,
      pharmacy: /^F[A-Z0-9]{4}$/,
      'care-home': /^1-\d{9}$/,
      'local-authority': /^E0\d{7}$/,
    };
    for (const o of network.organisations) if (shapes[o.type]) expect(o.code).toMatch(shapes[o.type] as RegExp);
  });

  it('scales to 2,000 organisations and 30 suppliers, still valid', () => {
    const big = generateNetwork({ seed: 1, organisations: 2000, suppliers: 30 });
    expect(registrySchema.safeParse(big.registry).success).toBe(true);
    expect(big.exporters.filter((e) => e.address !== '').every((e) => isIPv4(e.address))).toBe(true);
  });
});
