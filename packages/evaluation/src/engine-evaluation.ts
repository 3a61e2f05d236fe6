import { detectorSchema } from '@flowwatch/config';
import { BlocklistTable, DetectionEngine, parseBlocklist, WarmStartBuilder } from '@flowwatch/detection';
import type { AlertEvent, FlowRecord } from '@flowwatch/flow-schema';
import { generateNetwork, type Label, type SimulatedNetwork, Simulation, TrafficModel } from '@flowwatch/simulator';
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
  if (plan.historyDays > 0) engine.warm(simulatedHistory(network, plan));
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

/**
 * The warm start a detector would read from the rollups after `historyDays` of this network's
 * background traffic (no incidents) before the plan starts: one slot in `historySample`
 * generated, each weighted by it. The history's slots are other slots of the same traffic model,
 * so its rhythm, mix and noise are the scored period's.
 */
export function simulatedHistory(network: SimulatedNetwork, plan: EvaluationPlan): ReturnType<WarmStartBuilder['build']> {
  const model = new TrafficModel(network, { seed: plan.seed, rate: plan.density, speed: 1, slotMs: plan.slotMs });
  const builder = new WarmStartBuilder(network.registry);
  const from = Math.floor((plan.startMs - plan.historyDays * 86_400_000) / plan.slotMs);
  const to = Math.floor(plan.startMs / plan.slotMs);
  const every = Math.max(1, Math.round(plan.historySample));
  const out: FlowRecord[] = [];
  for (let i = from; i < to; i++) {
    if (i % every !== 0) continue;
    out.length = 0;
    model.slot(i, out);
    for (const f of out) builder.addFlow(f, every);
  }
  return builder.build();
}
