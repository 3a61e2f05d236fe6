import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';

/** Slow-client time-outs (config `http.timeouts`, `collector.push.timeouts`, `api.timeouts`), in ms. */
export interface HttpTimeouts {
  headersMs: number;
  requestMs: number;
  idleMs: number;
}

/**
 * Node's own defaults let a slow-loris client hold a socket for 60 s of headers and 300 s of body,
 * checked every 30 s. These options cut a client off (408, connection closed) once its headers or
 * its whole request take longer than configured, checked at least every second.
 */
export function serverTimeoutOptions(t: HttpTimeouts): ServerOptions {
  return {
    headersTimeout: t.headersMs,
    requestTimeout: t.requestMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(t.headersMs / 4))),
  };
}

/** The same as fastify options (fastify sets requestTimeout and the idle time-out on the server it makes). */
export function fastifyTimeoutOptions(t: HttpTimeouts): {
  connectionTimeout: number;
  requestTimeout: number;
  http: ServerOptions;
} {
  return { connectionTimeout: t.idleMs, requestTimeout: t.requestMs, http: serverTimeoutOptions(t) };
}

/** A node HTTP server with the time-outs, for fastify's serverFactory. */
export function createTimedServer(t: HttpTimeouts, handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const server = createServer(serverTimeoutOptions(t), handler);
  server.setTimeout(t.idleMs);
  return server;
}
