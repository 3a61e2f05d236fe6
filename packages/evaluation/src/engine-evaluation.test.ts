import { describe, expect, it } from 'vitest';
import { runEngineEvaluation } from './engine-evaluation.js';
import { EVALUATION_START } from './evaluation-setup.js';
import { DEFAULT_SCORE_OPTIONS, scoreAlerts } from './score.js';

const HOUR = 3_600_000;
const MIN = 60_000;

/**
 * The CI-sized evaluation: the simulator's records for 300 organisations straight into the engine
 * (a Tuesday morning at a tenth of the reference density), with one incident of each kind whose
 * detector needs no seasonal history, and a benign log-on surge. Catches a regression in what the
 * full evaluation (pnpm eval) measures; its numbers are not the published ones.
 */
describe('pure-engine evaluation (CI size)', () => {
  const learningMs = 2 * HOUR;
  const at = (h: number) => EVALUATION_START + learningMs + h * HOUR;
  const run = runEngineEvaluation({
    seed: 7,
    startMs: EVALUATION_START + 6 * HOUR,
    learningMs,
    evaluationMs: 3 * HOUR,
    density: 20,
    // Cold: the families here need no seasonal history (the history is measured by pnpm eval).
    historyDays: 0,
    scenarios: [
      { name: 'port-scan', startMs: at(6) + 5 * MIN, durationMs: 10 * MIN },
      { name: 'host-sweep', startMs: at(6) + 25 * MIN, durationMs: 10 * MIN },
      { name: 'blocklist', startMs: at(6) + 45 * MIN, durationMs: 10 * MIN },
      { name: 'logon-surge', startMs: at(7), durationMs: 30 * MIN },
      { name: 'policy-breach', startMs: at(7) + 35 * MIN, durationMs: 10 * MIN },
      { name: 'amplification', startMs: at(8), durationMs: 3 * MIN },
      { name: 'worm-smb', startMs: at(8) + 10 * MIN, durationMs: 15 * MIN },
      { name: 'ddos', startMs: at(8) + 30 * MIN, durationMs: 1 * MIN },
      { name: 'exporter-silence', startMs: at(8) + 40 * MIN, durationMs: 10 * MIN },
    ],
  });
  const from = EVALUATION_START + 6 * HOUR + learningMs;
  const score = scoreAlerts(run.labels, run.alerts, { fromMs: from, toMs: from + 3 * HOUR, ...DEFAULT_SCORE_OPTIONS });
  const of = (type: string) => score.types.find((t) => t.type === type)!;

  it('labels every incident', () => {
    expect(run.labels.map((l) => l.scenario).sort()).toEqual(
      [
        'amplification',
        'blocklist',
        'ddos',
        'exporter-silence',
        'host-sweep',
        'logon-surge',
        'policy-breach',
        'port-scan',
        'worm-smb',
      ].sort(),
    );
  });

  it.each(['port_scan', 'host_sweep', 'blocklist', 'policy', 'amplification', 'lateral_movement', 'syn_flood', 'telemetry_silence'])(
    'detects every %s incident, precisely',
    (type) => {
      const t = of(type);
      expect(t.incidents).toBe(1);
      expect(t.recall).toBe(1);
      expect(t.precision).toBeGreaterThanOrEqual(0.9);
    },
  );

  it('decides block list, policy, flood and scan hits within 5 s of event time', () => {
    for (const type of ['blocklist', 'policy', 'amplification', 'syn_flood', 'port_scan', 'host_sweep'])
      expect(of(type).worstDelayS, type).toBeLessThan(5);
  });
});
