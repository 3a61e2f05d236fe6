import { configSchema } from '@flowwatch/config';
import { describe, expect, it } from 'vitest';
import { soakAggregatorConfig, soakBenchOptions } from './soak-bench.js';

describe('soak bench options', () => {
  it('leaves the aggregator section empty when no batch bound is set, so flowwatch defaults apply', () => {
    const options = soakBenchOptions({});
    expect(soakAggregatorConfig(options)).toEqual({});
    expect(configSchema.parse({ aggregator: soakAggregatorConfig(options) }).aggregator).toEqual(configSchema.parse({}).aggregator);
  });

  it('passes the batch bounds from the environment as aggregator config that validates', () => {
    const options = soakBenchOptions({
      FLOWWATCH_BENCH_SOAK_AGGREGATOR_WAIT_MS: '5000',
      FLOWWATCH_BENCH_SOAK_AGGREGATOR_MIN_BYTES: '4194304',
    });
    const section = configSchema.parse({ aggregator: soakAggregatorConfig(options) }).aggregator;
    expect(section.maxWaitMs).toBe(5000);
    expect(section.minBytes).toBe(4_194_304);
  });

  it('sets one bound alone', () => {
    expect(soakAggregatorConfig(soakBenchOptions({ FLOWWATCH_BENCH_SOAK_AGGREGATOR_WAIT_MS: '2000' }))).toEqual({ maxWaitMs: 2000 });
  });
});
