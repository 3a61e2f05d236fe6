import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext } from '../context.js';

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>flowwatch</title>
<h1>The dashboard has not been built</h1>
<p>Build it with <code>pnpm --filter @flowwatch/web build</code> (pnpm install does this), then reload. The API under /api/v1 works without it.</p>`;

/** The dashboard: index.html and its hashed assets from memory (web-assets.ts). */
export function webRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const serve = (path: string, req: FastifyRequest, reply: FastifyReply) => {
    if (!ctx.web.built && path === '/')
      return reply.code(503).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(NOT_BUILT);
    const asset = ctx.web.get(path);
    if (!asset) return reply.code(404).send({ error: 'not_found', message: `no file ${path}` });
    void reply.header('etag', asset.etag).header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    void reply.header('vary', 'accept-encoding');
    if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    void reply.type(asset.type);
    const gzip = asset.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (gzip) void reply.header('content-encoding', 'gzip');
    return reply.send(gzip ? asset.gzip : asset.body);
  };
  const config = { access: 'public' as const };
  app.get('/', { config, schema: { hide: true } }, (req, reply) => serve('/', req, reply));
  app.get('/assets/*', { config, schema: { hide: true } }, (req, reply) => serve(req.url.split('?')[0] as string, req, reply));
  app.get('/favicon.svg', { config, schema: { hide: true } }, (req, reply) => serve('/favicon.svg', req, reply));
}
