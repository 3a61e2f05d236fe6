import { type Registry, ServiceMetrics } from '@flowwatch/observability';

/** flowwatch_api_*: requests by route (the pattern, never the URL), auth failures by reason, the live stream. */
export function createApiMetrics(registry: Registry) {
  const m = new ServiceMetrics(registry, 'api');
  return {
    requests: m.counter('requests', 'API requests by route and status class', ['method', 'route', 'status']),
    duration: m.histogram(
      'request_duration',
      'seconds',
      'API request duration by route',
      [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 10],
      ['route'],
    ),
    authFailures: m.counter('auth_failures', 'Requests refused for their credentials, by reason', ['reason']),
    forbidden: m.counter('forbidden', 'Requests refused for the role or the supplier scope', ['permission']),
    rateLimited: m.counter('rate_limited', 'Requests refused with 429, by what was limited', ['kind']),
    sessions: m.gauge('sessions', 'count', 'Dashboard sessions held in memory'),
    streamClients: m.gauge('stream_clients', 'count', 'Open event streams'),
    streamEvents: m.counter('stream_events', 'Events broadcast on the live stream, by event', ['event']),
    streamDropped: m.counter('stream_dropped', 'Event streams closed by the server, by reason', ['reason']),
    streamBadMessages: m.counter('stream_bad_messages', 'Kafka alerts messages the live stream could not read'),
    publishFailures: m.counter('publish_failures', 'Alert changes that could not be published on Kafka (the poll still spreads them)'),
  };
}
export type ApiMetrics = ReturnType<typeof createApiMetrics>;
