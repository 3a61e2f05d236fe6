/**
 * `pnpm eval`: the detection evaluation (issue 6). Simulated background traffic for the network of
 * networks with labelled incidents of every alert type, run through the detector, scored per type
 * (recall, precision, delays, false alerts per simulated day). docs/detection.md, Evaluation.
 *
 *   pnpm eval                          pure engine: simulator records straight into DetectionEngine
 *   pnpm eval --pipeline               the real pipeline in this process: simulator -> UDP/push ->
 *                                      collector -> Kafka -> detector -> Kafka alerts
 * Options: --seed N (1), --learning 1d, --days 1 (scored period), --density 100 (records per
 * simulated second at the weekly peak), --incidents N (2 of each kind), --speed X (pipeline: 500),
 * --history 7d (background history warming the baselines; 0 for a cold start), --history-sample 4,
 * --out DIR (labels.jsonl, alerts.jsonl, score.json, table.md; default eval-out/<mode>-<seed>),
 * --flows-encoding ndjson|binary (pipeline: collector.flowsEncoding).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEFAULT_SCORE_OPTIONS,
  type EvaluationPlan,
  evaluationPlan,
  runEngineEvaluation,
  type ScoredAlert,
  scoreAlerts,
  scoreTable,
} from '@flowwatch/evaluation';
import { type Label, labelLine, parseDuration } from '@flowwatch/simulator';

const { values } = parseArgs({
  options: {
    pipeline: { type: 'boolean', default: false },
    seed: { type: 'string', default: '1' },
    learning: { type: 'string', default: '1d' },
    days: { type: 'string', default: '1' },
    density: { type: 'string', default: '100' },
    incidents: { type: 'string' },
    speed: { type: 'string', default: '500' },
    'flows-encoding': { type: 'string', default: 'ndjson' },
    out: { type: 'string' },
    history: { type: 'string', default: '7d' },
    'history-sample': { type: 'string', default: '4' },
  },
});

const duration = (text: string, name: string) => {
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`--${name}: not a duration: ${text}`);
  return ms;
};
const plan = evaluationPlan({
  seed: Number(values.seed),
  learningMs: duration(values.learning, 'learning'),
  evaluationMs: Number(values.days) * 86_400_000,
  density: Number(values.density),
  historyDays: duration(values.history, 'history') / 86_400_000,
  historySample: Number(values['history-sample']),
  ...(values.incidents ? { incidents: Number(values.incidents) } : {}),
});
const mode = values.pipeline ? 'pipeline' : 'engine';
const out = values.out ?? join('eval-out', `${mode}-${plan.seed}`);
mkdirSync(out, { recursive: true });
const say = (line: string) => process.stderr.write(`${line}\n`);

interface Outcome {
  labels: Label[];
  alerts: ScoredAlert[];
  changes: unknown[];
  facts: Record<string, unknown>;
}

async function main(): Promise<void> {
  say(`evaluation (${mode}): ${JSON.stringify(plan)}`);
  let outcome: Outcome;
  if (mode === 'engine') {
    const r = runEngineEvaluation(plan, () => performance.now());
    outcome = { labels: r.labels, alerts: r.alerts, changes: r.changes, facts: { records: r.records, wall_seconds: r.wallSeconds } };
  } else {
    const { runPipelineEvaluation } = await import('./pipeline.js');
    outcome = await runPipelineEvaluation(plan, Number(values.speed), say, values['flows-encoding'] === 'binary' ? 'binary' : 'ndjson');
  }
  const score = scoreAlerts(outcome.labels, outcome.alerts, {
    fromMs: plan.startMs + plan.learningMs,
    toMs: plan.startMs + plan.learningMs + plan.evaluationMs,
    ...DEFAULT_SCORE_OPTIONS,
  });
  writeFileSync(join(out, 'labels.jsonl'), outcome.labels.map(labelLine).join(''));
  writeFileSync(join(out, 'alerts.jsonl'), outcome.changes.map((c) => `${JSON.stringify(c)}\n`).join(''));
  writeFileSync(join(out, 'score.json'), `${JSON.stringify({ mode, plan, facts: outcome.facts, score }, null, 2)}\n`);
  const table = scoreTable(score, { wall: mode === 'pipeline' });
  writeFileSync(join(out, 'table.md'), `${table}\n`);
  process.stdout.write(`${table}\n\n`);
  process.stdout.write(`${JSON.stringify({ mode, ...outcome.facts, out })}\n`);
  for (const a of score.false.slice(0, 40))
    say(`false: ${a.type} ${a.entity.kind}:${a.entity.id} first_seen ${a.first_seen} detected ${a.detected_at}`);
  for (const t of score.types) if (t.missed.length > 0) say(`missed ${t.type}: ${t.missed.join(', ')}`);
}

export type { EvaluationPlan, Outcome };

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`evaluation failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
