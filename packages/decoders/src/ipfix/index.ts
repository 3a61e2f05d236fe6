export { IpfixDecoder } from './ipfix-decoder.js';
export type { IpfixHeader } from './ipfix-encoder.js';
export { encodeIpfix } from './ipfix-encoder.js';
