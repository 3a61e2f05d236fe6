import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '@flowwatch/config';
import { LocalKafka } from '@flowwatch/local-kafka';
import { freePort, silentLogger } from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from './client.js';
import { ensureTopics } from './topics.js';

/**
 * flowwatch against a broker secured as production brokers are: SASL/SCRAM-SHA-512 over TLS with
 * a private CA. The settings come through the config schema (kafka.sasl, kafka.tls), as an
 * operator writes them.
 */
const dir = mkdtempSync(join(tmpdir(), 'fw-kafka-sec-'));
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
let broker: LocalKafka;
let saslPort: number;

beforeAll(async () => {
  writeFileSync(join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.csr', '-subj', '/CN=test-ca');
  openssl('x509', '-req', '-in', 'ca.csr', '-signkey', 'ca.key', '-days', '2', '-out', 'ca.crt', '-extfile', 'ca.ext');
  openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    'server.crt',
    '-extfile',
    'server.ext',
  );
  // Kafka's PEM keystore: the private key, then the certificate chain.
  writeFileSync(join(dir, 'keystore.pem'), readFileSync(join(dir, 'server.key'), 'utf8') + readFileSync(join(dir, 'server.crt'), 'utf8'));
  // A second CA that signed nothing the broker uses.
  openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.csr', '-subj', '/CN=other-ca');
  openssl('x509', '-req', '-in', 'other.csr', '-signkey', 'other.key', '-days', '2', '-out', 'other.crt', '-extfile', 'ca.ext');
  saslPort = await freePort();
  broker = new LocalKafka({
    runtime: 'jvm',
    host: '127.0.0.1',
    port: await freePort(),
    controllerPort: await freePort(),
    dataDir: join(dir, 'kafka'),
    cacheDir: join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? tmpdir(), '.cache'), 'flowwatch', 'kafka'),
    heapMb: 512,
    startTimeoutMs: 120_000,
    saslSsl: { port: saslPort, users: [{ username: 'flowwatch', password: 's3cret-pw' }], keystorePemFile: join(dir, 'keystore.pem') },
  });
  await broker.start();
}, 180_000);
afterAll(async () => {
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const connect = (kafka: Record<string, unknown>) => {
  const config = configSchema.parse({ kafka: { brokers: [`127.0.0.1:${saslPort}`], connectionTimeoutMs: 5000, ...kafka } }).kafka;
  return createKafka({ ...config, clientId: 'sec-test' }, silentLogger);
};

describe('Kafka with SASL/SCRAM over TLS', () => {
  it('produces and consumes with the configured credentials and private CA', async () => {
    const kafka = connect({
      tls: { caFile: join(dir, 'ca.crt') },
      sasl: { mechanism: 'scram-sha-512', username: 'flowwatch', password: 's3cret-pw' },
    });
    await ensureTopics(
      kafka,
      [{ name: 'secure', partitions: 1, replicationFactor: 1, retentionMs: 600_000, cleanupPolicy: 'delete' }],
      silentLogger,
    );
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'secure', messages: [{ key: 'k', value: 'over TLS with SCRAM' }] });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: 'secure-readers' });
    await consumer.connect();
    await consumer.subscribe({ topics: ['secure'], fromBeginning: true });
    const got: string[] = [];
    await consumer.run({ eachMessage: async ({ message }) => void got.push(String(message.value)) });
    const end = Date.now() + 30_000;
    while (got.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    await consumer.disconnect();
    expect(got).toEqual(['over TLS with SCRAM']);
  }, 90_000);

  it('fails with a wrong password, and with a CA that did not sign the broker', async () => {
    const wrongPassword = connect({
      tls: { caFile: join(dir, 'ca.crt') },
      sasl: { mechanism: 'scram-sha-512', username: 'flowwatch', password: 'wrong' },
    }).admin();
    await expect(wrongPassword.connect()).rejects.toThrow(/SASL|authentication|credentials/i);
    await wrongPassword.disconnect();
    const wrongCa = connect({
      tls: { caFile: join(dir, 'other.crt') },
      sasl: { mechanism: 'scram-sha-512', username: 'flowwatch', password: 's3cret-pw' },
    }).admin();
    await expect(wrongCa.connect()).rejects.toThrow();
    await wrongCa.disconnect();
  }, 90_000);

  it('refuses a client certificate without its key in the config', () => {
    expect(configSchema.safeParse({ kafka: { tls: { certFile: 'c.pem' } } }).success).toBe(false);
  });
});
