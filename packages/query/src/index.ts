export type { Answer, AnswerMeta, QueryContext, QuerySettings } from './answer.js';
export {
  DIMENSIONS,
  type Dimension,
  displayAddress,
  FILTER_FIELDS,
  type FilterField,
  FLOW_TABLES,
  type FlowTable,
  METRICS,
  type Metric,
  type Metrics,
  type MetricValues,
  SERIES_DIMENSIONS,
} from './fields.js';
export { type FlowRow, type FlowsResult, flowSearch, flowsSql } from './flow-search.js';
export { type MatrixCell, type MatrixResult, orgMatrix } from './org-matrix.js';
export {
  type Filter,
  type FlowsQuery,
  type FlowsQueryInput,
  flowsQuerySchema,
  formatIssues,
  type Interval,
  type MatrixQuery,
  type MatrixQueryInput,
  matrixQuerySchema,
  type Parsed,
  parseQuery,
  parseWhere,
  QUERY_LIMITS,
  type TopQuery,
  type TopQueryInput,
  type TrafficQuery,
  type TrafficQueryInput,
  topQuerySchema,
  trafficQuerySchema,
} from './query-input.js';
export { chooseTable, type TableChoice, type TableContext, type TableQuestion } from './table-choice.js';
export { type TopResult, type TopRow, topN, topSql } from './top-n.js';
export {
  oneQuerySeries,
  type TrafficPoint,
  type TrafficSeries,
  type TrafficSeriesResult,
  trafficRankedSeriesSql,
  trafficRankSql,
  trafficSeries,
  trafficSeriesSql,
} from './traffic-series.js';
