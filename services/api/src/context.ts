import type { ClickHouseClient, Retention } from '@flowwatch/clickhouse';
import type { ApiConfig, RegistryConfig } from '@flowwatch/config';
import type { Logger } from 'pino';
import type { AlertMessage } from './alerts/alert-record.js';
import type { AlertStore } from './alerts/alert-store.js';
import type { ApiMetrics } from './api-metrics.js';
import type { AuditLog } from './audit-log.js';
import type { Permission, Principal } from './auth/roles.js';
import type { Session, SessionStore } from './auth/sessions.js';
import type { TokenStore } from './auth/tokens.js';
import type { LiveHub } from './live-hub.js';
import type { RateLimiter } from './rate-limit.js';
import type { SuppressionStore } from './suppressions.js';
import type { WebAssets } from './web-assets.js';

/** Everything the routes use; built by createApi (or a test) and handed to buildApiApp. */
export interface ApiContext {
  config: ApiConfig;
  clickhouse: ClickHouseClient;
  logger: Logger;
  metrics: ApiMetrics;
  tokens: TokenStore;
  sessions: SessionStore;
  alerts: AlertStore;
  audit: AuditLog;
  suppressions: SuppressionStore;
  hub: LiveHub;
  web: WebAssets;
  /** Requests per token (sessions count against their token), and failed logins or bad tokens per client address. */
  limits: { requests: RateLimiter; authFailures: RateLimiter };
  /** Flow retention (config `storage`): the traffic queries choose their table with it. */
  retention: Retention;
  /** The registry as configured now (reloaded on SIGHUP). */
  registry: () => RegistryConfig;
  /** Publishes an analyst's change on Kafka `alerts` (best effort: the poll spreads it anyway). */
  publish: (message: AlertMessage) => Promise<void>;
  now: () => number;
}

/** Who may call a route: a permission, any authenticated caller, or anyone (login, OpenAPI, the page). */
export type Access = Permission | 'authenticated' | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
    session: Session | null;
  }
}
