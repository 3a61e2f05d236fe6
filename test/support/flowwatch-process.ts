import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Kafka } from 'kafkajs';
import { freePort } from './ports.js';
import { parsePrometheusText, sumOf } from './prometheus-text.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface FlowwatchProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** Its stdout and stderr so far (the last 200 kB). */
  output(): string;
  port: number;
  /** GET /readyz: the status and the checks that are not ready. */
  readiness(): Promise<{ status: number; notReady: string[] }>;
  /** One metric from /metrics, summed over the series whose labels include `labels`; undefined if unreachable. */
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  /** SIGTERM, then SIGKILL after `timeoutMs`; the exit code, or 'killed'. */
  stop(timeoutMs?: number): Promise<number | null | 'killed'>;
}

/**
 * `flowwatch start --services <services>` as a process of its own (so that SIGKILL is real and
 * memory is its own), configured by environment variables on top of PATH and HOME only.
 */
export async function startFlowwatch(services: string, env: Record<string, string>): Promise<FlowwatchProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--conditions=flowwatch-src', '--import', 'tsx', 'services/cli/src/main.ts', 'start', '--services', services],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, FLOWWATCH__HTTP__PORT: String(port), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + String(d)).slice(-200_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  return {
    child,
    exited,
    output: () => output,
    port,
    async readiness() {
      try {
        const res = await get('/readyz');
        const body = (await res.json()) as { checks?: { name: string; ready: boolean }[] };
        return { status: res.status, notReady: (body.checks ?? []).filter((c) => !c.ready).map((c) => c.name) };
      } catch {
        return { status: 0, notReady: [] };
      }
    },
    async metric(name, labels = {}) {
      try {
        return sumOf(parsePrometheusText(await (await get('/metrics')).text()), name, labels);
      } catch {
        return undefined;
      }
    },
    async stop(timeoutMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs))]);
      if (code !== 'timeout') return code;
      child.kill('SIGKILL');
      await exited;
      return 'killed';
    },
  };
}

/** Messages of `topic` not yet committed by `groupId`, summed over partitions; retried while the coordinator moves. */
export async function consumerLag(kafka: Kafka, groupId: string, topic: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      const [offsets, ends] = await Promise.all([admin.fetchOffsets({ groupId, topics: [topic] }), admin.fetchTopicOffsets(topic)]);
      const committed = new Map((offsets[0]?.partitions ?? []).map((p) => [p.partition, Math.max(0, Number(p.offset))]));
      return ends.reduce((n, e) => n + Number(e.offset) - (committed.get(e.partition) ?? 0), 0);
    } catch (err) {
      if (attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await admin.disconnect();
    }
  }
}
