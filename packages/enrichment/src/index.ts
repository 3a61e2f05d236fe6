export { DIRECTIONS, type Direction, type EnrichedFlow, Enricher } from './enricher.js';
export { type ParsedPrefix, PrefixTable, parseIPv4, parsePrefix } from './prefix-table.js';
