export { createDetector, type Detector, type DetectorDeps } from './detector.js';
export { routes, signature } from './webhooks.js';
