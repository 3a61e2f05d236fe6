export { createPlatform, type Platform } from './platform.js';
export { SERVICE_FACTORIES } from './services.js';
