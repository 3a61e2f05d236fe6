import type { Kafka, KafkaMessage } from 'kafkajs';
import { uniqueName } from './kafka.js';

/**
 * Reads a topic from the beginning with a fresh consumer group until `done(messages)` holds or
 * `quietMs` pass with no new message after it does (to catch duplicates), or the time-out.
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  options: { done: (messages: KafkaMessage[]) => boolean; timeoutMs?: number; quietMs?: number },
): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 200 });
  const messages: KafkaMessage[] = [];
  let last = Date.now();
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      messages.push(message);
      last = Date.now();
    },
  });
  const end = Date.now() + (options.timeoutMs ?? 30_000);
  const quiet = options.quietMs ?? 1000;
  while (Date.now() < end) {
    if (options.done(messages) && Date.now() - last >= quiet) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await consumer.disconnect();
  return messages;
}
