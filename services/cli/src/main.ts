#!/usr/bin/env node
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { type Config, configSchema, loadConfig } from '@flowwatch/config';
import { createRunner, errorSummary, stopOnSignals } from '@flowwatch/lifecycle';
import { z } from 'zod';
import { isQueryCommand, QUERY_OPTIONS } from './query-options.js';

// Commands import what they need when they run: `decode` should not pay for loading Kafka,
// fastify and ClickHouse clients, nor `config check` for the decoders.

const USAGE = `flowwatch: traffic anomaly monitor for a network of networks

Usage: flowwatch <command> [options]

Commands:
  start [--services a,b] [--demo]
                             run services in this process (all but the simulator by default),
                             with local Kafka when no brokers are configured and embedded
                             ClickHouse by default; --demo adds the simulator with its registry
                             merged in and a demo scenario 90 s after start (simulate flags apply)
  simulate [--seed N] [--rate R] [--speed X] [--start ISO] [--duration D]
           [--scenario NAME[:key=value,...] --at +2m|ISO]... [--random-scenarios N]
           [--labels FILE] [--registry-out FILE] [--scenarios-only] [--max-rate R]
                             send simulated traffic of a generated network of networks to the
                             configured collector (NetFlow v5/v9, IPFIX, sFlow from 127.x
                             exporters, JSON pushes); scenario ground truth to --labels (JSONL)
  simulate registry [--format yaml|json]
                             print the simulated network's registry (a config fragment)
  simulate scenarios         list the scenarios with their default durations
  config check               validate the configuration and exit (0 ok, 2 invalid)
  config dump                print the effective configuration as JSON (secrets redacted)
  config schema              print the configuration's JSON Schema
  decode FILE [--summary] [--sampling-rate N]
                             decode NetFlow v5/v9, IPFIX and sFlow v5 in a pcap/pcapng file
                             (any UDP port) to NDJSON flow records on stdout; --summary prints
                             one JSON line of totals and throughput instead
  push-token --supplier ID   make a bearer token for a supplier's HTTPS pushes; prints the token
                             (give it to the supplier) and its sha256 (put it in the registry)
  token create --role ROLE --name NAME [--supplier ID] [--expires T]
                             make an API and dashboard token (ROLE: viewer, analyst, admin,
                             supplier with --supplier); prints it once, stores its hash in
                             ClickHouse (not while flowwatch start holds embedded ClickHouse:
                             then POST /api/v1/tokens as an admin)
  token list                 the tokens (never their text), one JSON line each
  token revoke ID            revoke a token (its dashboard sessions end too)
  traffic --from T --to T [--interval 5m] [--by DIM] [--top K] [--rank METRIC]
          [--rest other|drop] [--where FIELD=VALUE ...]
                             traffic per time bucket (sums, estimates, flows, distinct
                             addresses): the total, or the top K (10) keys of DIM by METRIC
                             (bytes) with the rest as "other" or dropped; one JSON document
  top --from T --to T --of DIM [--metric METRIC] [--limit N] [--where FIELD=VALUE ...]
                             the top N (10) keys of DIM by METRIC (bytes); one JSON document
  matrix --from T --to T [--level org|supplier] [--metric METRIC] [--limit N] [--where ...]
                             organisation x organisation (or supplier x supplier) sums, the
                             largest N (1000) cells; one JSON document
  flows --from T --to T [--where FIELD=VALUE ...] [--limit N]
                             enriched flows, newest first, N (100) at most: NDJSON, one flow a
                             line; a summary line on stderr
  migrate [--aggregators-stopped]
                             create or update the ClickHouse schema (ON CLUSTER with
                             clickhouse.cluster) and apply retention, then exit; for a
                             deployment's migration job (start does it too). A rebuild of
                             flows_raw needs the aggregators stopped: checked in their Kafka
                             consumer group, or asserted with --aggregators-stopped
  kafka fetch                download the pinned Kafka broker's jars into the cache
  kafka run                  run only the local Kafka broker in the foreground (Ctrl-C stops it)
  help                       this text

Options:
  --config FILE              YAML or JSON configuration (or FLOWWATCH_CONFIG); env overrides:
                             KAFKA_BROKERS, CLICKHOUSE_URL, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD,
                             FLOWWATCH__SECTION__FIELD=value

Queries (traffic, top, matrix, flows):
  T                          ISO-8601 time (2026-11-21T10:00:00Z) or date; the range is [from, to)
  --interval                 Nm (N divides 60), Nh (N divides 24) or 1d; default: the finest of
                             1m, 5m, 15m, 1h, 6h, 1d giving at most 500 buckets
  DIM                        supplier, src_org, dst_org, src_org_supplier, dst_org_supplier,
                             service, direction, proto, dst_port, src_addr, dst_addr, src_port,
                             exporter_id; for top also org_pair, supplier_pair, host_pair,
                             service_port
  METRIC                     bytes, packets, bytes_est, packets_est, flows, src_addrs, dst_addrs
  --where FIELD=VALUE        any flows_raw field (supplier_id, src_org, org = either end,
                             service, direction, dst_port, proto=tcp, exporter_id, ...);
                             src_addr, dst_addr, addr (either end) take an address or a prefix
                             (10.1.0.0/16); a repeated field matches any of its values
  --metrics M,M,...          compute only these metrics (traffic, top, matrix; default all); the
                             distinct-address counts (src_addrs, dst_addrs) cost the most
  --table TABLE              answer from flows_raw, flows_1m or flows_1h; default: the coarsest
                             that can (the answer names it)
  Embedded ClickHouse opens a data directory in one process at a time: while flowwatch start
  runs on it, query through a ClickHouse server (CLICKHOUSE_URL).
`;

/** Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error. */
async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    process.stderr.write(`flowwatch: ${errorSummary(err)}\n\n${USAGE}`);
    return 2;
  }
  const { positionals, values } = parsed;
  const [command, sub] = positionals;
  if (!command || command === 'help' || values.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  if (command === 'decode') {
    if (!sub || positionals.length > 2) {
      process.stderr.write('flowwatch decode: give one pcap file\n');
      return 2;
    }
    const samplingRate = Number(values['sampling-rate'] ?? 0);
    if (!Number.isInteger(samplingRate) || samplingRate < 0) {
      process.stderr.write('flowwatch decode: --sampling-rate must be a whole number >= 0\n');
      return 2;
    }
    const { runDecode } = await import('./decode-command.js');
    return runDecode({ file: sub, summary: values.summary === true, samplingRate });
  }

  if (command === 'push-token') {
    if (!values.supplier) {
      process.stderr.write('flowwatch push-token: --supplier ID is required\n');
      return 2;
    }
    const { hashToken } = await import('@flowwatch/collector');
    const token = `fwp_${randomBytes(32).toString('base64url')}`;
    process.stdout.write(`${JSON.stringify({ supplier: values.supplier, token, registry_entry: hashToken(token) })}\n`);
    return 0;
  }

  if (command === 'config' && sub === 'schema') {
    process.stdout.write(`${JSON.stringify(z.toJSONSchema(configSchema, { io: 'input' }), null, 2)}\n`);
    return 0;
  }

  const loaded = loadConfig({ file: values.config });
  if (!loaded.ok) {
    process.stderr.write(`flowwatch: ${loaded.error}\n`);
    return 2;
  }
  const config = loaded.config;
  if (values.services !== undefined) {
    const names = values.services
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const r = configSchema.shape.services.safeParse(names);
    if (!r.success) {
      process.stderr.write(`flowwatch: --services: ${r.error.issues.map((i) => `${names[Number(i.path[0])]}: ${i.message}`).join('; ')}\n`);
      return 2;
    }
    config.services = r.data;
  }

  if (command === 'token') {
    const { runTokenCommand } = await import('./token-command.js');
    return runTokenCommand(
      sub,
      positionals.slice(2),
      { role: values.role, name: values.name, supplier: values.supplier, expires: values.expires },
      config,
    );
  }

  if (isQueryCommand(command) && !sub) {
    const { runQueryCommand } = await import('./query-command.js');
    return runQueryCommand(command, values, config);
  }
  if (command === 'simulate') {
    const { runSimulate } = await import('./simulate-command.js');
    return runSimulate(config, sub, values, say);
  }

  switch (`${command}${sub ? ` ${sub}` : ''}`) {
    case 'config check':
      process.stdout.write('configuration ok\n');
      return 0;
    case 'config dump':
      process.stdout.write(`${JSON.stringify(redact(config), null, 2)}\n`);
      return 0;
    case 'start': {
      if (!values.demo) return start(config, values.config);
      // --demo: the simulator joins in, with its registry merged into the configuration (again at each SIGHUP reload).
      const { applyDemo, applySimulatorFlags } = await import('./simulate-command.js');
      const demo = (c: Config) => {
        const flagged = applySimulatorFlags(c, values);
        return flagged.ok ? applyDemo(flagged.value) : flagged;
      };
      const applied = demo(config);
      if (!applied.ok) {
        process.stderr.write(`flowwatch start --demo: ${applied.error}\n`);
        return 2;
      }
      return start(applied.value, values.config, (c) => {
        const r = demo(c);
        return r.ok ? r.value : c;
      });
    }
    case 'migrate': {
      const { runMigrate } = await import('./migrate-command.js');
      return runMigrate(config, say, { aggregatorsStopped: values['aggregators-stopped'] === true });
    }
    case 'kafka fetch': {
      const { LocalKafka } = await import('@flowwatch/local-kafka');
      const local = new LocalKafka({ ...config.kafka.local, progress: say });
      await local.fetchJars();
      return 0;
    }
    case 'kafka run':
      return runKafka(config);
    default:
      process.stderr.write(`flowwatch: unknown command '${positionals.join(' ')}'\n\n${USAGE}`);
      return 2;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      services: { type: 'string' },
      summary: { type: 'boolean' },
      'sampling-rate': { type: 'string' },
      supplier: { type: 'string' },
      role: { type: 'string' },
      name: { type: 'string' },
      expires: { type: 'string' },
      ...QUERY_OPTIONS,
      help: { type: 'boolean', short: 'h' },
      demo: { type: 'boolean' },
      seed: { type: 'string' },
      rate: { type: 'string' },
      'max-rate': { type: 'string' },
      speed: { type: 'string' },
      start: { type: 'string' },
      duration: { type: 'string' },
      scenario: { type: 'string', multiple: true },
      at: { type: 'string', multiple: true },
      labels: { type: 'string' },
      'registry-out': { type: 'string' },
      'random-scenarios': { type: 'string' },
      'scenarios-only': { type: 'boolean' },
      format: { type: 'string' },
      'aggregators-stopped': { type: 'boolean' },
    },
  });
}

/** Progress for a person at a terminal, on stderr so stdout stays machine-readable. */
function say(line: string): void {
  process.stderr.write(`flowwatch: ${line}\n`);
}

async function start(config: Config, configFile: string | undefined, onReload: (c: Config) => Config = (c) => c): Promise<number> {
  const { createPlatform } = await import('./platform.js');
  const { SERVICE_FACTORIES } = await import('./services.js');
  const { createLogger } = await import('@flowwatch/observability');
  const logger = createLogger(config.log, { service: 'flowwatch' });
  const platform = createPlatform(config, logger, say);
  const services = config.services.map((name) => {
    const factory = SERVICE_FACTORIES[name];
    if (!factory) throw new Error(`service ${name} has no factory`);
    return factory(platform);
  });
  const runner = createRunner([...platform.components, ...services, platform.readyMarker], logger);
  const removeSignals = stopOnSignals(runner, { logger, timeoutMs: config.shutdownTimeoutMs });
  // SIGHUP re-reads the configuration (same file and environment) and hands the services the new
  // registry without dropping traffic; a bad file is reported and the running configuration kept.
  const onHup = () => {
    const reloaded = loadConfig({ file: configFile });
    if (!reloaded.ok) {
      logger.error({ error: reloaded.error }, 'configuration not reloaded');
      return;
    }
    const next = onReload(reloaded.config);
    for (const service of services) service.reload(next);
    logger.info({ suppliers: reloaded.config.registry.suppliers.length }, 'configuration reloaded');
  };
  process.on('SIGHUP', onHup);
  const removeHandlers = () => {
    removeSignals();
    process.off('SIGHUP', onHup);
  };
  try {
    await runner.start();
  } catch (err) {
    const reason = await runner.stopped;
    removeHandlers();
    logger.flush();
    if (reason === 'SIGTERM' || reason === 'SIGINT') {
      // Asked to stop while starting: everything started so far has been stopped.
      say(`stopped (${reason}) while starting`);
      return 0;
    }
    say(`start failed: ${errorSummary(err)}`);
    return 1;
  }
  say(`running ${config.services.length ? config.services.join(', ') : 'the platform (no pipeline services yet)'}; Ctrl-C stops`);
  const reason = await runner.stopped;
  removeHandlers();
  say(`stopped (${reason})`);
  logger.flush();
  return reason.endsWith('failed') ? 1 : 0;
}

async function runKafka(config: Config): Promise<number> {
  if (config.kafka.brokers.length > 0) {
    say(`kafka.brokers is set (${config.kafka.brokers.join(',')}); nothing to run`);
    return 2;
  }
  const { LocalKafka } = await import('@flowwatch/local-kafka');
  const local = new LocalKafka({ ...config.kafka.local, progress: say });
  const { createLogger } = await import('@flowwatch/observability');
  const logger = createLogger(config.log, { service: 'flowwatch' });
  const runner = createRunner([{ name: 'kafka', start: () => local.start(), stop: () => local.stop() }], logger);
  const removeHandlers = stopOnSignals(runner, { logger, timeoutMs: 15_000 });
  try {
    await runner.start();
  } catch (err) {
    say(errorSummary(err));
    return 1;
  }
  await runner.stopped;
  removeHandlers();
  return 0;
}

function redact(config: Config): unknown {
  return JSON.parse(JSON.stringify(config, (key, value) => (key === 'password' && value ? '[redacted]' : value)));
}

const LONG_RUNNING = new Set(['start', 'kafka', 'simulate']);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // A long-running command has stopped everything it started; exit now rather than wait on a
    // library's stray timer or socket (the orderly stop already drained and closed what matters).
    if (LONG_RUNNING.has(process.argv[2] ?? '')) setTimeout(() => process.exit(code), 200).unref();
  },
  (err) => {
    // Only bugs reach here; expected failures were reported above as one line.
    process.stderr.write(`flowwatch: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
