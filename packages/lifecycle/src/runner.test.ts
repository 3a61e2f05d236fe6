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
