import { compressSync } from 'snappy';
import { describe, expect, it } from 'vitest';
import { snappyDecompress } from './client.js';

/** The Java client's framing: magic, version 1, compatible version 1, then length-prefixed blocks. */
function xerial(blocks: Buffer[]): Buffer {
  const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
  const parts: Buffer[] = [header];
  for (const b of blocks) {
    const c = compressSync(b) as Buffer;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(c.length);
    parts.push(length, c);
  }
  return Buffer.concat(parts);
}

describe('snappyDecompress', () => {
  const a = Buffer.from('{"bytes":1}\n'.repeat(1000));
  const b = Buffer.from('{"bytes":2}\n'.repeat(700));

  it('reads raw Snappy (librdkafka, kafkajs) and the Java client xerial framing', async () => {
    expect((await snappyDecompress(compressSync(a) as Buffer)).equals(a)).toBe(true);
    expect((await snappyDecompress(xerial([a, b]))).equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('refuses a truncated or padded xerial stream', async () => {
    const framed = xerial([a, b]);
    await expect(snappyDecompress(framed.subarray(0, framed.length - 3))).rejects.toThrow(/truncated/);
    await expect(snappyDecompress(Buffer.concat([framed, Buffer.from([1, 2])]))).rejects.toThrow(/trailing/);
  });
});
