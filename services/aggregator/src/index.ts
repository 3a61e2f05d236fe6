export {
  type Aggregator,
  type AggregatorConfig,
  type AggregatorDeps,
  createAggregator,
  RowCheck,
  recordTypeProblem,
} from './aggregator.js';
export { nsToDateTime64, type RawRow, toRawRow } from './raw-row.js';
