import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openClickHouse } from '@flowwatch/clickhouse';
import { emptyFlow, encodeFlows } from '@flowwatch/flow-schema';
import { ensureTopics } from '@flowwatch/kafka';
import { freePort, hourStartAgo, silentLogger, testKafka, testProducer, uniqueName } from '@flowwatch/test-support';
import { describe, expect, it } from 'vitest';

/**
 * The aggregator killed with SIGKILL at random moments while it consumes, and restarted each time:
 * afterwards every flow is in flows_raw exactly once and the rollup sums equal the raw sums. The
 * aggregator runs as its own `flowwatch start --services aggregator` process (embedded ClickHouse
 * belongs to one process), so the kill is real. A kill inside an insert can leave the raw part
 * written and the views' parts not; the restarted run re-sends that batch (docs/storage.md).
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MESSAGES = 300;
const PER_MESSAGE = 100;
// The last full hour (flows_raw drops rows past its retention at insert).
const HOUR = hourStartAgo(1);

describe('aggregator under SIGKILL', () => {
  it('leaves every flow stored exactly once after several kills at random moments', async () => {
    const { kafka, brokers } = testKafka();
    const flows = uniqueName('flows');
    await ensureTopics(
      kafka,
      [{ name: flows, partitions: 4, replicationFactor: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' }],
      silentLogger,
    );
    const producer = await testProducer(kafka, { maxBufferedBytes: 256 << 20, batchMaxMessages: 200 });
    let bytes = 0;
    for (let m = 0; m < MESSAGES; m++) {
      const records = Array.from({ length: PER_MESSAGE }, (_, k) => {
        const i = m * PER_MESSAGE + k;
        bytes += 100 + (i % 1000);
        return {
          ...emptyFlow('NETFLOW_V9' as const),
          time_received_ns: (HOUR + (i % 30) * 60_000) * 1e6,
          src_addr: `10.${i % 200}.${(i >> 8) % 250}.${i % 250}`,
          dst_addr: '10.200.1.53',
          src_port: i % 65_000,
          dst_port: 445,
          proto: 6,
          bytes: 100 + (i % 1000),
          packets: 1,
          supplier_id: 'supplier-a',
        };
      });
      producer.send(flows, [{ key: `k${m % 11}`, value: encodeFlows(records) }]);
    }
    await producer.flush();
    await producer.stop();

    const dir = mkdtempSync(join(tmpdir(), 'fw-aggr-kill-'));
    const env = async () => ({
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      KAFKA_BROKERS: brokers.join(','),
      FLOWWATCH__HTTP__PORT: String(await freePort()),
      FLOWWATCH__KAFKA__TOPICS__FLOWS__NAME: flows,
      FLOWWATCH__KAFKA__TOPICS__FLOWS_DLQ__NAME: `${flows}.dlq`,
      FLOWWATCH__KAFKA__TOPICS__ALERTS__NAME: `${flows}.alerts`,
      FLOWWATCH__CLICKHOUSE__PATH: join(dir, 'clickhouse'),
      FLOWWATCH__AGGREGATOR__GROUP_ID: `${flows}-aggregators`,
      FLOWWATCH__AGGREGATOR__MAX_BYTES_PER_PARTITION: '65536',
      FLOWWATCH__AGGREGATOR__MIN_BYTES: '1',
      FLOWWATCH__LOG__LEVEL: 'info',
    });
    const run = async (): Promise<{ child: ChildProcess; exited: Promise<number | null>; output: () => string; port: string }> => {
      const e = await env();
      const child = spawn(
        process.execPath,
        ['--conditions=flowwatch-src', '--import', 'tsx', join(ROOT, 'services/cli/src/main.ts'), 'start', '--services', 'aggregator'],
        {
          cwd: ROOT,
          env: e,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      child.stdout?.on('data', (d) => (output += d));
      child.stderr?.on('data', (d) => (output += d));
      return {
        child,
        exited: new Promise((r) => child.on('exit', (code) => r(code))),
        output: () => output,
        port: e.FLOWWATCH__HTTP__PORT,
      };
    };

    const group = `${flows}-aggregators`;
    // Committed messages of the group; retried while the broker is still electing the group's
    // coordinator (a fresh broker answers NOT_COORDINATOR for a moment).
    const committed = async (): Promise<number> => {
      for (let attempt = 0; ; attempt++) {
        const admin = kafka.admin();
        try {
          await admin.connect();
          const offsets = await admin.fetchOffsets({ groupId: group, topics: [flows] });
          return (offsets[0]?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
        } catch (err) {
          if (attempt >= 50) throw err;
          await new Promise((r) => setTimeout(r, 200));
        } finally {
          await admin.disconnect();
        }
      }
    };
    // Kill it three times while it consumes: once this run has committed something, after a
    // random further 0-400 ms, so kills land before, inside and after inserts.
    const kills: { afterMs: number; committedBefore: number }[] = [];
    const outputs: (() => string)[] = [];
    for (let k = 0; k < 3; k++) {
      const before = await committed();
      // Everything committed already (2 s batches can finish the topic between kills): a restart
      // would have nothing to commit, so the kills end here.
      if (before >= MESSAGES) break;
      const p = await run();
      outputs.push(p.output);
      const t0 = Date.now();
      while ((await committed()) === before && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 400)));
      p.child.kill('SIGKILL');
      await p.exited;
      kills.push({ afterMs: Date.now() - t0, committedBefore: before });
    }
    if (!kills.every((k) => k.afterMs < 60_000))
      console.info(`restarts: ${JSON.stringify(kills)}\n${outputs.map((o, i) => `--- run ${i}\n${o().slice(-4000)}`).join('\n')}`);
    expect(kills.every((k) => k.afterMs < 60_000)).toBe(true);
    // The last run consumes to the end and stops gracefully.
    const last = await run();
    outputs.push(last.output);
    const ch0 = Date.now();
    // Let the last run join its group and start consuming before judging whether it caught up.
    for (let ready = false; !ready && Date.now() - ch0 < 60_000; ) {
      await new Promise((r) => setTimeout(r, 250));
      ready = await fetch(`http://127.0.0.1:${last.port}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
    }
    let lagZero = false;
    let lagReport = '';
    while (Date.now() - ch0 < 150_000 && !lagZero) {
      await new Promise((r) => setTimeout(r, 1000));
      const admin = kafka.admin();
      const answer = await admin
        .connect()
        .then(() => Promise.all([admin.fetchOffsets({ groupId: group, topics: [flows] }), admin.fetchTopicOffsets(flows)]))
        .catch((err: Error) => err)
        .finally(() => admin.disconnect());
      if (answer instanceof Error) {
        lagReport = answer.message;
        continue;
      }
      const [offsets, ends] = answer;
      const committed = new Map(offsets[0]?.partitions.map((p) => [p.partition, p.offset]) ?? []);
      lagZero = ends.every((e) => e.offset === '0' || committed.get(e.partition) === e.offset); // an empty partition has nothing to commit
      lagReport = JSON.stringify({ committed: [...committed], ends: ends.map((e) => [e.partition, e.offset]) });
    }
    last.child.kill('SIGTERM');
    const code = await Promise.race([last.exited, new Promise((r) => setTimeout(() => r('timeout'), 20_000))]);
    if (code === 'timeout') last.child.kill('SIGKILL');
    expect(code).toBe(0);
    if (!lagZero) throw new Error(`the last run did not catch up in 150 s (${lagReport}); its output:\n${last.output().slice(-3000)}`);
    const ch = await openClickHouse({
      path: join(dir, 'clickhouse'),
      database: 'flowwatch',
      username: 'default',
      password: '',
      requestTimeoutMs: 60_000,
    });
    const one = async (query: string) =>
      Number(((await (await ch.client.query({ query, format: 'JSONEachRow' })).json<{ n: string }>())[0] as { n: string }).n);
    const total = MESSAGES * PER_MESSAGE;
    expect({ kills, rows: await one('SELECT count() AS n FROM flows_raw') }).toEqual({ kills, rows: total });
    expect(await one('SELECT uniqExact(kafka_partition, kafka_offset, src_addr, src_port) AS n FROM flows_raw')).toBe(total);
    expect(await one('SELECT sum(bytes) AS n FROM flows_raw')).toBe(bytes);
    expect(await one('SELECT sum(flows) AS n FROM flows_1m')).toBe(total);
    expect(await one('SELECT sum(bytes) AS n FROM flows_1m')).toBe(bytes);
    expect(await one('SELECT sum(bytes) AS n FROM flows_1h')).toBe(bytes);
    await ch.client.close();
    // What the kills hit, for whoever reads the log of a run: replays that skipped stored
    // messages, and batches re-sent to complete their rollups.
    const all = outputs.map((o) => o()).join('');
    console.info(
      `SIGKILL ${JSON.stringify(kills)} of ${MESSAGES} messages: ${all.split('skipped messages already stored').length - 1} replays, ${all.split('re-sent the last stored batch').length - 1} batches re-sent`,
    );
  }, 300_000);
});
