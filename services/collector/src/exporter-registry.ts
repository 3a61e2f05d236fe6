import { createHash, timingSafeEqual } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { RegistryConfig } from '@flowwatch/config';

export interface ExporterInfo {
  supplierId: string;
  exporterId: string;
  defaultSamplingRate: number;
}

/**
 * Who may send flows: exporter source addresses and push tokens, by supplier. Built from the
 * registry config; rebuilt (not mutated) on reload so look-ups never see a half-updated table.
 */
export class ExporterRegistry {
  private readonly byAddress = new Map<string, ExporterInfo>();
  private readonly tokenHashes: { hash: Buffer; supplierId: string }[] = [];
  private readonly certs = new Map<string, string>();
  readonly supplierIds: ReadonlySet<string>;

  constructor(registry: RegistryConfig) {
    for (const s of registry.suppliers) {
      for (const e of s.exporters) {
        this.byAddress.set(canonicalAddress(e.address), { supplierId: s.id, exporterId: e.id, defaultSamplingRate: e.samplingRate });
      }
      for (const t of s.pushTokens) this.tokenHashes.push({ hash: Buffer.from(t.slice('sha256:'.length), 'hex'), supplierId: s.id });
      for (const f of s.clientCertFingerprints) this.certs.set(f, s.id);
    }
    this.supplierIds = new Set(registry.suppliers.map((s) => s.id));
  }

  /** The exporter a datagram's source address belongs to, or undefined (drop and count). */
  exporter(address: string): ExporterInfo | undefined {
    return this.byAddress.get(canonicalAddress(address));
  }

  /** The supplier a bearer token belongs to, comparing hashes in constant time. */
  supplierForToken(token: string): string | undefined {
    const hash = createHash('sha256').update(token).digest();
    let found: string | undefined;
    for (const t of this.tokenHashes) if (timingSafeEqual(t.hash, hash)) found ??= t.supplierId;
    return found;
  }

  supplierForCertificate(fingerprint256: string): string | undefined {
    return this.certs.get(fingerprint256);
  }

  /** A supplier with certificate fingerprints in the registry pushes only with one of them. */
  requiresCertificate(supplierId: string): boolean {
    for (const s of this.certs.values()) if (s === supplierId) return true;
    return false;
  }
}

/** Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d; IPv6 addresses are compared compressed. */
export function canonicalAddress(address: string): string {
  const a = address.toLowerCase();
  if (a.startsWith('::ffff:') && isIPv4(a.slice(7))) return a.slice(7);
  if (isIPv6(a)) {
    try {
      return new URL(`http://[${a}]/`).hostname.slice(1, -1);
    } catch {
      return a;
    }
  }
  return a;
}

/** What a supplier puts in its config: the SHA-256 of a token, never the token itself. */
export function hashToken(token: string): string {
  return `sha256:${createHash('sha256').update(token).digest('hex')}`;
}
