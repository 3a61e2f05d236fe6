export { createRunner, errorSummary, type Runner, type SignalOptions, stopOnSignals } from './runner.js';
export type { Service } from './service.js';
