export { openTestClickHouse } from './clickhouse.js';
export { testKafka, uniqueName } from './kafka.js';
export { freePort } from './ports.js';
export { silentLogger } from './logger.js';
