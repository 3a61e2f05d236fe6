export { openTestClickHouse } from './clickhouse.js';
export { testKafka, uniqueName } from './kafka.js';
export { silentLogger } from './logger.js';
export { freePort } from './ports.js';
