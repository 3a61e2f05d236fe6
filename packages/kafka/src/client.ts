import { Kafka, type KafkaConfig as KafkaJsConfig, logLevel, type SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';

export interface KafkaConnection {
  brokers: string[];
  clientId: string;
  ssl: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string } | undefined;
  connectionTimeoutMs: number;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** A kafkajs client whose logs go through pino (component=kafkajs) at warn and above. */
export function createKafka(conn: KafkaConnection, logger: Logger): Kafka {
  const log = logger.child({ component: 'kafkajs' });
  const config: KafkaJsConfig = {
    clientId: conn.clientId,
    brokers: conn.brokers,
    ssl: conn.ssl,
    connectionTimeout: conn.connectionTimeoutMs,
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }) => {
        const { message, timestamp: _t, logger: _l, ...rest } = entry;
        log[LEVELS[level] ?? 'info'](rest, message);
      },
    retry: { initialRetryTime: 300, retries: 8 },
  };
  if (conn.sasl) config.sasl = { ...conn.sasl } as SASLOptions;
  return new Kafka(config);
}
