import { writeFileSync } from 'node:fs';
import { type Config, configSchema, type ScenarioScheduleConfig } from '@flowwatch/config';
import { createRunner, errorSummary, type Service, stopOnSignals } from '@flowwatch/lifecycle';
import { buildOpsServer, createLogger, createRegistry } from '@flowwatch/observability';
import {
  formatDuration,
  generateNetwork,
  mergeRegistry,
  PACS_POLICY,
  planSimulation,
  SCENARIOS,
  type SimulatedNetwork,
} from '@flowwatch/simulator';
import { collectorTarget, createSimulator } from '@flowwatch/simulator-service';
import { stringify } from 'yaml';

/** The command-line flags `simulate` and `start --demo` understand (parsed by main). */
export interface SimulateFlags {
  seed?: string;
  rate?: string;
  'max-rate'?: string;
  speed?: string;
  start?: string;
  duration?: string;
  scenario?: string[];
  at?: string[];
  labels?: string;
  'registry-out'?: string;
  'random-scenarios'?: string;
  'scenarios-only'?: boolean;
  format?: string;
}

type Result<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * The `simulator` section with the flags applied, validated by the config schema (so an error
 * names the flag's field). `--scenario NAME[:key=value,...]` pairs with the `--at` of the same
 * position (default +1m); the key `duration` sets the scenario's duration.
 */
export function applySimulatorFlags(config: Config, flags: SimulateFlags): Result<Config> {
  const sim: Record<string, unknown> = { ...config.simulator };
  const num = (v: string | undefined, key: string) => {
    if (v !== undefined) sim[key] = Number(v);
  };
  num(flags.seed, 'seed');
  num(flags.rate, 'rate');
  num(flags['max-rate'], 'maxRate');
  num(flags.speed, 'speed');
  num(flags['random-scenarios'], 'randomScenarios');
  if (flags.start !== undefined) sim.start = flags.start;
  if (flags.duration !== undefined) sim.duration = flags.duration;
  if (flags.labels !== undefined) sim.labelsFile = flags.labels;
  if (flags['scenarios-only']) sim.background = false;
  const names = flags.scenario ?? [];
  const ats = flags.at ?? [];
  if (ats.length > names.length) return { ok: false, error: '--at without a --scenario before it' };
  if (names.length > 0) {
    const scenarios: ScenarioScheduleConfig[] = [];
    for (const [i, spec] of names.entries()) {
      const [name = '', paramText] = spec.split(':', 2);
      const params: Record<string, string | number> = {};
      let duration: string | undefined;
      for (const kv of paramText ? paramText.split(',') : []) {
        const [k, v] = kv.split('=', 2);
        if (!k || v === undefined) return { ok: false, error: `--scenario ${spec}: parameters are key=value,key=value` };
        if (k === 'duration') duration = v;
        else params[k] = Number.isFinite(Number(v)) && v.trim() !== '' ? Number(v) : v;
      }
      scenarios.push({ name, at: ats[i] ?? '+1m', params, ...(duration ? { duration } : {}) });
    }
    sim.scenarios = [...config.simulator.scenarios, ...scenarios];
  }
  const parsed = configSchema.shape.simulator.safeParse(sim);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, error: `simulator.${issue?.path.join('.')}: ${issue?.message}` };
  }
  return { ok: true, value: { ...config, simulator: parsed.data } };
}

/**
 * `start --demo`: the simulator joins the services, its network's registry is merged into the
 * configured one, the demo scenarios are scheduled when none are configured, and a compressed
 * simulation switches the collector to export times and alerts' detected_at to event time.
 */
export function applyDemo(config: Config): Result<Config> {
  try {
    planSimulation(config.simulator, Date.now());
  } catch (err) {
    return { ok: false, error: errorSummary(err) };
  }
  const network = networkOf(config);
  const merged = mergeRegistry(config.registry, network.registry);
  if (!merged.ok) return { ok: false, error: merged.error };
  const simulator = {
    ...config.simulator,
    scenarios: config.simulator.scenarios.length > 0 ? config.simulator.scenarios : config.simulator.demoScenarios,
  };
  return {
    ok: true,
    value: {
      ...config,
      services: config.services.includes('simulator') ? config.services : [...config.services, 'simulator'],
      registry: merged.registry,
      simulator,
      collector: config.simulator.speed > 1 ? { ...config.collector, timeReceivedFrom: 'export' } : config.collector,
      api: { ...config.api, demoLogin: true },
      detector: config.simulator.speed > 1 ? { ...config.detector, detectedAt: 'event' as const } : config.detector,
    },
  };
}

function networkOf(config: Config): SimulatedNetwork {
  return generateNetwork({ seed: config.simulator.seed, ...config.simulator.network });
}

/** `flowwatch simulate [registry|scenarios]`. */
export async function runSimulate(
  config: Config,
  sub: string | undefined,
  flags: SimulateFlags,
  say: (line: string) => void,
): Promise<number> {
  const applied = applySimulatorFlags(config, flags);
  if (!applied.ok) {
    process.stderr.write(`flowwatch simulate: ${applied.error}\n`);
    return 2;
  }
  const cfg = applied.value;
  if (sub === 'registry') return printRegistry(cfg, flags.format ?? 'yaml');
  if (sub === 'scenarios') {
    for (const [name, s] of Object.entries(SCENARIOS))
      process.stdout.write(`${name.padEnd(18)}${formatDuration(s.durationMs).padEnd(6)}${s.summary}\n`);
    return 0;
  }
  if (sub !== undefined) {
    process.stderr.write(`flowwatch simulate: unknown subcommand '${sub}' (registry, scenarios, or none)\n`);
    return 2;
  }

  let plan: ReturnType<typeof planSimulation>;
  try {
    plan = planSimulation(cfg.simulator, Date.now());
  } catch (err) {
    process.stderr.write(`flowwatch simulate: ${errorSummary(err)}\n`);
    return 2;
  }
  if (flags['registry-out']) {
    writeFileSync(flags['registry-out'], registryText(cfg, plan.network, 'yaml'));
    say(`registry written to ${flags['registry-out']}`);
  }
  if (cfg.simulator.speed > 1 && cfg.collector.timeReceivedFrom === 'clock') {
    say(`speed ${cfg.simulator.speed}: the collector should run with collector.timeReceivedFrom: export (docs/simulator.md)`);
  }

  const logger = createLogger(cfg.log, { service: 'flowwatch' });
  const target = collectorTarget(cfg.collector);
  const registry = createRegistry();
  const simulator = createSimulator({ logger, registry }, cfg.simulator, plan, target);
  const components: Service[] = [];
  if (cfg.simulator.metricsPort > 0) {
    const http = buildOpsServer({ registry, logger, readiness: () => [] });
    components.push({
      name: 'http',
      start: async () => {
        await http.listen({ host: cfg.http.host, port: cfg.simulator.metricsPort });
        say(`metrics on http://${cfg.http.host}:${cfg.simulator.metricsPort}/metrics`);
      },
      stop: () => http.close(),
    });
  }
  const runner = createRunner([...components, simulator], logger);
  const removeSignals = stopOnSignals(runner, { logger, timeoutMs: cfg.shutdownTimeoutMs });
  try {
    await runner.start();
  } catch (err) {
    removeSignals();
    say(`simulate failed: ${errorSummary(err)}`);
    return 1;
  }
  say(
    `simulating ${plan.network.suppliers.length} suppliers, ${plan.network.organisations.length} organisations from ${new Date(plan.options.startMs).toISOString()} at ${cfg.simulator.speed}x, ${cfg.simulator.rate} records/s at peak, to ${target.host} (${target.ports.netflow}/${target.ports.ipfix}/${target.ports.sflow}) and ${target.pushUrl}; Ctrl-C stops`,
  );
  const progress = setInterval(() => {
    const s = simulator.stats();
    const secs = (Date.now() - s.startedAt) / 1000;
    say(
      `event time ${new Date(s.eventMs).toISOString()}: ${s.records} records (${Math.round(s.records / secs)}/s), ${s.labels.length} labels`,
    );
  }, 10_000);
  progress.unref();
  const reason = await Promise.race([simulator.done.then(() => 'done'), runner.stopped]);
  await runner.stop(reason);
  clearInterval(progress);
  removeSignals();
  const s = simulator.stats();
  const seconds = (Date.now() - s.startedAt) / 1000;
  process.stdout.write(
    `${JSON.stringify({
      stopped: reason,
      event_start: new Date(plan.options.startMs).toISOString(),
      event_end: new Date(s.eventMs).toISOString(),
      records: s.records,
      datagrams: s.datagrams,
      pushes: s.pushes,
      labels: s.labels.length,
      labels_file: cfg.simulator.labelsFile || null,
      wall_seconds: Math.round(seconds * 10) / 10,
      records_per_second: Math.round(s.records / Math.max(seconds, 0.001)),
    })}\n`,
  );
  logger.flush();
  return reason.endsWith('failed') ? 1 : 0;
}

function printRegistry(config: Config, format: string): number {
  if (format !== 'yaml' && format !== 'json') {
    process.stderr.write(`flowwatch simulate registry: --format must be yaml or json\n`);
    return 2;
  }
  process.stdout.write(registryText(config, networkOf(config), format));
  return 0;
}

/**
 * The simulated network's registry as a configuration file fragment (`registry:`), usable with
 * `flowwatch start --config`; in YAML with the push suppliers' plain-text tokens as comments.
 */
function registryText(config: Config, network: SimulatedNetwork, format: 'yaml' | 'json'): string {
  if (format === 'json') return `${JSON.stringify({ registry: network.registry }, null, 2)}\n`;
  const tokens = network.suppliers
    .filter((s) => s.pushToken)
    .map((s) => `#   ${s.id}: ${s.pushToken}`)
    .join('\n');
  return [
    `# Registry of the simulated network (flowwatch simulate, seed ${config.simulator.seed}, ${network.suppliers.length} suppliers, ${network.organisations.length} organisations).`,
    "# Use it as (part of) the collector's configuration: flowwatch start --config FILE.",
    ...(tokens ? ['# Push tokens of the JSON suppliers (the registry holds their SHA-256):', tokens] : []),
    `# For the detector: blocklisted addresses ${network.blocklist.join(', ')}; policy: only groups ${PACS_POLICY.allowedGroups.join(', ')} may reach service ${PACS_POLICY.service}.`,
    stringify({ registry: network.registry }, { lineWidth: 0 }),
  ].join('\n');
}
