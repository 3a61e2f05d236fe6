import type { EnrichedFlow } from '@flowwatch/enrichment';
import type { AlertType, EntityKind, Severity } from '@flowwatch/flow-schema';

/** What a detector reports: a condition seen now. The AlertTracker turns it into an Alert. */
export interface Detection {
  type: AlertType;
  entity: { kind: EntityKind; id: string; name: string };
  /** Extra fingerprint part beyond type and entity (a port, a rule id). */
  discriminator?: string;
  supplierIds: string[];
  srcOrg?: string;
  dstOrg?: string;
  srcAddr?: string;
  dstAddr?: string;
  dstPort?: number;
  service?: string;
  /** Event time of the condition, ms. */
  atMs: number;
  observed: number;
  expected: number;
  score: number;
  severity: Severity;
  summary: string;
  details: Record<string, string | number | boolean>;
  /** Recent flows for which this holds are the alert's evidence. */
  match?: (flow: EnrichedFlow) => boolean;
  /** Collector reception time of the flow that completed the condition (latency metric), ns. */
  receivedNs: number;
}

/** Where detectors send what they find. */
export interface DetectionSink {
  raise(detection: Detection): void;
}

/** One level up, capped at critical. */
export function escalate(severity: Severity, steps = 1): Severity {
  const order: Severity[] = ['low', 'medium', 'high', 'critical'];
  return order[Math.min(3, order.indexOf(severity) + steps)]!;
}
