/**
 * The one lifecycle every flowwatch component has. A factory `create<Name>(deps, config)` only
 * wires; `start()` connects and returns once the component does its work; `stop()` drains
 * in-flight work, releases everything and may be called more than once.
 */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}
