#!/usr/bin/env node
// Builds the dashboard (services/web/dist) with Vite. `--if-stale` builds only when a source is
// newer than the build, and skips quietly where Vite is not installed (a production-only install
// keeps the dist/ built earlier). Run by `pnpm install` (the root postinstall) and by the e2e tests.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
const ifStale = process.argv.includes('--if-stale');

function newest(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((n) => newest(join(path, n))));
}

export function isStale() {
  const built = join(root, 'dist', 'index.html');
  if (!existsSync(built)) return true;
  const sources = ['src', 'public', 'index.html', 'vite.config.ts'].map((p) => join(root, p)).filter(existsSync);
  return Math.max(...sources.map(newest)) > statSync(built).mtimeMs;
}

export async function buildDashboard({ quiet = false } = {}) {
  const { build } = await import('vite');
  await build({ root, configFile: join(root, 'vite.config.ts'), logLevel: quiet ? 'warn' : 'info' });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (ifStale && !isStale()) {
    process.stdout.write('dashboard: build is up to date\n');
  } else {
    try {
      await import('vite');
    } catch {
      if (ifStale) {
        process.stdout.write('dashboard: vite is not installed here; keeping the existing build\n');
        process.exit(0);
      }
      throw new Error('vite is not installed (pnpm install)');
    }
    await buildDashboard();
  }
}
