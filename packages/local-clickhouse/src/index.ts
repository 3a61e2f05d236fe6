export { createHttpFront, type HttpFront, type HttpFrontOptions } from './http-front.js';
export { LocalClickHouse, type LocalClickHouseOptions } from './local-clickhouse.js';
