import { type AlertMessage, emptyFlow, encodeFlows } from '@flowwatch/flow-schema';
import {
  consumerLag,
  type FlowwatchProcess,
  readTopic,
  sleep,
  startChaosStage,
  startFlowStream,
  startFlowwatch,
  waitFor,
} from '@flowwatch/test-support';
import { describe, expect, it } from 'vitest';

/**
 * The detector killed with SIGKILL mid-stream and restarted (issue 8): it restores its baselines
 * and open alerts from the last checkpoint on `detector.state`, so an incident that goes on across
 * the crash stays ONE alert (updated, never opened twice), and the flows re-consumed after the
 * crash (consumed but not committed) do not open it again either. The detector runs in its own
 * process against the store behind the HTTP front (CLICKHOUSE_URL), as in a deployment.
 */
const PARTITIONS = 2;

describe('detector killed with SIGKILL and restarted', () => {
  it('restores its state from the checkpoint: an incident spanning the crash is one alert', async () => {
    const stage = await startChaosStage('det-restart', { partitions: PARTITIONS, database: 'fw_det_restart' });
    const { kafka, flows } = stage;
    const alertsTopic = `${flows}.alerts`;
    const env = {
      ...stage.env,
      FLOWWATCH__DETECTOR__GROUP_ID: `${flows}-detector`,
      FLOWWATCH__DETECTOR__FROM_BEGINNING: 'true',
      FLOWWATCH__DETECTOR__CHECKPOINT_INTERVAL_MS: '1000',
    };
    const processes: FlowwatchProcess[] = [];
    const producer = kafka.producer();
    await producer.connect();
    const SRC = '203.0.113.70';
    // A vertical scan from SRC: `count` new ports of 10.200.1.90 from `first` on.
    const probes = async (first: number, count: number) => {
      const now = Date.now();
      const batch = Array.from({ length: count }, (_, i) => ({
        ...emptyFlow('NETFLOW_V9'),
        time_received_ns: now * 1e6,
        src_addr: SRC,
        dst_addr: '10.200.1.90',
        src_port: 40_000,
        dst_port: first + i,
        proto: 6,
        tcp_flags: 2,
        packets: 1,
        bytes: 60,
        supplier_id: 'supplier-a',
      }));
      await producer.send({ topic: flows, messages: [{ partition: 0, value: encodeFlows(batch) }] });
    };
    const scanChanges = async (quietMs: number) =>
      (await readTopic(kafka, alertsTopic, { done: () => false, timeoutMs: quietMs + 15_000, quietMs }))
        .map((m) => JSON.parse(String(m.value)) as AlertMessage)
        .filter((m) => m.alert.type === 'port_scan' && m.alert.src_addr === SRC);
    let stream: Awaited<ReturnType<typeof startFlowStream>> | undefined;
    try {
      const first = await startFlowwatch('detector', env);
      processes.push(first);
      await waitFor('detector ready', first, async () => (await first.readiness()).status === 200);
      stream = await startFlowStream(kafka, flows, { messagesPerS: 5, flowsPerMessage: 100 });
      await probes(1, 150);
      await waitFor(
        'scan alert opened',
        first,
        async () => ((await first.metric('flowwatch_detector_open_alerts_count')) ?? 0) > 0,
        60_000,
      );
      const checkpoints = (await first.metric('flowwatch_detector_checkpoints_total')) ?? 0;
      await waitFor(
        'a checkpoint with the alert',
        first,
        async () => ((await first.metric('flowwatch_detector_checkpoints_total')) ?? 0) > checkpoints,
        30_000,
      );
      // More probes that the first process consumes (or not) before it dies: re-consumed after the restart.
      await probes(151, 50);
      first.child.kill('SIGKILL');
      await first.exited;

      const second = await startFlowwatch('detector', env);
      processes.push(second);
      await waitFor('restarted detector ready', second, async () => (await second.readiness()).status === 200);
      expect(second.output()).toContain('state restored from checkpoint');
      // The scan goes on after the restart: its window refills and it is raised again.
      await probes(201, 150);
      // Everything produced so far consumed (and committed) by the restarted detector.
      await stream.stop();
      stream = undefined;
      await waitFor(
        'restarted detector caught up',
        second,
        async () => (await consumerLag(kafka, env.FLOWWATCH__DETECTOR__GROUP_ID, flows)) === 0,
        60_000,
      );
      await sleep(2000);
      const changes = await scanChanges(4000);
      const events = changes.map((m) => m.event);
      expect(events.filter((e) => e === 'opened')).toHaveLength(1);
      expect(events.filter((e) => e === 'reopened')).toHaveLength(0);
      expect(new Set(changes.map((m) => m.alert.id)).size).toBe(1);
      console.info(`detector restart: scan alert changes across the SIGKILL: ${events.join(', ')}`);
    } finally {
      await stream?.stop();
      await producer.disconnect();
      for (const p of processes) await p.stop(5000);
      await stage.stop();
    }
  }, 300_000);
});
