export { LabelsWriter } from './labels-writer.js';
export { PushClient } from './push-client.js';
export {
  type CollectorTarget,
  collectorTarget,
  createSimulator,
  type Simulator,
  type SimulatorDeps,
  type SimulatorStats,
} from './simulator.js';
