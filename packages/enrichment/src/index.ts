export {
  copyEnrichedFlow,
  DIRECTIONS,
  type Direction,
  type EnrichedFlow,
  Enricher,
  emptyEnrichedFlow,
  emptyFlowClass,
  estimated,
  type FlowClass,
} from './enricher.js';
export { type ParsedPrefix, PrefixTable, parseIPv4, parsePrefix } from './prefix-table.js';
