export { emptyFlow, FLOW_TYPES, type FlowRecord, type FlowType, type PushedFlow, pushedFlowSchema } from './flow-record.js';
export { type DeadLetter, DLQ_SCHEMA, decodeFlows, encodeFlows, FLOWS_SCHEMA } from './messages.js';
