import type { Service } from '@flowwatch/lifecycle';
import type { Platform } from './platform.js';

/**
 * The pipeline services `flowwatch start` can run, by the name used in config `services` and
 * `--services`. Each is a factory over the shared platform; the runner starts them in the order
 * configured, after the platform and before the process is marked ready.
 */
export const SERVICE_FACTORIES: Readonly<Record<string, (platform: Platform) => Service>> = {};
