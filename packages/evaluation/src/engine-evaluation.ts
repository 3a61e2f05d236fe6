import { detectorSchema } from '@flowwatch/config';
import { BlocklistTable, DetectionEngine, parseBlocklist } from '@flowwatch/detection';
import type { AlertEvent } from '@flowwatch/flow-schema';
import { generateNetwork, type Label, Simulation } from '@flowwatch/simulator';
import {
  type EvaluationPlan,
  evaluationBlocklist,
  evaluationDetectorConfig,
  evaluationPlan,
  evaluationScenarios,
} from './evaluation-setup.js';
import type { ScoredAlert } from './score.js';

export interface AlertRecord {
  event: AlertEvent;
  alert: ScoredAlert & { fingerprint: string; severity: string; summary: string };
}

export interface EngineEvaluation {
  plan: EvaluationPlan;
  labels: Label[];
  /** Every alert change, in order. */
  changes: AlertRecord[];
  /** The first publication of each alert (by id). */
  alerts: ScoredAlert[];
  records: number;
  wallSeconds: number;
}

/**
 * The pure-engine evaluation: the simulator's records (before export: no sampling, no loss, no
 * sockets, no Kafka) fed straight into a DetectionEngine configured as for the pipeline run.
 * Deterministic for a plan. Quick enough for iteration and a CI test; the published figures come
 * from the real pipeline (test/eval/run.ts --pipeline).
 */
export function runEngineEvaluation(partial: Partial<EvaluationPlan> = {}, now: () => number = () => 0): EngineEvaluation {
  const plan = evaluationPlan(partial);
  const t0 = now();
  const network = generateNetwork({ seed: plan.seed });
  const config = detectorSchema.parse(evaluationDetectorConfig(plan, network, '(in memory)'));
  const engine = new DetectionEngine({ config, registry: network.registry });
  engine.setBlocklists(
    new BlocklistTable([
      { name: 'simulated-indicators', severity: 'high', prefixes: parseBlocklist(evaluationBlocklist(network)).prefixes },
    ]),
  );
  // rate is per wall second: with speed 1 it is the event-time density.
  const sim = new Simulation(network, {
    seed: plan.seed,
    startMs: plan.startMs,
    speed: 1,
    rate: plan.density,
    slotMs: plan.slotMs,
    scenarios: evaluationScenarios(plan),
    keepRecords: true,
  });
  const endMs = plan.startMs + plan.learningMs + plan.evaluationMs;
  const labels: Label[] = [];
  const changes: AlertRecord[] = [];
  let records = 0;
  const stepMs = Math.max(plan.slotMs, 60_000);
  while (sim.eventMs < endMs) {
    const step = sim.advance(Math.min(endMs, sim.eventMs + stepMs));
    for (const f of step.flows) engine.process(f);
    records += step.flows.length;
    labels.push(...step.labels);
    for (const c of engine.drain()) changes.push({ event: c.event, alert: c.alert });
    if (step.slots === 0) break;
  }
  labels.push(...sim.finish());
  return { plan, labels, changes, alerts: firstPublications(changes), records, wallSeconds: (now() - t0) / 1000 };
}

/** The first publication of each alert id (opened), in order. */
export function firstPublications(changes: readonly AlertRecord[]): ScoredAlert[] {
  const seen = new Set<string>();
  const out: ScoredAlert[] = [];
  for (const c of changes) {
    if (seen.has(c.alert.id)) continue;
    seen.add(c.alert.id);
    out.push(c.alert);
  }
  return out;
}
