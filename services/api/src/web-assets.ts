import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/**
 * The dashboard's built files (Vite's output: index.html, hashed assets/), read into memory once
 * at start and served from there: a few hundred kilobytes, compressed once, with an ETag each.
 * Hashed assets are immutable (cached for a year); index.html is revalidated on every load so a
 * new build is picked up. The directory is services/web/dist unless `api.webRoot` says otherwise.
 */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../web/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

export interface Asset {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
  etag: string;
  immutable: boolean;
}

export interface WebAssets {
  root: string;
  /** False when the dashboard has not been built: `/` explains how to build it. */
  built: boolean;
  get(path: string): Asset | undefined;
  /** Total bytes (uncompressed, compressed) of what a first page load fetches: index.html and its assets. */
  size(): { files: number; bytes: number; gzipBytes: number };
}

export function loadWebAssets(root: string = DEFAULT_WEB_ROOT): WebAssets {
  const files = new Map<string, Asset>();
  const built = existsSync(join(root, 'index.html'));
  if (built) {
    for (const file of walk(root)) {
      const url = `/${relative(root, file).split(sep).join('/')}`;
      const type = TYPES[extname(file)] ?? 'application/octet-stream';
      const body = readFileSync(file);
      const compressible = /^(text\/|application\/json|image\/svg)/.test(type) && body.length > 512;
      files.set(url, {
        body,
        gzip: compressible ? gzipSync(body, { level: 9 }) : undefined,
        type,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        immutable: url.startsWith('/assets/'),
      });
    }
  }
  return {
    root,
    built,
    get: (path) => files.get(path === '/' ? '/index.html' : path),
    size() {
      let bytes = 0;
      let gzipBytes = 0;
      for (const a of files.values()) {
        bytes += a.body.length;
        gzipBytes += (a.gzip ?? a.body).length;
      }
      return { files: files.size, bytes, gzipBytes };
    },
  };
}

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else yield p;
  }
}
