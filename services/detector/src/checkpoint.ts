import { gunzipSync, gzipSync } from 'node:zlib';
import type { EngineSnapshot } from '@flowwatch/detection';
import type { BufferedProducer } from '@flowwatch/kafka';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';

export const STATE_SCHEMA = 'flowwatch.detector-state.v1';
/** Below the broker's default message.max.bytes (1 MiB) with room for headers and batching. */
const CHUNK_BYTES = 512 * 1024;

/**
 * Checkpoints of the engine's long-lived state (baselines, learnt pairs, silence cadences, open
 * alerts) on the compacted `detector.state` topic. A checkpoint is gzipped JSON cut into chunks
 * keyed `<owner>/<slot>/<n>`, then a manifest keyed `<owner>` naming its id, slot and chunk count.
 * Checkpoints alternate between slots 0 and 1, so a crash while writing one leaves the previous
 * one whole and still named by the manifest; compaction keeps the newest message of each key. `owner` is the consumer group (one instance per group today,
 * see docs/detection.md).
 */
export function checkpointMessages(owner: string, snapshot: EngineSnapshot, id: string, slot: number) {
  const gz = gzipSync(Buffer.from(JSON.stringify(snapshot)), { level: 1 });
  const chunks = Math.max(1, Math.ceil(gz.length / CHUNK_BYTES));
  const headers = { schema: STATE_SCHEMA, checkpoint: id };
  const messages = [];
  for (let i = 0; i < chunks; i++) {
    messages.push({ key: `${owner}/${slot}/${i}`, value: gz.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES), headers });
  }
  messages.push({ key: owner, value: JSON.stringify({ id, slot, chunks, bytes: gz.length }), headers });
  return { messages, bytes: gz.length };
}

export function writeCheckpoint(
  producer: BufferedProducer,
  topic: string,
  owner: string,
  snapshot: EngineSnapshot,
  id: string,
  slot: number,
): number {
  const { messages, bytes } = checkpointMessages(owner, snapshot, id, slot);
  producer.send(topic, messages);
  return bytes;
}

/** Reads the newest complete checkpoint of `owner`, or undefined (none yet, or incomplete). */
export async function readCheckpoint(kafka: Kafka, topic: string, owner: string, logger: Logger): Promise<EngineSnapshot | undefined> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    ends = new Map(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]));
  } finally {
    await admin.disconnect();
  }
  if (ends.size === 0) return undefined;
  const latest = new Map<string, { value: Buffer; checkpoint: string }>();
  const consumer = kafka.consumer({ groupId: `${owner}-restore-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const remaining = new Map(ends);
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const key = message.key?.toString() ?? '';
        if ((key === owner || key.startsWith(`${owner}/`)) && message.value) {
          latest.set(key, { value: message.value, checkpoint: message.headers?.checkpoint?.toString() ?? '' });
        }
        const end = remaining.get(partition);
        if (end !== undefined && BigInt(message.offset) + 1n >= end) remaining.delete(partition);
      },
    });
    const deadline = Date.now() + 60_000;
    while (remaining.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (remaining.size > 0) logger.warn({ topic }, 'state topic not read to its end within 60 s; using what was read');
  } finally {
    await consumer.disconnect();
  }
  const manifest = latest.get(owner);
  if (manifest === undefined) return undefined;
  const { id, slot, chunks } = JSON.parse(manifest.value.toString()) as { id: string; slot: number; chunks: number };
  const parts: Buffer[] = [];
  for (let i = 0; i < chunks; i++) {
    const part = latest.get(`${owner}/${slot}/${i}`);
    if (part === undefined || part.checkpoint !== id) {
      logger.warn({ id, chunk: i }, 'checkpoint incomplete; starting without it');
      return undefined;
    }
    parts.push(part.value);
  }
  return JSON.parse(gunzipSync(Buffer.concat(parts)).toString()) as EngineSnapshot;
}
