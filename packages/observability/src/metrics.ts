import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** flowwatch_<service>_<thing>_<unit>: lower snake case, unit last. */
const NAME = /^flowwatch_[a-z][a-z0-9]*_[a-z][a-z0-9_]*$/;
const UNITS = ['total', 'seconds', 'bytes', 'ratio', 'info', 'count', 'messages', 'flows', 'entities', 'partitions'];

export function metricName(service: string, thing: string, unit: string): string {
  const name = `flowwatch_${service}_${thing}_${unit}`;
  if (!NAME.test(name) || !UNITS.includes(unit)) {
    throw new Error(`metric name ${name} breaks flowwatch_<service>_<thing>_<unit> (unit one of ${UNITS.join(', ')})`);
  }
  return name;
}

/** A registry for one process, with Node's process metrics as flowwatch_process_* and flowwatch_nodejs_*. */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'flowwatch_' });
  return registry;
}

/**
 * Metrics of one service, all named flowwatch_<service>_*. Creating a metric twice returns the
 * existing one, so components that restart (tests, reloads) don't collide in the registry.
 */
export class ServiceMetrics {
  constructor(
    readonly registry: Registry,
    readonly service: string,
  ) {
    metricName(service, 'x', 'total');
  }

  counter<L extends string = never>(thing: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    const name = metricName(this.service, thing, 'total');
    return (
      (this.registry.getSingleMetric(name) as Counter<L> | undefined) ??
      new Counter<L>({ name, help, labelNames, registers: [this.registry] })
    );
  }

  gauge<L extends string = never>(thing: string, unit: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    const name = metricName(this.service, thing, unit);
    return (
      (this.registry.getSingleMetric(name) as Gauge<L> | undefined) ?? new Gauge<L>({ name, help, labelNames, registers: [this.registry] })
    );
  }

  histogram<L extends string = never>(
    thing: string,
    unit: 'seconds' | 'bytes' | 'messages' | 'flows',
    help: string,
    buckets: number[],
    labelNames: readonly L[] = [],
  ): Histogram<L> {
    const name = metricName(this.service, thing, unit);
    return (
      (this.registry.getSingleMetric(name) as Histogram<L> | undefined) ??
      new Histogram<L>({ name, help, labelNames, buckets, registers: [this.registry] })
    );
  }
}
