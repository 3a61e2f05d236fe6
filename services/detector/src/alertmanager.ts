import type { Alert } from '@flowwatch/flow-schema';
import type { ServiceMetrics } from '@flowwatch/observability';
import type { Logger } from 'pino';

/** An alert in Alertmanager's v2 API shape (POST /api/v2/alerts). */
export function toAlertmanager(alert: Alert, resolveAfterMs: number): Record<string, unknown> {
  const labels: Record<string, string> = {
    alertname: `flowwatch_${alert.type}`,
    severity: alert.severity,
    fingerprint: alert.fingerprint,
    entity_kind: alert.entity.kind,
    entity_id: alert.entity.id,
    supplier: alert.supplier_ids[0] ?? '',
    suppliers: alert.supplier_ids.join(','),
  };
  if (alert.src_org) labels.src_org = alert.src_org;
  if (alert.dst_org) labels.dst_org = alert.dst_org;
  if (alert.service) labels.service = alert.service;
  return {
    labels,
    annotations: { summary: alert.summary, alert_id: alert.id, observed: String(alert.observed), expected: String(alert.expected) },
    startsAt: alert.first_seen,
    // Open alerts are re-sent before this passes; a resolved alert ends now.
    endsAt: alert.status === 'resolved' ? alert.last_seen : new Date(Date.now() + resolveAfterMs).toISOString(),
  };
}

/**
 * Sends alerts to Alertmanager: every change at once, and every open alert again each `resendMs`
 * (Alertmanager resolves alerts it stops hearing about at endsAt). Failures are counted and the
 * next resend repairs them; nothing waits on Alertmanager.
 */
export class AlertmanagerClient {
  readonly #m;
  #busy = false;

  constructor(
    private readonly url: string,
    private readonly resendMs: number,
    metrics: ServiceMetrics,
    private readonly logger: Logger,
  ) {
    this.#m = { posts: metrics.counter('alertmanager_posts', 'POSTs to Alertmanager by outcome', ['outcome']) };
  }

  send(alerts: readonly Alert[]): void {
    if (alerts.length === 0 || this.#busy) return;
    this.#busy = true;
    const body = JSON.stringify(alerts.map((a) => toAlertmanager(a, 3 * this.resendMs)));
    fetch(new URL('/api/v2/alerts', this.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(5000),
    })
      .then(async (res) => {
        await res.arrayBuffer().catch(() => undefined);
        this.#m.posts.inc({ outcome: res.ok ? 'ok' : 'rejected' });
        if (!res.ok) this.logger.warn({ status: res.status }, 'alertmanager refused alerts');
      })
      .catch((err: unknown) => {
        this.#m.posts.inc({ outcome: 'failed' });
        this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'alertmanager unreachable');
      })
      .finally(() => {
        this.#busy = false;
      });
  }
}
