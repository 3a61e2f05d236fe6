import { EntityRouter } from '@flowwatch/detector';
import { type AlertMessage, emptyFlow, encodeFlows } from '@flowwatch/flow-schema';
import { type FlowwatchProcess, readTopic, startChaosStage, startFlowStream, startFlowwatch, waitFor } from '@flowwatch/test-support';
import { describe, expect, it } from 'vitest';

/**
 * Two detector processes in one consumer group with the repartition stage (issue 6 and 8), one
 * killed with SIGKILL. Both write alerts to one store (chDB behind the HTTP front, over
 * CLICKHOUSE_URL). `flows` is keyed by exporter: a port scan's probes are spread evenly over its
 * four partitions, so each instance reads half of them. The repartition stage re-keys them by
 * source address onto `flows.by-entity`, so the scan is counted whole on the one instance that
 * owns its partition and alerted exactly once (without the stage each instance alerts on its half:
 * two alerts). That instance is killed while the scan goes on; the survivor takes its partitions,
 * restores their checkpoint (written when the alert opened) and the incident stays one alert,
 * updated by the survivor, never opened again. About 60 s.
 */
const PARTITIONS = 4;
const SCAN_PORTS = 160; // over the 100-port and 20-port burst thresholds; 80 per instance if split by exporter
const VICTIM_HOST = '10.200.1.80';

describe('two detectors in one group with the repartition stage, one killed', () => {
  it('alerts a split scan once, on one instance; the survivor restores its state and keeps it one alert', async () => {
    const stage = await startChaosStage('det-failover', {
      partitions: PARTITIONS,
      database: 'fw_det_failover',
      extraTopics: (flows) => [`${flows}.by-entity`],
    });
    const { kafka, flows } = stage;
    const alertsTopic = `${flows}.alerts`;
    const byEntity = `${flows}.by-entity`;
    const group = `${flows}-detectors`;
    const env = {
      ...stage.env,
      FLOWWATCH__KAFKA__TOPICS__FLOWS_BY_ENTITY__NAME: byEntity,
      FLOWWATCH__KAFKA__TOPICS__FLOWS_BY_ENTITY__PARTITIONS: String(PARTITIONS),
      FLOWWATCH__DETECTOR__REPARTITION__ENABLED: 'true',
      FLOWWATCH__DETECTOR__GROUP_ID: group,
      FLOWWATCH__DETECTOR__FROM_BEGINNING: 'true',
      FLOWWATCH__DETECTOR__CHECKPOINT_INTERVAL_MS: '2000',
      // A persisting alert re-published every 2 s: the survivor's update of the ongoing scan shows.
      FLOWWATCH__DETECTOR__ALERTS__UPDATE_INTERVAL_MS: '2000',
    };
    const processes: FlowwatchProcess[] = [];
    const assigned = async (p: FlowwatchProcess) => (await p.metric('flowwatch_detector_kafka_assigned_partitions')) ?? 0;
    const held = async (p: FlowwatchProcess, partition?: number) =>
      (await p.metric(
        'flowwatch_detector_repartition_held_partition_info',
        partition === undefined ? {} : { partition: String(partition) },
      )) ?? 0;
    const producer = kafka.producer();
    await producer.connect();
    // A vertical scan from `src` over ports [first, first + SCAN_PORTS), its probes spread evenly over every partition of `flows`.
    const scan = async (src: string, first: number) => {
      const now = Date.now();
      const probes = Array.from({ length: SCAN_PORTS }, (_, i) => ({
        ...emptyFlow('NETFLOW_V9'),
        time_received_ns: now * 1e6,
        src_addr: src,
        dst_addr: VICTIM_HOST,
        src_port: 40_000,
        dst_port: first + i,
        proto: 6,
        tcp_flags: 2,
        packets: 1,
        bytes: 60,
        supplier_id: 'supplier-a',
        exporter_id: `edge-${i % PARTITIONS}`,
      }));
      await producer.send({
        topic: flows,
        messages: Array.from({ length: PARTITIONS }, (_, p) => ({
          partition: p,
          value: encodeFlows(probes.filter((_, i) => i % PARTITIONS === p)),
        })),
      });
    };
    const scanChanges = async (src: string, done: (ms: AlertMessage[]) => boolean, quietMs: number) =>
      (
        await readTopic(kafka, alertsTopic, {
          done: (ms) => done(ms.map((m) => JSON.parse(String(m.value)) as AlertMessage).filter((m) => m.alert.src_addr === src)),
          timeoutMs: quietMs + 30_000,
          quietMs,
        })
      )
        .map((m) => JSON.parse(String(m.value)) as AlertMessage)
        .filter((m) => m.alert.type === 'port_scan' && m.alert.src_addr === src);
    let stream: Awaited<ReturnType<typeof startFlowStream>> | undefined;
    try {
      const survivor = await startFlowwatch('detector', env);
      processes.push(survivor);
      await waitFor('first detector ready', survivor, async () => (await survivor.readiness()).status === 200);
      const victim = await startFlowwatch('detector', env);
      processes.push(victim);
      await waitFor('second detector ready', victim, async () => (await victim.readiness()).status === 200);
      await waitFor(
        'flows.by-entity partitions shared and their state held',
        victim,
        async () =>
          (await assigned(victim)) > 0 && (await assigned(survivor)) > 0 && (await held(victim)) + (await held(survivor)) === PARTITIONS,
      );
      const shared = { survivor: await assigned(survivor), victim: await assigned(victim) };
      expect(shared.survivor + shared.victim).toBe(PARTITIONS);

      // The scanner: a source whose flows.by-entity partition the victim holds.
      const router = new EntityRouter(PARTITIONS);
      let src = '';
      for (let i = 65; i < 120 && src === ''; i++)
        if ((await held(victim, router.partitionOf(`203.0.113.${i}`))) === 1) src = `203.0.113.${i}`;
      expect(src).not.toBe('');

      // Benign background traffic (distinct sources, one port each) while both consume.
      stream = await startFlowStream(kafka, flows, { messagesPerS: 5, flowsPerMessage: 100 });
      await waitFor(
        'victim consuming',
        victim,
        async () => ((await victim.metric('flowwatch_detector_flows_processed_total')) ?? 0) > 0,
        60_000,
      );
      await scan(src, 1);
      const before = await scanChanges(src, (ms) => ms.some((m) => m.event === 'opened'), 4000);
      const openedBefore = before.filter((m) => m.event === 'opened');
      // Seen whole by its owner only: one alert (split by exporter, each instance alerted its half).
      expect(openedBefore).toHaveLength(1);
      // The alert's state was checkpointed when it opened, before the scan's offsets were committed.
      expect((await victim.metric('flowwatch_detector_checkpoints_total')) ?? 0).toBeGreaterThan(0);
      expect(await survivor.metric('flowwatch_detector_alerts_raised_total', { type: 'port_scan' })).toBe(0);

      victim.child.kill('SIGKILL');
      await victim.exited;
      const t0 = Date.now();
      await waitFor(
        'survivor holds every partition',
        survivor,
        async () => (await assigned(survivor)) === PARTITIONS && (await held(survivor)) === PARTITIONS,
        60_000,
      );
      const takeoverMs = Date.now() - t0;

      // The scan goes on: the survivor counts it afresh and finds its alert already open.
      await scan(src, 1 + SCAN_PORTS);
      const opened = openedBefore[0] as AlertMessage;
      const after = await scanChanges(
        src,
        (ms) => ms.some((m) => m.alert.id === opened.alert.id && m.event !== 'opened' && m.alert.version > opened.alert.version),
        4000,
      );
      const events = after.map((m) => m.event);
      expect(events.filter((e) => e === 'opened')).toHaveLength(1);
      expect(events.filter((e) => e === 'reopened')).toHaveLength(0);
      expect(new Set(after.map((m) => m.alert.id)).size).toBe(1);
      // Updated by the survivor after the kill: the incident was seen, not missed.
      const later = after.filter((m) => m.alert.version > opened.alert.version);
      expect(later.length).toBeGreaterThan(0);
      expect(await survivor.metric('flowwatch_detector_alerts_raised_total', { type: 'port_scan' })).toBe(0);
      // The victim's partitions, taken on after the kill, from their checkpoints.
      const restored = (await survivor.metric('flowwatch_detector_repartition_state_restores_total', { source: 'checkpoint' })) ?? 0;
      expect(restored).toBeGreaterThanOrEqual(shared.victim);
      console.info(
        `detector failover (repartition): partitions ${JSON.stringify(shared)}; scanner ${src} on the victim's partition ${router.partitionOf(src)}; ` +
          `split scan before the kill: ${openedBefore.length} opened; survivor held all ${PARTITIONS} partitions ${takeoverMs} ms after the kill, ` +
          `${restored} restored from checkpoints; scan changes across the kill: ${events.join(', ')}`,
      );
    } finally {
      await stream?.stop();
      await producer.disconnect();
      for (const p of processes) await p.stop(5000);
      await stage.stop();
    }
  }, 300_000);
});
