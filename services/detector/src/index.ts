export { createDetector, type Detector, type DetectorDeps } from './detector.js';
export { routes, signature } from './webhooks.js';
export { BY_ENTITY_SCHEMA, EntityRouter } from './entity-router.js';
