import type { OrgType } from '../network.js';
import { makeLabel, numberParam, type Scenario, type ScenarioFactory } from './scenario.js';

const TYPES: ReadonlySet<OrgType> = new Set(['gp-practice', 'acute-trust', 'community-trust', 'mental-health-trust', 'local-authority']);
const APPS: ReadonlySet<string> = new Set([
  'identity',
  'identity-ldaps',
  'kerberos',
  'ldap',
  'dns-local',
  'dns-national',
  'nhsmail-imaps',
  'nhsmail-web',
  'office365',
  'spine',
]);

/**
 * A benign surge: everyone logs on at once (a morning after an outage, a new smartcard roll-out):
 * authentication, directory, DNS, mail and records traffic of practices, trusts and councils rises
 * smoothly to `factor` times normal (default 4) and back over the scenario. Nothing is wrong; a
 * detector that alerts on it is wrong.
 */
export const logonSurge: ScenarioFactory = (_network, setup) => {
  const factor = numberParam(setup.params, 'factor', 4);
  const length = setup.endMs - setup.startMs;
  return {
    id: setup.id,
    name: 'logon-surge',
    startMs: setup.startMs,
    endMs: setup.endMs,
    modulation: (type, appId, tMs) => {
      if (tMs < setup.startMs || tMs >= setup.endMs || !TYPES.has(type) || !APPS.has(appId)) return 1;
      // Raised cosine: 1 at the edges, `factor` in the middle.
      const x = (tMs - setup.startMs) / length;
      return 1 + ((factor - 1) * (1 - Math.cos(2 * Math.PI * x))) / 2;
    },
    label: (stoppedMs) =>
      makeLabel(
        setup,
        'logon-surge',
        {
          type: 'benign',
          entity: { kind: 'network', id: 'all' },
          detail: `benign log-on surge: authentication, DNS, mail and records traffic up to ${factor}x normal`,
          facts: { factor, applications: [...APPS], organisation_types: [...TYPES] },
        },
        stoppedMs,
      ),
  } satisfies Scenario;
};
