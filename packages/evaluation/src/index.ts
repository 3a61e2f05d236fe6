export { type AlertRecord, type EngineEvaluation, firstPublications, runEngineEvaluation, simulatedHistory } from './engine-evaluation.js';
export {
  EVALUATION_START,
  type EvaluationPlan,
  evaluationBlocklist,
  evaluationDetectorConfig,
  evaluationPlan,
  evaluationScenarios,
  REFERENCE_DENSITY,
} from './evaluation-setup.js';
export { delayTargetS, meetsTargets, scoreTable } from './report.js';
export { DEFAULT_SCORE_OPTIONS, namesOf, type Score, type ScoredAlert, type ScoreOptions, scoreAlerts, type TypeScore } from './score.js';
