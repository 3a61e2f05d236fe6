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
