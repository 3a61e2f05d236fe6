import type { Admin, Kafka } from 'kafkajs';

/**
 * Watches whether the cluster answers, for /readyz: a metadata request every `intervalMs`.
 * Cheap (one admin connection) and independent of any producer or consumer.
 */
export class KafkaHealth {
  private admin: Admin | undefined;
  private timer: NodeJS.Timeout | undefined;
  private state: { ready: true } | { ready: false; reason: string } = { ready: false, reason: 'not checked yet' };

  constructor(
    private readonly kafka: Kafka,
    private readonly intervalMs = 5000,
  ) {}

  async start(): Promise<void> {
    this.admin = this.kafka.admin();
    await this.probe();
    this.timer = setInterval(() => void this.probe(), this.intervalMs);
    this.timer.unref();
  }

  check(): { ready: true } | { ready: false; reason: string } {
    return this.state;
  }

  async probe(): Promise<void> {
    if (!this.admin) return;
    try {
      await this.admin.connect();
      const cluster = await this.admin.describeCluster();
      this.state = cluster.brokers.length > 0 ? { ready: true } : { ready: false, reason: 'no brokers in metadata' };
    } catch (err) {
      this.state = { ready: false, reason: `kafka unreachable: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.admin?.disconnect().catch(() => {});
    this.admin = undefined;
  }
}
