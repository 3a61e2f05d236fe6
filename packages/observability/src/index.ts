export { createTimedServer, fastifyTimeoutOptions, type HttpTimeouts, serverTimeoutOptions } from './http-timeouts.js';
export { atLeastWarn, createLogger, type Logger, type LoggerConfig, RateLimitedLog } from './logger.js';
export { Counter, createRegistry, Gauge, Histogram, metricName, Registry, ServiceMetrics } from './metrics.js';
export { buildOpsServer, type OpsServerOptions, type ReadinessCheck } from './ops-server.js';
