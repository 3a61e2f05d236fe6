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
 * one whole and still named by the manifest; compaction keeps the newest message of each key. `owner` is the consumer group (one instance per group),
 * or with the repartition stage `<group>.p<partition>`: one checkpoint per partition of
 * `flows.by-entity` (docs/detection.md, "Horizontal scale").
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
  return (await readCheckpoints(kafka, topic, [owner], logger)).get(owner);
}

/**
 * Reads the state topic to its end once and returns the newest complete checkpoint of each of
 * `owners` that has one (a detector restoring several partitions at a re-assignment reads once).
 */
export async function readCheckpoints(
  kafka: Kafka,
  topic: string,
  owners: readonly string[],
  logger: Logger,
): Promise<Map<string, EngineSnapshot>> {
  const out = new Map<string, EngineSnapshot>();
  const wanted = new Set(owners);
  const ownerOf = (key: string): string | undefined => {
    if (wanted.has(key)) return key;
    // `<owner>/<slot>/<n>`: the owner is everything before the last two segments.
    const b = key.lastIndexOf('/');
    const a = b > 0 ? key.lastIndexOf('/', b - 1) : -1;
    const owner = a > 0 ? key.slice(0, a) : undefined;
    return owner !== undefined && wanted.has(owner) ? owner : undefined;
  };
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    ends = new Map(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]));
  } finally {
    await admin.disconnect();
  }
  if (ends.size === 0) return out;
  const latest = new Map<string, { value: Buffer; checkpoint: string }>();
  const consumer = kafka.consumer({ groupId: `${owners[0] ?? 'detector'}-restore-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const remaining = new Map(ends);
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const key = message.key?.toString() ?? '';
        if (message.value && ownerOf(key) !== undefined) {
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
  for (const owner of owners) {
    const manifest = latest.get(owner);
    if (manifest === undefined) continue;
    const { id, slot, chunks } = JSON.parse(manifest.value.toString()) as { id: string; slot: number; chunks: number };
    const parts: Buffer[] = [];
    for (let i = 0; i < chunks; i++) {
      const part = latest.get(`${owner}/${slot}/${i}`);
      if (part === undefined || part.checkpoint !== id) {
        logger.warn({ owner, id, chunk: i }, 'checkpoint incomplete; starting without it');
        break;
      }
      parts.push(part.value);
    }
    if (parts.length === chunks) out.set(owner, JSON.parse(gunzipSync(Buffer.concat(parts)).toString()) as EngineSnapshot);
  }
  return out;
}
