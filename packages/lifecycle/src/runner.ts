import type { Logger } from 'pino';
import type { Service } from './service.js';

export interface Runner {
  /** Starts services in order; if one fails, stops the started ones in reverse and rethrows. */
  start(): Promise<void>;
  /** Stops started services in reverse order. Idempotent; concurrent calls share one stop. */
  stop(reason?: string): Promise<void>;
  /** Resolves when the runner has stopped, with the reason (a signal, a fatal error). */
  readonly stopped: Promise<string>;
  /** For a component's background loop that cannot go on: stops the whole process. */
  fatal(component: string, err: unknown): void;
}

export function createRunner(services: readonly Service[], logger: Logger): Runner {
  const started: Service[] = [];
  let stopping: Promise<void> | undefined;
  // The start step in progress: a stop requested meanwhile waits for it, so the service that was
  // starting is stopped too instead of being left running (a SIGTERM during start-up).
  let starting: Promise<unknown> = Promise.resolve();
  let startingService: Service | undefined;
  let resolveStopped!: (reason: string) => void;
  const stopped = new Promise<string>((r) => {
    resolveStopped = r;
  });
  let failure: unknown;

  const stop = (reason = 'stop'): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ reason }, 'stopping');
      // Give a start in progress a moment to finish; one still starting after that (a consumer
      // waiting for its group, say) is stopped as it is, like the started ones.
      const settled = await Promise.race([
        starting.then(
          () => true,
          () => true,
        ),
        new Promise<false>((r) => setTimeout(() => r(false), 2000).unref()),
      ]);
      const toStop = [...started];
      if (!settled && startingService && !toStop.includes(startingService)) toStop.push(startingService);
      for (const service of toStop.reverse()) {
        const t0 = Date.now();
        try {
          await service.stop();
          logger.info({ component: service.name, ms: Date.now() - t0 }, 'stopped');
        } catch (err) {
          logger.error({ component: service.name, err }, 'stop failed');
        }
      }
      started.length = 0;
      resolveStopped(reason);
    })();
    return stopping;
  };

  return {
    stopped,
    async start() {
      for (const service of services) {
        if (stopping) break;
        const t0 = Date.now();
        try {
          startingService = service;
          starting = service.start();
          await starting;
        } catch (err) {
          failure = err;
          logger.error({ component: service.name, err: errorSummary(err) }, 'start failed');
          await stop(`${service.name} failed to start`);
          throw err;
        }
        startingService = undefined;
        started.push(service);
        logger.info({ component: service.name, ms: Date.now() - t0 }, 'started');
        if (stopping) break;
      }
      if (stopping) throw new Error(`stopped while starting${failure ? `: ${errorSummary(failure)}` : ''}`);
    },
    stop,
    fatal(component, err) {
      logger.fatal({ component, err }, 'background work failed; stopping');
      void stop(`${component} failed`);
    },
  };
}

export function errorSummary(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface SignalOptions {
  logger: Logger;
  /** Longest graceful drain before the process exits anyway. */
  timeoutMs: number;
  exit?: (code: number) => void;
}

/**
 * SIGTERM/SIGINT stop the runner gracefully; a second signal or the time-out exits at once.
 * Returns a function that removes the handlers.
 */
export function stopOnSignals(runner: Runner, options: SignalOptions): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let received = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    received++;
    if (received > 1) {
      options.logger.warn({ signal }, 'second signal: exiting now');
      exit(130);
      return;
    }
    const timer = setTimeout(() => {
      options.logger.error({ timeoutMs: options.timeoutMs }, 'graceful stop timed out; exiting');
      exit(1);
    }, options.timeoutMs);
    timer.unref();
    void runner.stop(signal).then(() => clearTimeout(timer));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}
