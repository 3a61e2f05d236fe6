export { type Collector, type CollectorDeps, createCollector } from './collector.js';
export { canonicalAddress, ExporterRegistry, hashToken } from './exporter-registry.js';
