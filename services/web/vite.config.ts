import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The dashboard is plain TypeScript bundled by Vite into dist/ (index.html + hashed assets),
 * which @flowwatch/api serves. No inline scripts or styles (the page runs under a strict
 * Content-Security-Policy) and nothing fetched from elsewhere at run time.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: {
    // `pnpm --filter @flowwatch/web dev` against a running flowwatch on 8080.
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
});
