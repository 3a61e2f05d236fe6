/**
 * `pnpm bench`: prints the figures docs/benchmarks.md records. Sections can be chosen:
 * `pnpm bench decode nfacctd enrichment collector aggregator detector repartition api` (all by default;
 * `soak`, the whole pipeline for minutes, runs only when named).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DecodeContext, FlowDecoder } from '@flowwatch/decoders';
import type { FlowsEncoding } from '@flowwatch/flow-schema';
import { udpDatagramFrame, writePcap } from '../support/pcap-writer.js';
import { ipfixDatagrams, netflowV5Datagrams, netflowV9Datagrams, sflowDatagrams } from './datagrams.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// nfacctd, from Debian's pmacct, is the reference: same capture, its own pcap_savefile reader,
// aggregating into its print plugin; CPU of the whole process tree, start-up included for both.
const sections = process.argv.slice(2);
const want = (s: string) => (sections.length === 0 && s !== 'soak') || sections.includes(s);
const print = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

function decodeThroughput(name: string, datagrams: Uint8Array[], seconds = 2): void {
  const ctx: DecodeContext = {
    exporter: '192.0.2.1',
    receivedNs: Date.now() * 1e6,
    supplierId: 's',
    exporterId: 'e',
    defaultSamplingRate: 0,
  };
  const decoder = new FlowDecoder();
  let flows = 0;
  let errors = 0;
  // Warm-up (JIT), then timed passes over the same datagrams (templates stay cached).
  for (const d of datagrams) decoder.decode(d, ctx);
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let elapsed = 0;
  let passes = 0;
  while (elapsed < seconds) {
    for (let i = 1; i < datagrams.length; i++) {
      const out = decoder.decode(datagrams[i] as Uint8Array, ctx);
      flows += out.flows.length;
      errors += out.errors.length;
    }
    passes++;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  print({
    bench: 'decode',
    protocol: name,
    flows,
    errors,
    passes,
    seconds: +elapsed.toFixed(3),
    flows_per_second: Math.round(flows / elapsed),
    flows_per_cpu_second: Math.round(flows / cpuSeconds),
  });
}

/** CPU seconds of a child process (user + system), measured by getrusage(RUSAGE_CHILDREN). */
function cpuSecondsOf(cmd: string[], cwd = ROOT): { cpu: number; stdout: string } {
  const py =
    'import resource,subprocess,sys\nr=subprocess.run(sys.argv[1:],capture_output=True,text=True)\nu=resource.getrusage(resource.RUSAGE_CHILDREN)\nprint(u.ru_utime+u.ru_stime)\nprint(r.stdout[-2000:])';
  const out = execFileSync('python3', ['-c', py, ...cmd], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  const [first, ...rest] = out.split('\n');
  return { cpu: Number(first), stdout: rest.join('\n') };
}

function versusNfacctd(): void {
  const dir = mkdtempSync(join(tmpdir(), 'fw-bench-'));
  for (const [name, datagrams] of [
    ['IPFIX', ipfixDatagrams(60_000)],
    ['NETFLOW_V9', netflowV9Datagrams(60_000)],
  ] as const) {
    const pcap = join(dir, `${name}.pcap`);
    const t0 = Date.UTC(2026, 10, 21, 10);
    writeFileSync(
      pcap,
      writePcap(datagrams.map((d, i) => ({ timeMs: t0 + i, frame: udpDatagramFrame('192.0.2.1', 50000, '192.0.2.2', 2055, d, i) }))),
    );
    // The compiled CLI (pnpm bench builds first), as it runs in production.
    const ours = cpuSecondsOf([process.execPath, 'services/cli/dist/main.js', 'decode', pcap, '--summary']);
    const summary = JSON.parse(ours.stdout.trim().split('\n').pop() ?? '{}');
    const conf = join(dir, `nfacctd-${name}.conf`);
    writeFileSync(
      conf,
      [
        'daemonize: false',
        `pcap_savefile: ${pcap}`,
        'pcap_savefile_wait: false',
        'plugins: print',
        'print_output: csv',
        `print_output_file: ${join(dir, 'nfacctd-out.csv')}`,
        'print_refresh_time: 60',
        'aggregate: src_host, dst_host, src_port, dst_port, proto',
        '',
      ].join('\n'),
    );
    const has = spawnSync('sh', ['-c', 'command -v nfacctd || test -x /usr/sbin/nfacctd']).status === 0;
    const theirs = has ? cpuSecondsOf(['nfacctd', '-f', conf]) : undefined;
    print({
      bench: 'decode-file',
      protocol: name,
      flows: summary.flows,
      flowwatch_cpu_seconds: +ours.cpu.toFixed(3),
      flowwatch_flows_per_cpu_second: Math.round(summary.flows / ours.cpu),
      flowwatch_decode_only_flows_per_second: summary.flows_per_second,
      nfacctd_cpu_seconds: theirs ? +theirs.cpu.toFixed(3) : null,
      nfacctd_flows_per_cpu_second: theirs ? Math.round(summary.flows / theirs.cpu) : null,
      ratio: theirs ? +(theirs.cpu / ours.cpu).toFixed(2) : null,
    });
  }
}

if (want('decode')) {
  decodeThroughput('NETFLOW_V5', netflowV5Datagrams(2000));
  decodeThroughput('NETFLOW_V9', netflowV9Datagrams(2000));
  decodeThroughput('IPFIX', ipfixDatagrams(2000));
  decodeThroughput('SFLOW_5', sflowDatagrams(2000));
}
if (want('nfacctd')) versusNfacctd();
if (want('enrichment')) {
  process.stdout.write(
    execFileSync(process.execPath, ['--conditions=flowwatch-src', '--import', 'tsx', 'packages/enrichment/src/bench.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
    }),
  );
}
if (want('collector')) {
  const { collectorBench } = await import('./collector-bench.js');
  await collectorBench(print);
}
if (want('aggregator')) {
  const { aggregatorBench } = await import('./aggregator-bench.js');
  for (const encoding of (process.env.FLOWWATCH_BENCH_AGGREGATOR_ENCODINGS ?? 'ndjson,binary').split(','))
    await aggregatorBench(
      print,
      Number(process.env.FLOWWATCH_BENCH_AGGREGATOR_FLOWS ?? 1_000_000),
      encoding as FlowsEncoding,
      Number(process.env.FLOWWATCH_BENCH_AGGREGATOR_PARTITIONS_CONCURRENTLY ?? 2),
      Number(process.env.FLOWWATCH_BENCH_AGGREGATOR_INSERTS_IN_FLIGHT ?? 2),
      {
        rawOrderBy: process.env.FLOWWATCH_BENCH_AGGREGATOR_RAW_ORDER_BY || undefined,
        drillDown: process.env.FLOWWATCH_BENCH_AGGREGATOR_DRILL_DOWN === '1',
      },
    );
}
if (want('detector')) {
  // With the detector's deployed young generation (its NODE_OPTIONS in deploy/k8s/flowwatch/detector.yaml):
  // in a child process when this one runs without it.
  const manifest = readFileSync(join(ROOT, 'deploy/k8s/flowwatch/detector.yaml'), 'utf8');
  const semiSpace = /--max-semi-space-size=\d+/.exec(manifest)?.[0];
  if (semiSpace === undefined || process.execArgv.includes(semiSpace)) {
    const { detectorBench } = await import('./detector-bench.js');
    await detectorBench(print, Number(process.env.FLOWWATCH_BENCH_DETECTOR_FLOWS ?? 1_000_000));
  } else {
    const child = spawnSync(process.execPath, [...process.execArgv, semiSpace, fileURLToPath(import.meta.url), 'detector'], {
      stdio: 'inherit',
    });
    if (child.status !== 0) throw new Error(`detector bench failed (${child.status ?? child.signal})`);
  }
}
if (want('repartition')) {
  const { repartitionBench } = await import('./repartition-bench.js');
  await repartitionBench(print, Number(process.env.FLOWWATCH_BENCH_REPARTITION_FLOWS ?? 400_000));
}
if (want('api')) {
  const { apiBench } = await import('./api-bench.js');
  await apiBench(
    print,
    Number(process.env.FLOWWATCH_BENCH_API_FLOWS ?? 5_000_000),
    Number(process.env.FLOWWATCH_BENCH_API_ALERTS ?? 10_000),
  );
}
if (want('soak')) {
  const { soakBench } = await import('./soak-bench.js');
  await soakBench(print);
}
