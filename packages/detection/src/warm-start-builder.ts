import type { RegistryConfig } from '@flowwatch/config';
import { type EnrichedFlow, Enricher } from '@flowwatch/enrichment';
import type { FlowRecord } from '@flowwatch/flow-schema';
import type { VolumeKind, VolumeRow } from './detectors/volume.js';
import type { WarmStart } from './engine.js';

const HOUR_MS = 3_600_000;

/**
 * Builds a warm start from flow records instead of ClickHouse: the same explosion of each flow
 * into its entities as the detector service's rollup query (services/detector/src/warm-start.ts,
 * ENTITY_VOLUMES): supplier, organisation out and in (between different organisations), the
 * organisation pair, the service, and bytes to the internet per organisation; per hour, with the
 * estimated (sampling-scaled) bytes and packets. For evaluations and tests that need a week of
 * history without a store: feed it the history's flows (or a sample of them with a weight), then
 * `build()` and hand the result to `DetectionEngine.warm`.
 */
export class WarmStartBuilder {
  readonly #enricher: Enricher;
  readonly #hourly = new Map<string, VolumeRow>();
  readonly #internet = new Map<string, { org: string; ts: number; bytes: number }>();
  readonly #pairs = new Map<string, { srcOrg: string; dstOrg: string; service: string; dstPort: number }>();
  #earliestMs = Number.POSITIVE_INFINITY;

  constructor(registry: RegistryConfig) {
    this.#enricher = new Enricher(registry);
  }

  /** Adds one flow record at its end time; `weight` scales it (a sampled history). */
  addFlow(flow: FlowRecord, weight = 1): void {
    const f = this.#enricher.enrich(flow);
    const endNs = f.time_flow_end_ns > 0 ? f.time_flow_end_ns : f.time_received_ns;
    const ts = Math.floor(Number(endNs / 1_000_000) / HOUR_MS) * HOUR_MS;
    if (ts < this.#earliestMs) this.#earliestMs = ts;
    this.#add('supplier', f.supplier_id, ts, f, weight);
    if (f.src_org !== f.dst_org) {
      if (f.src_org !== '') this.#add('organisation_out', f.src_org, ts, f, weight);
      if (f.dst_org !== '') this.#add('organisation_in', f.dst_org, ts, f, weight);
      if (f.src_org !== '' && f.dst_org !== '') this.#add('organisation_pair', `${f.src_org}>${f.dst_org}`, ts, f, weight);
    }
    if (f.service !== '') this.#add('service', f.service, ts, f, weight);
    if (f.direction === 'to_internet' && f.src_org !== '') {
      const key = `${f.src_org}|${ts}`;
      const r = this.#internet.get(key);
      if (r === undefined) this.#internet.set(key, { org: f.src_org, ts, bytes: f.bytes_est * weight });
      else r.bytes += f.bytes_est * weight;
    }
    const pairKey = `${f.src_org}|${f.dst_org}|${f.service}|${f.dst_port}`;
    if (!this.#pairs.has(pairKey))
      this.#pairs.set(pairKey, { srcOrg: f.src_org, dstOrg: f.dst_org, service: f.service, dstPort: f.dst_port });
  }

  #add(kind: VolumeKind, id: string, ts: number, f: EnrichedFlow, weight: number): void {
    const key = `${kind}|${id}|${ts}`;
    const r = this.#hourly.get(key);
    if (r === undefined)
      this.#hourly.set(key, { kind, id, ts, bytes: f.bytes_est * weight, packets: f.packets_est * weight, flows: weight });
    else {
      r.bytes += f.bytes_est * weight;
      r.packets += f.packets_est * weight;
      r.flows += weight;
    }
  }

  /** The warm start: hourly rows in time order, no minute rows (the live traffic sets the recent level). */
  build(): WarmStart {
    const hourly = [...this.#hourly.values()].sort((a, b) => a.ts - b.ts);
    const last = hourly.length > 0 ? hourly[hourly.length - 1]!.ts + HOUR_MS : 0;
    return {
      hourly,
      minutes: [],
      minutesFromMs: last,
      minutesToMs: last,
      internetHourly: [...this.#internet.values()].sort((a, b) => a.ts - b.ts),
      pairs: [...this.#pairs.values()],
      earliestMs: this.#earliestMs,
    };
  }
}
