export { createDetector, type Detector, type DetectorDeps } from './detector.js';
export { BY_ENTITY_SCHEMA, ByEntityBatcher, EntityRouter } from './entity-router.js';
export { routes, signature } from './webhooks.js';
