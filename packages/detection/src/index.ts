export { type AlertChange, AlertTracker, type AnalystChange, fingerprintOf } from './alert-tracker.js';
export { hourOfWeek, LevelBaseline, SeasonalBaseline } from './baseline.js';
export type { Detection } from './detection.js';
export { BlocklistTable, parseBlocklist } from './detectors/blocklist.js';
export { VOLUME_KINDS, type VolumeKind, type VolumeRow } from './detectors/volume.js';
export { Directory } from './directory.js';
export {
  ALL_FAMILIES,
  DetectionEngine,
  type EngineOptions,
  type EngineSnapshot,
  type EngineStats,
  FAMILY,
  type WarmStart,
} from './engine.js';
export { EntityTable } from './entity-table.js';
export { EventClock } from './event-clock.js';
export { eventMs } from './evidence.js';
export { hashString, mulberry32 } from './hash.js';
export { DistinctCounter, HyperLogLog } from './hyperloglog.js';
export { WarmStartBuilder } from './warm-start-builder.js';
