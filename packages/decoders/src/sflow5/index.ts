export { decodeSflowV5, decodeSflowV5WithCounters } from './decode-sflow-v5.js';
export { encodeSflowV5 } from './encode-sflow-v5.js';
export type { InterfaceCounters, SflowCounterSampleInput, SflowDatagramInput, SflowDecodeOutput, SflowFlowSampleInput } from './types.js';
