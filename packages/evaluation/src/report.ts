import type { Score, TypeScore } from './score.js';

/** Delay targets of issue 6, seconds: per-flow types 5 s; baselined volumes one interval + 10 s. */
export function delayTargetS(type: string, intervalS = 60): number | undefined {
  if (['port_scan', 'host_sweep', 'flood', 'syn_flood', 'amplification', 'blocklist', 'policy'].includes(type)) return 5;
  if (type === 'volume_spike' || type === 'volume_drop') return intervalS + 10;
  return undefined;
}

const fmt = (x: number, digits = 2) => (Number.isNaN(x) ? '-' : x.toFixed(digits));
const secs = (x: number) => (Number.isNaN(x) ? '-' : x < 10 ? x.toFixed(1) : Math.round(x).toString());

/** Whether a type meets the targets (recall >= 0.95, precision >= 0.90, delay); undefined: nothing to judge. */
export function meetsTargets(t: TypeScore): boolean | undefined {
  if (t.incidents === 0 && t.alerts === 0) return undefined;
  const target = delayTargetS(t.type);
  const recallOk = t.incidents === 0 || t.recall >= 0.95;
  const precisionOk = t.alerts === 0 || t.precision >= 0.9;
  const delayOk = target === undefined || Number.isNaN(t.worstDelayS) || t.worstDelayS < target;
  return recallOk && precisionOk && delayOk;
}

/** The per-type table of docs/detection.md (markdown). */
export function scoreTable(score: Score, options: { wall?: boolean } = {}): string {
  const head = [
    'type',
    'incidents',
    'detected',
    'recall',
    'alerts',
    'false',
    'precision',
    'alerts per incident',
    'median delay s',
    'worst delay s',
    'delay target s',
    ...(options.wall ? ['median wall latency s', 'worst wall latency s'] : []),
    'targets',
  ];
  const rows = score.types.map((t) => {
    const ok = meetsTargets(t);
    return [
      `\`${t.type}\``,
      String(t.incidents),
      String(t.detected),
      fmt(t.recall),
      String(t.alerts),
      String(t.falseAlerts),
      fmt(t.precision),
      fmt(t.alertsPerIncident, 1),
      secs(t.medianDelayS),
      secs(t.worstDelayS),
      String(delayTargetS(t.type) ?? '-'),
      ...(options.wall ? [fmt(t.medianWallLatencyS), fmt(t.worstWallLatencyS)] : []),
      ok === undefined ? '-' : ok ? 'met' : '**not met**',
    ];
  });
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [
    line(head),
    line(head.map(() => '---')),
    ...rows.map(line),
    '',
    `${score.incidents} incidents over ${fmt(score.days, 1)} scored days, ${score.detected} detected; ${score.alerts} alerts, ${score.falseAlerts} false (${fmt(score.falseAlertsPerDay, 1)} per simulated day, target <= 5), ${score.benignAlerts} of them during benign surges.`,
  ].join('\n');
}
