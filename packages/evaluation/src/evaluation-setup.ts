import type { DetectorConfigInput } from '@flowwatch/config';
import { PACS_POLICY, randomSchedule, SCENARIO_NAMES, type ScenarioRequest, type SimulatedNetwork } from '@flowwatch/simulator';

/** What an evaluation run is: same values, same traffic, incidents and (pure engine) alerts. */
export interface EvaluationPlan {
  seed: number;
  /** Event time the simulation starts at (ms). */
  startMs: number;
  /** Learning period: traffic without incidents, not scored. */
  learningMs: number;
  /** Scored period after it. */
  evaluationMs: number;
  /** Background records per simulated second at the weekly peak (the event-time density). */
  density: number;
  /** Incidents (of every kind once, then random kinds) spread over the scored period. */
  incidents: number;
  /** Event-time slot of the simulator; small, so records arrive nearly in event-time order. */
  slotMs: number;
  /**
   * Days of simulated background history before `startMs` that warm the detector's baselines, as
   * the production detector warms from 28 days of rollups (0: cold start, baselines learn live).
   */
  historyDays: number;
  /** Generate one history slot in this many (each weighted by it): a week costs a seventh of its time at 4. */
  historySample: number;
  /** Explicit incidents instead of the random schedule (tests). */
  scenarios?: ScenarioRequest[];
}

/** Tuesday 2026-11-24 00:00 UTC (the week after the simulator's documented example). */
export const EVALUATION_START = Date.UTC(2026, 10, 23);

/**
 * The reference density the detector's flow-count floor is meant for: about 1,000 flow records a
 * second at the weekly peak for these 300 organisations (the simulator's default rate at speed 1).
 * An evaluation at a lower density scales `volume.minFlows` by density / reference, so an entity
 * carries the same share of that floor as at full density. Byte and packet floors are not scaled:
 * one flow's size does not depend on how many flows there are (a single 500 MB backup is as big at
 * any density), so scaling them would only make large single flows look like incidents.
 */
export const REFERENCE_DENSITY = 1000;

export function evaluationPlan(p: Partial<EvaluationPlan> = {}): EvaluationPlan {
  return {
    seed: p.seed ?? 1,
    startMs: p.startMs ?? EVALUATION_START,
    learningMs: p.learningMs ?? 86_400_000,
    evaluationMs: p.evaluationMs ?? 86_400_000,
    density: p.density ?? 100,
    incidents: p.incidents ?? SCENARIO_NAMES.length * 2,
    slotMs: p.slotMs ?? 5000,
    historyDays: p.historyDays ?? 7,
    historySample: p.historySample ?? 4,
    ...(p.scenarios ? { scenarios: p.scenarios } : {}),
  };
}

/** The incidents of a plan: random kinds at random times after the learning period, one at a time. */
export function evaluationScenarios(plan: EvaluationPlan): ScenarioRequest[] {
  return plan.scenarios ?? randomSchedule(plan.seed, plan.startMs + plan.learningMs, plan.evaluationMs, plan.incidents);
}

/** The block list the detector is given: the simulated network's indicators. */
export function evaluationBlocklist(network: SimulatedNetwork): string {
  return `# flowwatch evaluation: the simulated network's indicators (RFC 5737 space)\n${network.blocklist.join('\n')}\n`;
}

/**
 * The detector configuration of an evaluation: defaults, except what a deployment would configure
 * for this network (the PACS policy, the block list) and what the density requires: the flow-count
 * floor scaled by density / REFERENCE_DENSITY (see there), and detected_at in event time.
 */
export function evaluationDetectorConfig(plan: EvaluationPlan, network: SimulatedNetwork, blocklistPath: string): DetectorConfigInput {
  const scale = Math.min(1, plan.density / REFERENCE_DENSITY);
  const groups = network.registry.groups.filter((g) => !(PACS_POLICY.allowedGroups as readonly string[]).includes(g.id)).map((g) => g.id);
  return {
    detectedAt: 'event',
    fromBeginning: true,
    warmStart: { enabled: false },
    // New pairs and lateral allowances are learnt over the plan's learning period (default a day).
    learningPeriodMs: plan.learningMs,
    volume: { minFlows: Math.round(2_000 * scale) },
    blocklists: [{ name: 'simulated-indicators', path: blocklistPath, severity: 'high' }],
    policies: [
      {
        id: 'pacs-acute-only',
        description: `Only ${PACS_POLICY.allowedGroups.join(', ')} may reach ${PACS_POLICY.service}`,
        severity: 'high',
        match: { srcGroups: groups, services: [PACS_POLICY.service] },
      },
    ],
  };
}
