import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { CollectorConfig } from '@flowwatch/config';
import { emptyFlow, type FlowRecord, pushedFlowSchema } from '@flowwatch/flow-schema';
import { atLeastWarn, fastifyTimeoutOptions, type RateLimitedLog, serverTimeoutOptions } from '@flowwatch/observability';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { CollectorMetrics } from './collector-metrics.js';
import type { ExporterRegistry } from './exporter-registry.js';
import type { FlowOutput } from './flow-output.js';
import { ReplayGuard } from './replay-guard.js';
import { TokenBuckets } from './token-bucket.js';

export interface PushDeps {
  config: CollectorConfig['push'];
  registry: () => ExporterRegistry;
  output: FlowOutput;
  metrics: CollectorMetrics;
  logger: Logger;
  warnOnce: RateLimitedLog;
  /** Whether Kafka can take more now; when not, pushes get 503 instead of being dropped. */
  canAccept: () => boolean;
  /** Keep the time_received_ns a pushed record carries (collector.timeReceivedFrom = export). */
  keepPushedTime?: boolean;
  now?: () => number;
}

/** Largest raw body kept in a dead letter (Kafka's default message limit is 1 MB). */
const DLQ_RAW_LIMIT = 256 * 1024;
const MAX_ERRORS_REPORTED = 20;

/**
 * POST /api/v1/flows: suppliers push JSON flow records (a JSON array or NDJSON) with a bearer
 * token whose SHA-256 is in the registry. Each record is validated on its own: good ones go to
 * `flows`, bad ones to `flows.dlq` with the reason, and the answer (202) says how many of each and
 * why. 400 when the body is not JSON at all or nests deeper than `maxDepth`, 401 without a valid
 * token, 403 for records claiming another supplier (or a client certificate of another supplier),
 * 409 for a replay (a body this supplier had accepted within `replayWindowMs`), 413 over the size
 * limit, 429 over the supplier's rate, 503 while Kafka cannot take more. Every refusal is counted
 * (`push_requests_total` by status class, records in `rejected_total` by reason) and logged at most
 * once per source and reason per minute.
 */
export function buildPushServer(deps: PushDeps): FastifyInstance {
  const { config } = deps;
  const tls = config.tls
    ? {
        https: {
          cert: readFileSync(config.tls.certFile),
          key: readFileSync(config.tls.keyFile),
          ...(config.tls.caFile ? { ca: readFileSync(config.tls.caFile) } : {}),
          // Always ask for a client certificate: suppliers pinned in the registry must present
          // theirs (checked per request below), others may push with their token alone unless
          // requireClientCert makes a certificate signed by caFile mandatory for everyone.
          requestCert: true,
          rejectUnauthorized: config.tls.requireClientCert,
          // fastify hands only these options to an HTTPS server.
          ...serverTimeoutOptions(config.timeouts),
        },
      }
    : {};
  const app = Fastify({
    ...tls,
    loggerInstance: deps.logger.child({ component: 'push' }, { level: atLeastWarn(deps.logger) }) as FastifyBaseLogger,
    bodyLimit: config.bodyLimitBytes,
    // Slow clients (slow-loris) are cut off instead of holding sockets open.
    ...fastifyTimeoutOptions(config.timeouts),
    keepAliveTimeout: 10_000,
    return503OnClosing: true,
  }) as unknown as FastifyInstance;
  const buckets = new TokenBuckets(config.rateLimitRecordsPerSecond, config.rateLimitBurst, deps.now);
  const replays = new ReplayGuard(config.replayWindowMs, config.replayCacheEntries, deps.now);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/json', 'application/x-ndjson', 'application/ndjson'], { parseAs: 'string' }, (_req, body, done) =>
    done(null, body),
  );
  app.addContentTypeParser('*', (_req, _payload, done) => {
    const err = new Error('content-type must be application/json or application/x-ndjson') as Error & { statusCode: number; code: string };
    err.statusCode = 415;
    err.code = 'unsupported_media_type';
    done(err, undefined);
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) deps.logger.error({ err: err.message }, 'push request failed');
    const code =
      status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : status >= 500 ? 'internal' : 'bad_request';
    deps.metrics.pushRequests.inc({ status: `${Math.floor(status / 100)}xx`, supplier: 'unknown' });
    void reply.code(status).send({ error: code, message: status >= 500 ? 'internal error' : err.message });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });

  app.post('/api/v1/flows', async (req, reply) => {
    const fail = (status: number, error: string, message: string, supplier = 'unknown') => {
      deps.metrics.pushRequests.inc({ status: `${Math.floor(status / 100)}xx`, supplier });
      return reply.code(status).send({ error, message });
    };

    const auth = req.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
    if (!token) {
      void reply.header('www-authenticate', 'Bearer');
      return fail(401, 'unauthorized', 'a bearer token is required');
    }
    const registry = deps.registry();
    const supplierId = registry.supplierForToken(token);
    if (!supplierId) {
      deps.warnOnce.warn(`push-bad-token:${req.ip}`, { source: req.ip }, 'push with an unknown token');
      void reply.header('www-authenticate', 'Bearer error="invalid_token"');
      return fail(401, 'unauthorized', 'unknown token');
    }
    const fingerprint = (req.raw.socket as TLSSocket).getPeerCertificate?.()?.fingerprint256 || undefined;
    const certSupplier = fingerprint ? registry.supplierForCertificate(fingerprint) : undefined;
    if (registry.requiresCertificate(supplierId)) {
      // Mutual TLS for this supplier: its token alone is not enough.
      if (!fingerprint) return fail(403, 'forbidden', 'this supplier must push with its client certificate', supplierId);
      if (certSupplier !== supplierId) return fail(403, 'forbidden', 'the client certificate does not belong to this supplier', supplierId);
    } else if (certSupplier !== undefined && certSupplier !== supplierId) {
      return fail(403, 'forbidden', 'the client certificate belongs to another supplier', supplierId);
    } else if (config.tls?.requireClientCert && !fingerprint) {
      return fail(403, 'forbidden', 'a client certificate is required', supplierId);
    }

    const body = typeof req.body === 'string' ? req.body : '';
    const receivedNs = (deps.now?.() ?? Date.now()) * 1e6;
    const receivedAt = new Date(receivedNs / 1e6).toISOString();
    const replayKey = replays.key(supplierId, body);
    if (replays.replayed(replayKey)) {
      deps.metrics.rejected.inc({ protocol: 'JSON', supplier: supplierId, reason: 'replayed' });
      deps.warnOnce.warn(`push-replay:${supplierId}`, { supplier: supplierId, source: req.ip }, 'replayed push refused');
      return fail(409, 'replayed', `this body was accepted in the last ${config.replayWindowMs / 1000} s`, supplierId);
    }
    const parsed = parseBody(body, req.headers['content-type'] ?? '', config.maxDepth);
    if (!parsed.ok) return fail(400, 'bad_request', parsed.error, supplierId);
    const items = parsed.items;
    if (items.length > config.maxRecordsPerRequest) {
      return fail(413, 'payload_too_large', `at most ${config.maxRecordsPerRequest} records per request (got ${items.length})`, supplierId);
    }

    // A supplier pushes for itself only: one record claiming another supplier refuses the request.
    const foreign = items.findIndex(
      (it) =>
        it.ok &&
        it.value !== null &&
        typeof it.value === 'object' &&
        'supplier_id' in it.value &&
        (it.value as { supplier_id: unknown }).supplier_id !== supplierId,
    );
    if (foreign >= 0) {
      deps.warnOnce.warn(
        `push-foreign:${supplierId}`,
        { supplier: supplierId, index: foreign },
        'push with records of another supplier refused',
      );
      deps.output.deadLetter({
        reason: 'wrong_supplier',
        detail: `record ${foreign} claims another supplier`,
        source: `push:${supplierId}`,
        protocol: 'JSON',
        supplier_id: supplierId,
        exporter_id: '',
        received_at: receivedAt,
        raw: body.length > DLQ_RAW_LIMIT ? body.slice(0, DLQ_RAW_LIMIT) : body,
      });
      deps.metrics.rejected.inc({ protocol: 'JSON', supplier: supplierId, reason: 'wrong_supplier' }, items.length);
      return fail(403, 'forbidden', `record ${foreign}: supplier_id must be ${supplierId}`, supplierId);
    }

    const limited = buckets.take(supplierId, Math.max(1, items.length));
    if (!limited.ok) {
      void reply.header('retry-after', String(limited.retryAfterSeconds));
      return fail(429, 'rate_limited', `over ${config.rateLimitRecordsPerSecond} records/s for ${supplierId}`, supplierId);
    }
    if (!deps.canAccept()) {
      void reply.header('retry-after', '5');
      return fail(503, 'unavailable', 'flow storage is backlogged; retry later', supplierId);
    }

    const byExporter = new Map<string, FlowRecord[]>();
    const reasons: Record<string, number> = {};
    const errors: { index: number; reason: string; message: string }[] = [];
    let accepted = 0;
    items.forEach((item, index) => {
      let reason: string;
      let message: string;
      if (item.ok) {
        const r = pushedFlowSchema.safeParse(item.value);
        if (r.success) {
          const exporterId = r.data.exporter_id ?? 'push';
          const flow: FlowRecord = Object.assign(emptyFlow('JSON'), r.data, {
            time_received_ns: deps.keepPushedTime && r.data.time_received_ns ? r.data.time_received_ns : receivedNs,
            supplier_id: supplierId,
            exporter_id: exporterId,
            sampler_address: r.data.sampler_address,
          });
          let list = byExporter.get(exporterId);
          if (!list) byExporter.set(exporterId, (list = []));
          list.push(flow);
          accepted++;
          return;
        }
        reason = 'invalid_record';
        message = r.error.issues.map((i) => `${i.path.join('.') || '(record)'}: ${i.message}`).join('; ');
      } else {
        reason = 'invalid_json';
        message = item.error;
      }
      reasons[reason] = (reasons[reason] ?? 0) + 1;
      if (errors.length < MAX_ERRORS_REPORTED) errors.push({ index, reason, message });
      deps.output.deadLetter({
        reason,
        detail: `record ${index}: ${message}`.slice(0, 1000),
        source: `push:${supplierId}`,
        protocol: 'JSON',
        supplier_id: supplierId,
        exporter_id: '',
        received_at: receivedAt,
        raw: item.raw.length > DLQ_RAW_LIMIT ? item.raw.slice(0, DLQ_RAW_LIMIT) : item.raw,
      });
      deps.metrics.rejected.inc({ protocol: 'JSON', supplier: supplierId, reason });
    });

    for (const [exporterId, flows] of byExporter) {
      if (deps.output.writeFlows(supplierId, exporterId, flows) === 'refused') {
        // Accepted by validation but Kafka's buffer refused them: tell the supplier to retry.
        deps.metrics.rejected.inc({ protocol: 'JSON', supplier: supplierId, reason: 'kafka_buffer_full' }, flows.length);
        return sendUnavailable(reply, deps, supplierId);
      }
    }
    replays.accepted(replayKey);
    deps.metrics.records.inc({ protocol: 'JSON', supplier: supplierId }, accepted);
    deps.metrics.pushRequests.inc({ status: '2xx', supplier: supplierId });
    return reply.code(202).send({ accepted, rejected: items.length - accepted, reasons, errors });
  });

  return app;
}

function sendUnavailable(reply: FastifyReply, deps: PushDeps, supplier: string) {
  deps.metrics.pushRequests.inc({ status: '5xx', supplier });
  void reply.header('retry-after', '5');
  return reply.code(503).send({ error: 'unavailable', message: 'flow storage is backlogged; retry later' });
}

type Item = { ok: true; value: unknown; raw: string } | { ok: false; error: string; raw: string };

/**
 * A JSON array of records, a single record object, or NDJSON (one record per line). A body that is
 * not JSON at all is a 400; in NDJSON, a bad line is one rejected record, not a failed request.
 */
export function parseBody(body: string, contentType: string, maxDepth = 16): { ok: true; items: Item[] } | { ok: false; error: string } {
  const trimmed = body.trim();
  if (trimmed === '') return { ok: false, error: 'empty body' };
  const ndjson = /ndjson/i.test(contentType);
  // Before parsing: 100,000 levels of `[` parse, but every recursive walk of the value after
  // (serialising it for the DLQ, validating it) would overflow the stack.
  if (nestsDeeper(trimmed, maxDepth, ndjson)) return { ok: false, error: `body nests deeper than ${maxDepth} levels` };
  if (!ndjson || trimmed.startsWith('[')) {
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (err) {
      if (!ndjson && !trimmed.startsWith('[') && trimmed.includes('\n')) return parseLines(trimmed);
      return { ok: false, error: `body is not JSON: ${(err as Error).message}` };
    }
    if (Array.isArray(value)) return { ok: true, items: value.map((v) => ({ ok: true, value: v, raw: safeStringify(v) })) };
    if (value !== null && typeof value === 'object') return { ok: true, items: [{ ok: true, value, raw: trimmed }] };
    return { ok: false, error: 'body must be a JSON array of records, a record, or NDJSON' };
  }
  return parseLines(trimmed);
}

/** Whether arrays and objects nest deeper than `limit` (outside strings); NDJSON lines start at 0. */
export function nestsDeeper(text: string, limit: number, lines: boolean): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
    else if (c === 0x0a && lines) depth = 0;
  }
  return false;
}

function parseLines(text: string): { ok: true; items: Item[] } | { ok: false; error: string } {
  const items: Item[] = [];
  let parsedAny = false;
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (l === '') continue;
    try {
      items.push({ ok: true, value: JSON.parse(l), raw: l });
      parsedAny = true;
    } catch (err) {
      items.push({ ok: false, error: `not JSON: ${(err as Error).message}`, raw: l });
    }
  }
  if (!parsedAny) return { ok: false, error: 'body is not JSON or NDJSON' };
  return { ok: true, items };
}

function safeStringify(v: unknown): string {
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return '';
  }
}
