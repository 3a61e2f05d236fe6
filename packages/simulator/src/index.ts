export { activity, type ProfileName, ukOffsetMs } from './activity.js';
export { APPLICATIONS, MIXES } from './applications.js';
export type { CollectorPort, Datagram, PushBatch, TemplateRefresh } from './export/exporter.js';
export { IPFIX_TEMPLATES, V9_TEMPLATES } from './export/template-exporters.js';
export { DEFAULT_NETWORK, generateNetwork, type NetworkOptions, pushToken, tokenHash } from './generate-network.js';
export { ALERT_TYPES, type AlertType, type Entity, type Label, labelLine } from './labels.js';
export {
  EXPORT_PROTOCOLS,
  type ExportProtocol,
  FLOW_TYPE_OF,
  type SimExporter,
  type SimOrganisation,
  type SimService,
  type SimSupplier,
  type SimulatedNetwork,
} from './network.js';
export { Random } from './random.js';
export { mergeRegistry } from './registry.js';
export { createScenarios, PACS_POLICY, randomSchedule, SCENARIO_NAMES, SCENARIOS, type ScenarioRequest } from './scenarios/index.js';
export { exporterKey, Simulation, type SimulationOptions, type SimulationStep, slotMsFor } from './simulation.js';
export { planSimulation, type SimulationPlan } from './simulation-plan.js';
export { formatDuration, parseDuration, parseInstant } from './time.js';
export { TrafficModel } from './traffic-model.js';
