import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const support = fileURLToPath(new URL('./test/support/index.ts', import.meta.url));
/** Every test file: one turn of the event loop after each test (see the file). */
const setupFiles = ['test/setup/yield-between-tests.ts'];
// Workspace packages resolve to their TypeScript sources (the `flowwatch-src` export condition),
// never to a stale dist/. Tests run server-side, so the condition must reach the SSR resolver.
const shared = {
  resolve: { conditions: ['flowwatch-src'], alias: { '@flowwatch/test-support': support } },
  ssr: { resolve: { conditions: ['flowwatch-src'], externalConditions: ['flowwatch-src'] } },
};

/**
 * Two projects: `unit` (pure logic, no servers, seconds) and `integration` (real Kafka from the
 * global set-up, real ClickHouse: embedded chDB, or a server with CLICKHOUSE_URL). Test files run
 * in forked processes because chDB allows one data directory per process.
 */
export default defineConfig({
  test: {
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        ...shared,
        test: {
          name: 'unit',
          setupFiles,
          include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**'],
        },
      },
      {
        ...shared,
        test: {
          name: 'integration',
          setupFiles,
          include: ['packages/*/src/**/*.int.test.ts', 'services/*/src/**/*.int.test.ts', 'test/**/*.int.test.ts'],
          globalSetup: ['test/setup/kafka.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
