import { OldestFirst } from '@flowwatch/insertion-order';
import { type DestinationStream, destination, type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerConfig {
  level: string;
  /** auto: human-readable on a TTY, JSON otherwise. */
  pretty: 'auto' | 'always' | 'never';
}

/**
 * One pino logger per process; components take `logger.child({ component })`.
 * JSON lines on stderr so stdout stays free for command output (decode, query commands).
 */
export function createLogger(config: LoggerConfig, bindings: { service: string }, to?: DestinationStream): Logger {
  const pretty = config.pretty === 'always' || (config.pretty === 'auto' && process.stderr.isTTY === true);
  const options: LoggerOptions = {
    level: config.level,
    base: { pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Secrets never reach the logs, whatever object a caller logs.
    redact: {
      paths: ['password', '*.password', '*.*.password', 'sasl', '*.sasl', 'token', '*.token', 'authorization', '*.authorization'],
      censor: '[redacted]',
    },
  };
  // Tests capture the lines (to prove what never reaches them); the process writes to stderr.
  if (to) return pino(options, to);
  if (pretty) {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, ignore: 'pid,hostname' } },
    });
  }
  return pino(options, destination({ dest: 2, sync: false }));
}

/**
 * Logs at most once per key and interval and counts what it held back, so a flood of bad
 * datagrams from one source becomes one line a minute, not one per datagram.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  private readonly oldest = new OldestFirst(this.last);

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 60_000,
    private readonly maxKeys = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  warn(key: string, obj: Record<string, unknown>, msg: string): void {
    const t = this.now();
    const entry = this.last.get(key);
    if (entry && t - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    // Bounded: forget the oldest key rather than grow without limit under attack.
    if (!entry && this.last.size >= this.maxKeys) this.oldest.shift();
    this.last.delete(key);
    this.last.set(key, { at: t, suppressed: 0 });
    this.logger.warn({ ...obj, suppressed: entry?.suppressed ?? 0 }, msg);
  }
}

/** For per-request loggers: warn, or the parent's level when that is quieter (tests run silent). */
export function atLeastWarn(logger: Logger): string {
  return logger.levelVal > 40 ? logger.level : 'warn';
}
