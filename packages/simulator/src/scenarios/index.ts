import type { SimulatedNetwork } from '../network.js';
import { Random } from '../random.js';
import { amplification } from './amplification.js';
import { blocklist } from './blocklist.js';
import { ddos, udpFlood } from './ddos.js';
import { exfiltration } from './exfiltration.js';
import { exporterSilence } from './exporter-silence.js';
import { logonSurge } from './logon-surge.js';
import { newPair } from './new-pair.js';
import { policyBreach } from './policy-breach.js';
import { hostSweep, portScan } from './scans.js';
import type { Scenario, ScenarioFactory, ScenarioParams } from './scenario.js';
import { volumeDrop, volumeSpike } from './volume.js';
import { wormSmb } from './worm-smb.js';

export { PACS_POLICY } from './policy-breach.js';
export type { Scenario, ScenarioParams } from './scenario.js';

/** Every scenario, with its default duration (event time). */
export const SCENARIOS: Readonly<Record<string, { factory: ScenarioFactory; durationMs: number; summary: string }>> = {
  'worm-smb': { factory: wormSmb, durationMs: 30 * 60_000, summary: 'SMB worm spreading across organisations (lateral_movement)' },
  ddos: { factory: ddos, durationMs: 5 * 60_000, summary: 'SYN or UDP flood on a national service from a botnet (syn_flood, flood)' },
  'udp-flood': { factory: udpFlood, durationMs: 5 * 60_000, summary: 'UDP flood on a national service from a botnet (flood)' },
  amplification: {
    factory: amplification,
    durationMs: 10 * 60_000,
    summary: "DNS/NTP/CLDAP/memcached reflection onto an organisation's server (amplification)",
  },
  'port-scan': { factory: portScan, durationMs: 10 * 60_000, summary: "a compromised host scans a server's ports (port_scan)" },
  'host-sweep': {
    factory: hostSweep,
    durationMs: 10 * 60_000,
    summary: 'a compromised host sweeps another organisation for TCP/445 (host_sweep)',
  },
  exfiltration: { factory: exfiltration, durationMs: 2 * 3_600_000, summary: 'slow upload to an unknown Internet address (exfiltration)' },
  'exporter-silence': {
    factory: exporterSilence,
    durationMs: 20 * 60_000,
    summary: "a supplier's exporters go silent (telemetry_silence)",
  },
  'logon-surge': { factory: logonSurge, durationMs: 45 * 60_000, summary: 'benign morning log-on surge that must not alert (benign)' },
  blocklist: { factory: blocklist, durationMs: 30 * 60_000, summary: 'a host beacons to a blocklisted address (blocklist)' },
  'policy-breach': { factory: policyBreach, durationMs: 30 * 60_000, summary: 'a care home reaches the imaging exchange (policy)' },
  'volume-spike': {
    factory: volumeSpike,
    durationMs: 20 * 60_000,
    summary: 'an organisation copies gigabytes to the backup service at midday (volume_spike)',
  },
  'volume-drop': {
    factory: volumeDrop,
    durationMs: 30 * 60_000,
    summary: "the largest organisation's circuit fails over: 5% of its traffic gets through (volume_drop)",
  },
  'new-pair': {
    factory: newPair,
    durationMs: 30 * 60_000,
    summary: 'a GP practice starts HL7 with a council it never talked to (new_pair)',
  },
};
export const SCENARIO_NAMES = Object.keys(SCENARIOS);

/** A scenario to run: which, when (event time), for how long, with what parameters. */
export interface ScenarioRequest {
  name: string;
  startMs: number;
  durationMs?: number;
  params?: ScenarioParams;
}

/** Builds the scenarios of a run; ids are `<name>-<n>` in request order. Throws RangeError on an unknown name or parameter. */
export function createScenarios(network: SimulatedNetwork, seed: number, requests: readonly ScenarioRequest[]): Scenario[] {
  return requests.map((req, i) => {
    const entry = SCENARIOS[req.name];
    if (!entry) throw new RangeError(`unknown scenario ${req.name} (known: ${SCENARIO_NAMES.join(', ')})`);
    const durationMs = req.durationMs ?? entry.durationMs;
    if (!(durationMs > 0)) throw new RangeError(`scenario ${req.name}: duration must be positive`);
    return entry.factory(network, {
      id: `${req.name}-${i + 1}`,
      seed,
      startMs: req.startMs,
      endMs: req.startMs + durationMs,
      params: req.params ?? {},
    });
  });
}

/**
 * `count` scenarios of random kinds at random times in [startMs, startMs + spanMs), never two at
 * once, with a quiet gap before each, for evaluation runs (a simulated week with a dozen incidents).
 */
export function randomSchedule(seed: number, startMs: number, spanMs: number, count: number): ScenarioRequest[] {
  const rng = Random.derive(seed, 'schedule', startMs, spanMs, count);
  // Every kind once (as far as count allows), then random kinds; in random order.
  const names = rng.shuffle(Array.from({ length: count }, (_, i) => (SCENARIO_NAMES[i] ?? rng.pick(SCENARIO_NAMES)) as string));
  const slot = spanMs / count;
  return names.map((name, i) => {
    const durationMs = Math.floor(Math.min(SCENARIOS[name]?.durationMs ?? 600_000, slot * 0.5) / 1000) * 1000;
    // Somewhere in the second half of its slot, after a quiet first half.
    const at = startMs + i * slot + slot * 0.5 + rng.next() * (slot * 0.5 - durationMs);
    return { name, startMs: Math.floor(at / 1000) * 1000, durationMs };
  });
}
