export { decodeNetflowV5, NETFLOW_V5_HEADER_BYTES, NETFLOW_V5_MAX_RECORDS, NETFLOW_V5_RECORD_BYTES } from './decode-netflow-v5.js';
export { encodeNetflowV5, type NetflowV5Header } from './encode-netflow-v5.js';
