import { makeLabel, type Scenario, type ScenarioFactory, setupRandom, stringParam } from './scenario.js';

/**
 * A supplier's exporters go silent (a collector route withdrawn, a misconfigured ACL, an
 * exporter process crashed): nothing from `supplier` (default: a random UDP supplier) for the
 * scenario's duration; its traffic itself goes on, unseen.
 */
export const exporterSilence: ScenarioFactory = (network, setup) => {
  const rng = setupRandom(setup);
  const named = stringParam(setup.params, 'supplier');
  const udp = network.suppliers.filter((s) => s.protocol !== 'json');
  const supplier = named !== undefined ? network.suppliers.find((s) => s.id === named) : rng.pick(udp.length > 0 ? udp : network.suppliers);
  if (!supplier) throw new RangeError(`no supplier ${named} in the simulated network`);
  return {
    id: setup.id,
    name: 'exporter-silence',
    startMs: setup.startMs,
    endMs: setup.endMs,
    silences: (supplierId, tMs) => supplierId === supplier.id && tMs >= setup.startMs && tMs < setup.endMs,
    label: (stoppedMs) =>
      makeLabel(
        setup,
        'exporter-silence',
        {
          type: 'telemetry_silence',
          also: ['volume_drop'],
          entity: { kind: 'supplier', id: supplier.id },
          detail: `every exporter of ${supplier.id} (${supplier.exporters.map((e) => e.id).join(', ')}) stops sending`,
          facts: { supplier: supplier.id, exporters: supplier.exporters.map((e) => e.id), protocol: supplier.protocol },
        },
        stoppedMs,
      ),
  } satisfies Scenario;
};
