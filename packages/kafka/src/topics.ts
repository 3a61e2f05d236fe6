import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';

export interface TopicSpec {
  name: string;
  partitions: number;
  replicationFactor: number;
  retentionMs: number;
  cleanupPolicy: 'delete' | 'compact';
}

export interface EnsureTopicsResult {
  created: string[];
  existing: string[];
}

/**
 * Creates missing topics with their partitions and retention. Existing topics get their
 * retention and cleanup policy brought in line; their partition count is never raised
 * automatically, because that would move keys (and so one exporter's order) between partitions.
 */
export async function ensureTopics(kafka: Kafka, specs: readonly TopicSpec[], logger: Logger): Promise<EnsureTopicsResult> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.name));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: s.name,
          numPartitions: s.partitions,
          replicationFactor: s.replicationFactor,
          configEntries: topicConfigEntries(s),
        })),
      });
    }
    const present = specs.filter((s) => existing.has(s.name));
    if (present.length > 0) {
      const meta = await admin.fetchTopicMetadata({ topics: present.map((s) => s.name) });
      for (const t of meta.topics) {
        const spec = present.find((s) => s.name === t.name);
        if (spec && t.partitions.length !== spec.partitions) {
          logger.warn(
            { topic: t.name, partitions: t.partitions.length, configured: spec.partitions },
            'topic partition count differs from config; left as is (changing it reorders keys)',
          );
        }
      }
      await admin.alterConfigs({
        validateOnly: false,
        resources: present.map((s) => ({ type: 2 /* TOPIC */, name: s.name, configEntries: topicConfigEntries(s) })),
      });
    }
    return { created: missing.map((s) => s.name), existing: present.map((s) => s.name) };
  } finally {
    await admin.disconnect();
  }
}

function topicConfigEntries(s: TopicSpec): { name: string; value: string }[] {
  return [
    { name: 'retention.ms', value: s.retentionMs === 0 ? '-1' : String(s.retentionMs) },
    { name: 'cleanup.policy', value: s.cleanupPolicy },
  ];
}
