export { ipv4FromUint32, ipv4ToString, ipv6ToString, macToString } from './common/addresses.js';
export {
  DECODE_REASONS,
  DEFAULT_TEMPLATE_LIMITS,
  type DecodeContext,
  type DecodeError,
  type DecodeOutput,
  type DecodeReason,
  type TemplateLimits,
} from './common/types.js';
export { detectProtocol, exportTimeNs, FlowDecoder, type FlowProtocol } from './flow-decoder.js';
export { encodeIpfix, IpfixDecoder, type IpfixHeader } from './ipfix/index.js';
export { decodeNetflowV5, encodeNetflowV5 } from './netflow5/index.js';
export {
  type EncoderField,
  type EncoderRecord,
  type EncoderSet,
  type EncoderTemplate,
  type EncoderValue,
  encodeNetflowV9,
  NetflowV9Decoder,
  type NetflowV9Header,
} from './netflow9/index.js';
export { type PcapUdpPacket, parsePcap } from './pcap/pcap-reader.js';
export { decodeSflowV5, decodeSflowV5WithCounters, encodeSflowV5 } from './sflow5/index.js';
