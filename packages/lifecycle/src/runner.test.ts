import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createRunner } from './runner.js';
import type { Service } from './service.js';

const logger = pino({ level: 'silent' });

function fake(name: string, log: string[], opts: { failStart?: boolean } = {}): Service {
  return {
    name,
    async start() {
      if (opts.failStart) throw new Error(`${name} broke`);
      log.push(`start ${name}`);
    },
    async stop() {
      log.push(`stop ${name}`);
    },
  };
}

describe('createRunner', () => {
  it('starts in order and stops in reverse, once', async () => {
    const log: string[] = [];
    const runner = createRunner([fake('a', log), fake('b', log), fake('c', log)], logger);
    await runner.start();
    await Promise.all([runner.stop('test'), runner.stop('again')]);
    await runner.stop();
    expect(log).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
    expect(await runner.stopped).toBe('test');
  });

  it('stops only the started services when one fails to start', async () => {
    const log: string[] = [];
    const runner = createRunner([fake('a', log), fake('b', log, { failStart: true }), fake('c', log)], logger);
    await expect(runner.start()).rejects.toThrow('b broke');
    expect(log).toEqual(['start a', 'stop a']);
    expect(await runner.stopped).toBe('b failed to start');
  });

  it('a fatal background error stops everything', async () => {
    const log: string[] = [];
    const runner = createRunner([fake('a', log), fake('b', log)], logger);
    await runner.start();
    runner.fatal('b', new Error('loop died'));
    expect(await runner.stopped).toBe('b failed');
    expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a']);
  });

  it('keeps stopping the others when one stop throws', async () => {
    const log: string[] = [];
    const bad: Service = { name: 'bad', start: async () => {}, stop: async () => Promise.reject(new Error('x')) };
    const runner = createRunner([fake('a', log), bad, fake('c', log)], logger);
    await runner.start();
    await runner.stop();
    expect(log).toEqual(['start a', 'start c', 'stop c', 'stop a']);
  });
});

describe('stop during start', () => {
  it('waits for the service that is starting and stops it too (a SIGTERM during start-up leaves nothing running)', async () => {
    const log: string[] = [];
    let release!: () => void;
    const slow: Service = {
      name: 'slow',
      start: () =>
        new Promise<void>((r) => {
          release = () => {
            log.push('start slow');
            r();
          };
        }),
      stop: async () => {
        log.push('stop slow');
      },
    };
    const runner = createRunner([fake('a', log), slow, fake('c', log)], logger);
    const starting = runner.start();
    await new Promise((r) => setTimeout(r, 10));
    const stopping = runner.stop('SIGTERM');
    release();
    await expect(starting).rejects.toThrow(/stopped while starting/);
    await stopping;
    expect(log).toEqual(['start a', 'start slow', 'stop slow', 'stop a']);
    expect(await runner.stopped).toBe('SIGTERM');
  });
});

describe('stop during a start that does not finish', () => {
  it('stops the service still starting after a short grace, without waiting for it', async () => {
    const log: string[] = [];
    const stuck: Service = {
      name: 'stuck',
      start: () => new Promise<void>(() => {}),
      stop: async () => {
        log.push('stop stuck');
      },
    };
    const runner = createRunner([fake('a', log), stuck], logger);
    void runner.start().catch(() => {});
    await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    await runner.stop('SIGTERM');
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(log).toEqual(['start a', 'stop stuck', 'stop a']);
  });
});
