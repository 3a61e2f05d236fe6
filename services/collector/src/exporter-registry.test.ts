import { describe, expect, it } from 'vitest';
import { canonicalAddress, ExporterRegistry, hashToken } from './exporter-registry.js';

const registry = new ExporterRegistry({
  organisations: [],
  services: [],
  groups: [],
  suppliers: [
    {
      id: 'supplier-a',
      name: 'A',
      exporters: [
        { id: 'core-1', address: '10.1.0.1', samplingRate: 1000 },
        { id: 'core-6', address: '2001:DB8:0:0::1', samplingRate: 0 },
      ],
      pushTokens: [hashToken('token-a')],
      clientCertFingerprints: [],
    },
    {
      id: 'supplier-b',
      name: 'B',
      exporters: [{ id: 'edge', address: '10.2.0.1', samplingRate: 0 }],
      pushTokens: [hashToken('token-b')],
      clientCertFingerprints: [],
    },
  ],
});

describe('ExporterRegistry', () => {
  it('finds exporters by source address, whatever its spelling', () => {
    expect(registry.exporter('10.1.0.1')).toEqual({ supplierId: 'supplier-a', exporterId: 'core-1', defaultSamplingRate: 1000 });
    expect(registry.exporter('::ffff:10.1.0.1')?.exporterId).toBe('core-1');
    expect(registry.exporter('2001:db8::1')?.exporterId).toBe('core-6');
    expect(registry.exporter('10.1.0.2')).toBeUndefined();
  });

  it('maps push tokens to their supplier only', () => {
    expect(registry.supplierForToken('token-a')).toBe('supplier-a');
    expect(registry.supplierForToken('token-b')).toBe('supplier-b');
    expect(registry.supplierForToken('token-c')).toBeUndefined();
    expect(registry.supplierForToken('')).toBeUndefined();
  });

  it('canonicalises addresses', () => {
    expect(canonicalAddress('::FFFF:192.0.2.1')).toBe('192.0.2.1');
    expect(canonicalAddress('2001:0db8:0000::0001')).toBe('2001:db8::1');
  });
});
