import {
  consumerLag,
  type FlowwatchProcess,
  sleep,
  startChaosStage,
  startFlowStream,
  startStageAggregator,
  storedExactly,
  storedTotals,
  waitFor,
} from '@flowwatch/test-support';
import { describe, expect, it } from 'vitest';

/**
 * Two aggregator processes in one consumer group, writing to one store, one of them killed with
 * SIGKILL mid-stream (issue 8). The store is chDB behind the HTTP front (packages/local-clickhouse),
 * shared by both processes over CLICKHOUSE_URL as a server would be. Expected: the survivor takes
 * the dead one's partitions (after the 10 s session time-out), replays from its committed offsets,
 * skips what the dead one had stored but not committed, completes the rollups of a batch the kill
 * cut short, and the store ends exact: every flow once, rollups equal to raw. About 80 s.
 */
const MESSAGES_PER_S = 10;
const FLOWS_PER_MESSAGE = 100;
const PARTITIONS = 4;

describe('two aggregators in one group, one killed mid-stream', () => {
  it('moves its partitions to the survivor and stores every flow exactly once', async () => {
    const stage = await startChaosStage('aggr-failover', { partitions: PARTITIONS, database: 'fw_failover' });
    const { kafka, flows, front } = stage;
    const processes: FlowwatchProcess[] = [];
    const assigned = async (p: FlowwatchProcess) => (await p.metric('flowwatch_aggregator_kafka_assigned_partitions')) ?? 0;
    try {
      // One after the other: each start runs the schema migrations.
      const { aggregator: survivor, group } = await startStageAggregator(stage, {
        maxBytesPerPartition: 64 << 10,
        name: 'first aggregator',
      });
      processes.push(survivor);
      const { aggregator: victim } = await startStageAggregator(stage, { maxBytesPerPartition: 64 << 10, name: 'second aggregator' });
      processes.push(victim);
      await waitFor('partitions shared', victim, async () => (await assigned(victim)) > 0 && (await assigned(survivor)) > 0);
      const shared = { survivor: await assigned(survivor), victim: await assigned(victim) };
      expect(shared.survivor + shared.victim).toBe(PARTITIONS);

      const stream = await startFlowStream(kafka, flows, { messagesPerS: MESSAGES_PER_S, flowsPerMessage: FLOWS_PER_MESSAGE });
      // Kill the victim once it has written something, a random 0-400 ms later, so the kill lands
      // before, inside or after an insert.
      await waitFor(
        'victim writing',
        victim,
        async () => ((await victim.metric('flowwatch_aggregator_rows_written_total')) ?? 0) > 0,
        60_000,
      );
      await sleep(Math.floor(Math.random() * 400));
      victim.child.kill('SIGKILL');
      await victim.exited;
      const killedAt = stream.sent;
      // The survivor takes every partition once the group notices the death (session time-out).
      const t0 = Date.now();
      await waitFor('survivor owns every partition', survivor, async () => (await assigned(survivor)) === PARTITIONS, 60_000);
      const takeoverMs = Date.now() - t0;
      await sleep(4000);
      const { sent, bytes } = await stream.stop();
      await waitFor('lag zero', survivor, async () => (await consumerLag(kafka, group, flows)) === 0, 120_000);
      const skipped = (await survivor.metric('flowwatch_aggregator_dedup_skipped_total')) ?? 0;
      const repairs = (await survivor.metric('flowwatch_aggregator_rollup_repairs_total')) ?? 0;
      expect(await survivor.stop()).toBe(0);

      expect(await storedTotals(front.url, 'fw_failover')).toEqual({ ...storedExactly(sent, bytes), partitions: PARTITIONS });
      console.info(
        `aggregator failover: partitions ${JSON.stringify(shared)}; victim killed after ${killedAt} of ${sent} flows; survivor owned all ${PARTITIONS} partitions ${takeoverMs} ms later; ${skipped} messages skipped as already stored, ${repairs} batches re-sent for rollups; store exact`,
      );
    } finally {
      for (const p of processes) await p.stop(5000);
      await stage.stop();
    }
  }, 300_000);
});
