export { type Aggregator, type AggregatorConfig, type AggregatorDeps, checkRecord, createAggregator } from './aggregator.js';
export { nsToDateTime64, type RawRow, toRawRow } from './raw-row.js';
