export {
  ALERT_EVENTS,
  ALERT_STATUSES,
  ALERT_TYPES,
  ALERTS_SCHEMA,
  type Alert,
  type AlertEvent,
  type AlertMessage,
  type AlertStatus,
  type AlertType,
  alertMessageSchema,
  alertSchema,
  ENTITY_KINDS,
  type EntityKind,
  type Evidence,
  type EvidenceFlow,
  type EvidenceSource,
  evidenceSchema,
  SEVERITIES,
  type Severity,
} from './alert.js';
export { emptyFlow, FLOW_TYPES, type FlowRecord, type FlowType, type PushedFlow, pushedFlowSchema } from './flow-record.js';
export { type DeadLetter, DLQ_SCHEMA, decodeFlows, encodeFlows, FLOWS_SCHEMA } from './messages.js';
