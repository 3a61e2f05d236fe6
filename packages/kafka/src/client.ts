import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import kafkajs, { CompressionTypes, Kafka, type KafkaConfig as KafkaJsConfig, logLevel, type SASLOptions } from 'kafkajs';
import { compressFrame, decompressFrame } from 'lz4-napi';
import type { Logger } from 'pino';
import { compress as snappyCompress, uncompress as snappyUncompress } from 'snappy';

export interface KafkaConnection {
  brokers: string[];
  clientId: string;
  ssl: boolean;
  /** PEM files for TLS to the brokers (a private CA, a client certificate); implies ssl. */
  tls?: { caFile?: string | undefined; certFile?: string | undefined; keyFile?: string | undefined } | undefined;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string } | undefined;
  connectionTimeoutMs: number;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/**
 * kafkajs compresses with zlib's default level 6. Flow records (NDJSON, very repetitive) compress
 * about as well at level 1 (48x against 50x measured) for a third of the CPU, which decides
 * whether a collector keeps up; zlib runs on libuv's thread pool, off the event loop.
 */
// CompressionCodecs is not among the names Node's ESM loader detects in kafkajs's CommonJS exports.
kafkajs.CompressionCodecs[CompressionTypes.GZIP] = () => ({
  compress: async (encoder: { buffer: Buffer }) => gzipAsync(encoder.buffer, { level: 1 }),
  decompress: async (buffer: Buffer) => gunzipAsync(buffer),
});

/**
 * LZ4 and Snappy, which kafkajs leaves to plug-ins, registered here so that every client made
 * through this package (collector, aggregator, detector, api, cli, tests, benchmarks) reads them.
 * Both are Rust libraries shipped as binaries inside npm packages, run on libuv's pool.
 *
 * LZ4 is Kafka's frame format (independent blocks, as Kafka requires). On flow NDJSON it
 * compresses at about a third of gzip level 1's CPU, with a ratio of 19 against 24, and the
 * broker's and consumers' decompression is cheaper too (docs/benchmarks.md, collector section).
 */
kafkajs.CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async (encoder: { buffer: Buffer }) => compressFrame(encoder.buffer),
  decompress: async (buffer: Buffer) => decompressFrame(buffer),
});
kafkajs.CompressionCodecs[CompressionTypes.Snappy] = () => ({
  compress: async (encoder: { buffer: Buffer }) => snappyCompress(encoder.buffer),
  decompress: async (buffer: Buffer) => snappyDecompress(buffer),
});

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);

/**
 * Snappy as Kafka carries it: raw Snappy (librdkafka, kafkajs) or the Java client's xerial
 * framing (an 8-byte magic, two 4-byte versions, then chunks of a 4-byte big-endian length and
 * a raw Snappy block).
 */
export async function snappyDecompress(buffer: Buffer): Promise<Buffer> {
  if (buffer.length < 16 || !buffer.subarray(0, 8).equals(XERIAL_MAGIC)) return (await snappyUncompress(buffer)) as Buffer;
  const chunks: Buffer[] = [];
  let pos = 16;
  while (pos + 4 <= buffer.length) {
    const length = buffer.readUInt32BE(pos);
    pos += 4;
    if (pos + length > buffer.length) throw new Error('snappy: truncated xerial chunk');
    chunks.push((await snappyUncompress(buffer.subarray(pos, pos + length))) as Buffer);
    pos += length;
  }
  if (pos !== buffer.length) throw new Error('snappy: trailing bytes after xerial chunks');
  return Buffer.concat(chunks);
}

/** A kafkajs client whose logs go through pino (component=kafkajs) at warn and above. */
export function createKafka(conn: KafkaConnection, logger: Logger): Kafka {
  const log = logger.child({ component: 'kafkajs' });
  const config: KafkaJsConfig = {
    clientId: conn.clientId,
    brokers: conn.brokers,
    ssl: conn.tls
      ? {
          ...(conn.tls.caFile ? { ca: [readFileSync(conn.tls.caFile, 'utf8')] } : {}),
          ...(conn.tls.certFile ? { cert: readFileSync(conn.tls.certFile, 'utf8') } : {}),
          ...(conn.tls.keyFile ? { key: readFileSync(conn.tls.keyFile, 'utf8') } : {}),
        }
      : conn.ssl,
    connectionTimeout: conn.connectionTimeoutMs,
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }) => {
        const { message, timestamp: _t, logger: _l, ...rest } = entry;
        // A coordinator still loading right after a broker starts is retried by kafkajs: not an error.
        const transient =
          typeof rest.error === 'string' && /coordinator is loading|not the correct coordinator|leadership election/i.test(rest.error);
        log[transient ? 'debug' : (LEVELS[level] ?? 'info')](rest, message);
      },
    retry: { initialRetryTime: 300, retries: 8 },
  };
  if (conn.sasl) config.sasl = { ...conn.sasl } as SASLOptions;
  return new Kafka(config);
}
