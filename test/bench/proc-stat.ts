import { readdirSync, readFileSync } from 'node:fs';

/** What the benchmarks read of a /proc stat file: the name (digits at the end stripped) and CPU seconds. */
export function procStat(path: string): { comm: string; cpuSeconds: number } | undefined {
  try {
    const stat = readFileSync(path, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/[\d\s]+$/, ''),
      // utime, stime in clock ticks (USER_HZ 100)
      cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100,
    };
  } catch {
    return undefined;
  }
}

/** The broker's JVM: the process whose command line names its data directory. */
export function brokerPid(dataDir: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.startsWith('java') || cmd.includes('/java\0')) {
        if (cmd.includes(`-Dkafka.logs.dir=${dataDir}`)) return Number(entry);
      }
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  return procStat(`/proc/${pid}/stat`)?.cpuSeconds ?? Number.NaN;
}

/**
 * CPU seconds of a process's threads by name (/proc/<pid>/task; the process's own thread is
 * `main`) since this was made, sampled as often as `sample` is called: a thread that ends keeps
 * what it had at its last sample (chDB's query threads come and go).
 */
export class ThreadCpu {
  readonly #base = new Map<string, number>();
  readonly #last = new Map<string, { name: string; cpuSeconds: number }>();

  constructor(private readonly pid: number) {
    this.sample();
    for (const [tid, t] of this.#last) this.#base.set(tid, t.cpuSeconds);
  }

  sample(): void {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${this.pid}/task`);
    } catch {
      return;
    }
    for (const tid of tids) {
      const stat = procStat(`/proc/${this.pid}/task/${tid}/stat`);
      if (stat !== undefined) this.#last.set(tid, { name: Number(tid) === this.pid ? 'main' : stat.comm, cpuSeconds: stat.cpuSeconds });
    }
  }

  /** Seconds per thread name since construction, largest first, those of at least `min` only. */
  byName(min = 0.05): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [tid, t] of this.#last) out[t.name] = (out[t.name] ?? 0) + t.cpuSeconds - (this.#base.get(tid) ?? 0);
    return Object.fromEntries(
      Object.entries(out)
        .filter(([, v]) => v >= min)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, +v.toFixed(2)]),
    );
  }
}
