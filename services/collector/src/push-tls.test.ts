import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type RegistryConfig } from '@flowwatch/config';
import { createRegistry, RateLimitedLog } from '@flowwatch/observability';
import { silentLogger } from '@flowwatch/test-support';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCollectorMetrics } from './collector-metrics.js';
import { ExporterRegistry } from './exporter-registry.js';
import type { FlowOutput } from './flow-output.js';
import { buildPushServer } from './push-server.js';

// Real TLS: a CA, a server certificate for 127.0.0.1, and client certificates made by openssl.
const dir = mkdtempSync(join(tmpdir(), 'fw-push-tls-'));
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
function certificate(name: string, signer?: string, extra: string[] = []) {
  openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  if (signer) {
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${signer}.crt`,
      '-CAkey',
      `${signer}.key`,
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.crt`,
      ...extra,
    );
  } else {
    openssl('x509', '-req', '-in', `${name}.csr`, '-signkey', `${name}.key`, '-days', '2', '-out', `${name}.crt`, ...extra);
  }
  return { cert: readFileSync(join(dir, `${name}.crt`)), key: readFileSync(join(dir, `${name}.key`)) };
}
const fingerprint = (pem: Buffer) => new X509Certificate(pem).fingerprint256;

const TOKENS = { a: 'token-of-supplier-a', b: 'token-of-supplier-b' };
const sha = (t: string) => `sha256:${execFileSync('sha256sum', { input: t }).toString().slice(0, 64)}`;

async function server(tls: { requireClientCert: boolean; caFile?: string }, registry: RegistryConfig) {
  const accepted: string[] = [];
  const output = {
    writeFlows: (supplier: string, _exporter: string, records: unknown[]) => {
      accepted.push(...records.map(() => supplier));
      return 'queued';
    },
    deadLetter: () => {},
  } as unknown as FlowOutput;
  const push = configSchema.parse({
    collector: { push: { tls: { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), ...tls } } },
  }).collector.push;
  const app = buildPushServer({
    config: push,
    registry: () => new ExporterRegistry(registry),
    output,
    metrics: createCollectorMetrics(createRegistry()),
    logger: silentLogger,
    warnOnce: new RateLimitedLog(silentLogger),
    canAccept: () => true,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  return { app, port, accepted };
}

function post(port: number, token: string, client?: { cert: Buffer; key: Buffer }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/v1/flows',
        ca: readFileSync(join(dir, 'ca.crt')),
        ...(client ?? {}),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end('{"src_addr":"10.0.0.1","dst_addr":"10.0.0.2","bytes":100,"packets":1,"proto":6}\n');
  });
}

let clientA: { cert: Buffer; key: Buffer };
let clientB: { cert: Buffer; key: Buffer };
let selfSignedA: { cert: Buffer; key: Buffer };
let registry: RegistryConfig;
const apps: FastifyInstance[] = [];

beforeAll(() => {
  const caExt = join(dir, 'ca.ext');
  execFileSync('sh', ['-c', `printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n' > ${caExt}`]);
  certificate('ca', undefined, ['-extfile', caExt]);
  const san = join(dir, 'san.ext');
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1\\n' > ${san}`]);
  certificate('server', 'ca', ['-extfile', san]);
  clientA = certificate('client-a', 'ca');
  clientB = certificate('client-b', 'ca');
  selfSignedA = certificate('self-a');
  registry = {
    suppliers: [
      // Supplier A is pinned to its certificate (mutual TLS); B pushes with its token alone.
      { id: 'a', name: 'A', exporters: [], pushTokens: [sha(TOKENS.a)], clientCertFingerprints: [fingerprint(clientA.cert)] },
      { id: 'b', name: 'B', exporters: [], pushTokens: [sha(TOKENS.b)], clientCertFingerprints: [] },
    ],
    organisations: [],
    services: [],
    groups: [],
  };
}, 60_000);
afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
});

describe('push API over TLS', () => {
  it('pins a supplier to its client certificate and lets a token-only supplier push with its token', async () => {
    const s = await server({ requireClientCert: false, caFile: join(dir, 'ca.crt') }, registry);
    apps.push(s.app);
    expect((await post(s.port, TOKENS.a, clientA)).status).toBe(202);
    // A's token without A's certificate, or with B's certificate, is refused.
    const noCert = await post(s.port, TOKENS.a);
    expect(noCert.status).toBe(403);
    expect(JSON.parse(noCert.body).message).toMatch(/client certificate/);
    expect((await post(s.port, TOKENS.a, clientB)).status).toBe(403);
    // B pushes with its token alone; with A's certificate it is refused (a certificate of another supplier).
    expect((await post(s.port, TOKENS.b)).status).toBe(202);
    expect((await post(s.port, TOKENS.b, clientA)).status).toBe(403);
    // A bad token is 401 whatever the certificate.
    expect((await post(s.port, 'nope', clientA)).status).toBe(401);
    expect(s.accepted).toEqual(['a', 'b']);
  });

  it('with requireClientCert, refuses the handshake without a certificate signed by the CA', async () => {
    const s = await server({ requireClientCert: true, caFile: join(dir, 'ca.crt') }, registry);
    apps.push(s.app);
    expect((await post(s.port, TOKENS.a, clientA)).status).toBe(202);
    expect((await post(s.port, TOKENS.b, clientB)).status).toBe(202);
    await expect(post(s.port, TOKENS.b)).rejects.toThrow();
    await expect(post(s.port, TOKENS.a, selfSignedA)).rejects.toThrow();
    expect(s.accepted).toEqual(['a', 'b']);
  });

  it('refuses requireClientCert without the CA that signs client certificates', () => {
    const r = configSchema.safeParse({ collector: { push: { tls: { certFile: 'x', keyFile: 'y', requireClientCert: true } } } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/caFile/);
  });
});
