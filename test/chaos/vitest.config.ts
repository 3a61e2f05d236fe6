import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const support = fileURLToPath(new URL('../support/index.ts', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * `pnpm test:chaos`: the long hostile-input runs (docs/reliability.md), apart from `pnpm test`:
 * the million-case decoder fuzz and schemathesis against the API. Files are `*.chaos.ts` so the
 * CI projects never pick them up. Forked processes with --expose-gc, so heap figures are taken
 * after a full collection.
 */
export default defineConfig({
  root,
  resolve: { conditions: ['flowwatch-src'], alias: { '@flowwatch/test-support': support } },
  ssr: { resolve: { conditions: ['flowwatch-src'], externalConditions: ['flowwatch-src'] } },
  test: {
    name: 'chaos',
    include: ['test/chaos/**/*.chaos.ts'],
    pool: 'forks',
    poolOptions: { forks: { execArgv: ['--expose-gc'], singleFork: true } },
    testTimeout: 30 * 60_000,
    hookTimeout: 5 * 60_000,
    reporters: ['default'],
  },
});
