import type { FlowRecord } from '@flowwatch/flow-schema';
import { type Conversation, newConversation } from '../conversation.js';
import type { Entity, Label } from '../labels.js';
import { clientV4, type OrgType, type SimExporter, type SimOrganisation, type SimulatedNetwork } from '../network.js';
import { Random } from '../random.js';
import type { Modulation } from '../traffic-model.js';

export type ScenarioParams = Readonly<Record<string, string | number>>;

/** What a scenario factory is given: where it runs in event time and how. */
export interface ScenarioSetup {
  /** `<name>-<n>`: keys its random streams and names its label. */
  id: string;
  seed: number;
  startMs: number;
  endMs: number;
  params: ScenarioParams;
}

/**
 * A scenario in a run: the records it adds per window of event time, the exporters it silences or
 * the background it scales, and its ground truth. Everything it does is a function of the seed,
 * its setup and the window, so it is as deterministic as the background.
 */
export interface Scenario {
  readonly id: string;
  readonly name: string;
  readonly startMs: number;
  readonly endMs: number;
  /** Appends its records for flows ending in [fromMs, toMs) (only called for windows overlapping the scenario). */
  flows?(fromMs: number, toMs: number, out: FlowRecord[]): void;
  /** Whether a supplier's exporters send nothing at this instant. */
  silences?(supplierId: string, tMs: number): boolean;
  /** Scales background traffic (a benign surge). */
  modulation?: Modulation;
  /** Whether a background record survives at this instant (an organisation losing its circuit); absent: all do. */
  keeps?(record: FlowRecord, tMs: number): boolean;
  /** The label, with the end it actually reached (`stoppedMs` when the run stopped early). */
  label(stoppedMs?: number): Label;
}

export type ScenarioFactory = (network: SimulatedNetwork, setup: ScenarioSetup) => Scenario;

/** A random stream for a scenario's setup, and one per window of its flows. */
export const setupRandom = (s: ScenarioSetup) => Random.derive(s.seed, 'scenario', s.id, s.startMs, 'setup');
export const windowRandom = (s: ScenarioSetup, fromMs: number) => Random.derive(s.seed, 'scenario', s.id, s.startMs, fromMs);

export function numberParam(params: ScenarioParams, key: string, fallback: number): number {
  const v = params[key];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`scenario parameter ${key} must be a positive number, got ${v}`);
  return n;
}

export function stringParam(params: ScenarioParams, key: string): string | undefined {
  const v = params[key];
  return v === undefined ? undefined : String(v);
}

/**
 * An organisation for a scenario to start from: the one named by code, else a random one of the
 * given kinds whose exporter does not sample (so a detector can see every packet of it), else any.
 */
export function pickOrganisation(
  network: SimulatedNetwork,
  rng: Random,
  types: readonly OrgType[],
  code: string | undefined,
  minClients = 1,
): SimOrganisation {
  if (code !== undefined) {
    const named = network.organisations.find((o) => o.code === code);
    if (!named) throw new RangeError(`no organisation ${code} in the simulated network`);
    return named;
  }
  const fits = (o: SimOrganisation) => o.exporter.samplingRate <= 1 && o.clients >= minClients;
  const preferred = network.organisations.filter((o) => types.includes(o.type) && fits(o));
  if (preferred.length > 0) return rng.pick(preferred);
  const any = network.organisations.filter(fits);
  return rng.pick(any.length > 0 ? any : network.organisations);
}

/** A workstation of the organisation (IPv4). */
export function pickClient(org: SimOrganisation, rng: Random): string {
  return clientV4(org, rng.int(org.clients));
}

/** One conversation object per scenario, reset per use. */
export function conversationFor(exporter: SimExporter): Conversation {
  return newConversation(exporter);
}

/**
 * The network elements that carry an organisation's traffic: its exporter and its supplier. A
 * volume incident of the organisation changes their volumes too, so their volume alerts point at
 * the same incident (related entities of its label).
 */
export function carriersOf(org: SimOrganisation): Entity[] {
  return [
    { kind: 'exporter', id: `${org.exporter.supplierId}/${org.exporter.id}` },
    { kind: 'supplier', id: org.supplierId },
  ];
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Builds a label with the scenario's window, cut at `stoppedMs` when the run ended first. */
export function makeLabel(
  s: ScenarioSetup,
  name: string,
  fields: {
    type: Label['type'];
    entity: Entity;
    related?: Entity[];
    also?: Label['also'];
    detail: string;
    facts: Label['facts'];
  },
  stoppedMs: number | undefined,
): Label {
  const truncated = stoppedMs !== undefined && stoppedMs < s.endMs;
  return {
    id: s.id,
    scenario: name,
    type: fields.type,
    benign: fields.type === 'benign',
    entity: fields.entity,
    related: fields.related ?? [],
    also: fields.also ?? [],
    start: iso(s.startMs),
    end: iso(truncated ? Math.max(s.startMs, stoppedMs) : s.endMs),
    truncated,
    detail: fields.detail,
    facts: fields.facts,
  };
}

/** The part of [fromMs, toMs) inside the scenario, or undefined. */
export function overlap(s: ScenarioSetup, fromMs: number, toMs: number): [number, number] | undefined {
  const a = Math.max(fromMs, s.startMs);
  const b = Math.min(toMs, s.endMs);
  return a < b ? [a, b] : undefined;
}

/**
 * Events at a steady rate: event k happens at start + k * periodMs (+ jitter below one period).
 * Calls `each(k, tMs)` for those in [fromMs, toMs); stateless, so any windowing gives the same events.
 */
export function periodic(
  s: ScenarioSetup,
  periodMs: number,
  fromMs: number,
  toMs: number,
  jitter: (k: number) => number,
  each: (k: number, tMs: number) => void,
): void {
  const w = overlap(s, fromMs, toMs);
  if (!w) return;
  // Jitter moves an event later by less than a period: look one period back.
  let k = Math.max(0, Math.floor((w[0] - s.startMs) / periodMs) - 1);
  for (;;) {
    const t = Math.floor(s.startMs + k * periodMs + jitter(k) * periodMs);
    if (t >= w[1]) {
      if (s.startMs + k * periodMs >= w[1]) break;
    } else if (t >= w[0]) each(k, t);
    k++;
  }
}

/**
 * A jitter in [0, 1) that depends only on the scenario and k; none for the first event, so an
 * incident's first flow is at its labelled start (delays are measured from there).
 */
export function jitterOf(s: ScenarioSetup, amount: number): (k: number) => number {
  return (k) => (k === 0 ? 0 : amount * Random.derive(s.seed, s.id, 'jitter', k).next());
}
