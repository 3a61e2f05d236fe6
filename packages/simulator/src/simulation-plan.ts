import type { SimulatorConfig } from '@flowwatch/config';
import { generateNetwork } from './generate-network.js';
import type { SimulatedNetwork } from './network.js';
import { randomSchedule, type ScenarioRequest } from './scenarios/index.js';
import { Simulation, type SimulationOptions } from './simulation.js';
import { parseDuration, parseInstant } from './time.js';

/** A run of the simulator as configured: the network, the simulation's options, when it ends. */
export interface SimulationPlan {
  network: SimulatedNetwork;
  options: SimulationOptions;
  /** Event time the run ends at; undefined runs until stopped. */
  endMs: number | undefined;
}

/**
 * Reads the `simulator` config section into a plan: start (`start`, else `nowMs` to the second),
 * end (`duration`), scenarios with their `at` resolved against the start, plus `randomScenarios`
 * spread over the duration. Throws RangeError naming the field for what the schema cannot check
 * (an unknown scenario, a random schedule without a duration); the simulation is built once here
 * so a bad scenario parameter is reported before anything starts.
 */
export function planSimulation(config: SimulatorConfig, nowMs: number): SimulationPlan {
  const startMs = config.start === '' ? Math.floor(nowMs / 1000) * 1000 : Date.parse(config.start);
  if (Number.isNaN(startMs)) throw new RangeError(`simulator.start: not a time: ${config.start}`);
  let durationMs: number | undefined;
  if (config.duration !== '') {
    durationMs = parseDuration(config.duration);
    if (durationMs === undefined || durationMs <= 0) throw new RangeError(`simulator.duration: not a duration: ${config.duration}`);
  }
  const scenarios: ScenarioRequest[] = config.scenarios.map((s, i) => {
    const at = parseInstant(s.at, startMs);
    if (at === undefined) throw new RangeError(`simulator.scenarios.${i}.at: not +DURATION or an ISO-8601 time: ${s.at}`);
    const duration = s.duration === undefined ? undefined : parseDuration(s.duration);
    if (s.duration !== undefined && duration === undefined)
      throw new RangeError(`simulator.scenarios.${i}.duration: not a duration: ${s.duration}`);
    return { name: s.name, startMs: at, ...(duration !== undefined ? { durationMs: duration } : {}), params: s.params };
  });
  if (config.randomScenarios > 0) {
    if (durationMs === undefined) throw new RangeError('simulator.randomScenarios: needs simulator.duration to spread them over');
    scenarios.push(...randomSchedule(config.seed, startMs, durationMs, config.randomScenarios));
  }
  const network = generateNetwork({ seed: config.seed, ...config.network });
  const options: SimulationOptions = {
    seed: config.seed,
    startMs,
    speed: config.speed,
    rate: config.rate,
    scenarios,
    background: config.background,
    pushBatchRecords: config.pushBatchRecords,
  };
  try {
    new Simulation(network, options);
  } catch (err) {
    throw new RangeError(`simulator.scenarios: ${(err as Error).message}`);
  }
  return { network, options, endMs: durationMs === undefined ? undefined : startMs + durationMs };
}
