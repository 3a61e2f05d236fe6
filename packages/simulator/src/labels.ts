/**
 * Ground truth of a scenario, one JSON line each in the labels file, so an evaluation can score the
 * detector's alerts: the alert type the detector is expected to raise (its names), the entity it
 * should name, and when the anomaly ran in event time. A benign scenario (`benign: true`, type
 * `benign`) is one that must NOT raise an alert.
 */
export const ALERT_TYPES = [
  'volume_spike',
  'volume_drop',
  'telemetry_silence',
  'port_scan',
  'host_sweep',
  'flood',
  'syn_flood',
  'amplification',
  'lateral_movement',
  'exfiltration',
  'new_pair',
  'blocklist',
  'policy',
] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

export const ENTITY_KINDS = ['host', 'organisation', 'service', 'supplier', 'exporter', 'network'] as const;
export type EntityKind = (typeof ENTITY_KINDS)[number];

/**
 * What an alert is about: a host by address, an organisation by code, a service or supplier by id,
 * an exporter by `supplier/exporter`, or the whole network ('all').
 */
export interface Entity {
  kind: EntityKind;
  id: string;
}

export interface Label {
  /** Unique within a run: `<scenario>-<n>`. */
  id: string;
  scenario: string;
  type: AlertType | 'benign';
  benign: boolean;
  entity: Entity;
  /** Other entities an alert may legitimately name instead (the worm's other organisations, the scanner's organisation). */
  related: Entity[];
  /**
   * Other alert types the incident truly causes (a worm sweeps hosts, a new integration is a new
   * pair): an evaluation counts such alerts as explained, not false, but does not require them.
   */
  also: AlertType[];
  /** Event time, ISO-8601 UTC with milliseconds. */
  start: string;
  end: string;
  /** Whether the run stopped before the scenario's planned end (`end` is then when it stopped). */
  truncated: boolean;
  /** One sentence for people. */
  detail: string;
  /** Scenario-specific facts (source host, target, indicator, rates). */
  facts: Record<string, string | number | string[]>;
}

export function labelLine(label: Label): string {
  return `${JSON.stringify(label)}\n`;
}
