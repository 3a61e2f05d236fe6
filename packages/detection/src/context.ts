import type { DetectorConfig } from '@flowwatch/config';
import type { EnrichedFlow } from '@flowwatch/enrichment';
import type { DetectionSink } from './detection.js';
import type { Directory } from './directory.js';
import type { EventClock } from './event-clock.js';
import type { RecentFlows } from './evidence.js';
import type { IncidentAddresses } from './incident-addresses.js';
import type { Overrides } from './rules.js';

/** What every detector family receives from the engine. */
export interface DetectorContext {
  config: DetectorConfig;
  directory: Directory;
  overrides: Overrides;
  sink: DetectionSink;
  clock: EventClock;
  /** Addresses of ongoing per-flow incidents (floods' victims, scanners): volume spikes they explain are not raised. */
  incidents: IncidentAddresses;
  /** The ring of recent flows (evidence, and samples of an interval). */
  recent: RecentFlows;
  /** Whether event time `t` (ms) is inside the learning period. */
  learning(t: number): boolean;
  /** Whether the flow's service is its destination (else its source: a reply). */
  serviceAtDestination(flow: EnrichedFlow): boolean;
}

/** One detector family: one file each under detectors/. */
export interface DetectorFamily {
  readonly name: string;
  /** Entities tracked now. */
  readonly size: number;
  /** Entities evicted for lack of room since start. */
  readonly evictions: number;
  /** Approximate heap bytes of its state (for the benchmark's bytes-per-entity figure). */
  approximateBytes?(): number;
}
