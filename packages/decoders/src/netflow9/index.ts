export type { EncoderField, EncoderRecord, EncoderSet, EncoderTemplate, EncoderValue } from '../template/template-encoder.js';
export { NetflowV9Decoder } from './netflow-v9-decoder.js';
export type { NetflowV9Header } from './netflow-v9-encoder.js';
export { encodeNetflowV9 } from './netflow-v9-encoder.js';
