import type { FlowRecord } from '@flowwatch/flow-schema';
import type { Datagram, ExporterEncoder, PushBatch, TemplateRefresh } from './export/exporter.js';
import { DEFAULT_TEMPLATE_REFRESH } from './export/exporter.js';
import { JsonExporter } from './export/json-exporter.js';
import { NetflowV5Exporter } from './export/netflow5-exporter.js';
import { SflowExporter } from './export/sflow-exporter.js';
import { IpfixExporter, NetflowV9Exporter } from './export/template-exporters.js';
import type { Label } from './labels.js';
import type { SimExporter, SimulatedNetwork } from './network.js';
import { Random } from './random.js';
import { createScenarios, type Scenario, type ScenarioRequest } from './scenarios/index.js';
import { type Modulation, TrafficModel } from './traffic-model.js';

export interface SimulationOptions {
  seed: number;
  /** Event time the simulation starts at (ms since the epoch); rounded down to a slot. */
  startMs: number;
  /** Simulated seconds per wall-clock second. */
  speed: number;
  /** Background records per wall-clock second at the weekly peak. */
  rate: number;
  scenarios?: readonly ScenarioRequest[];
  /** false: only scenario records (to inject scenarios next to another simulator). */
  background?: boolean;
  /** Records per push request at most. */
  pushBatchRecords?: number;
  /** Event-time length of a slot; by default derived from the speed (slotMsFor). */
  slotMs?: number;
  templateRefresh?: TemplateRefresh;
  /** Keep each step's records in `step.flows` (tests, tools); off in the service. */
  keepRecords?: boolean;
}

export interface SimulationStep {
  /** Event time reached: the end of the last slot generated. */
  eventMs: number;
  datagrams: Datagram[];
  pushes: PushBatch[];
  /** Labels of scenarios that ended in this step. */
  labels: Label[];
  /** Records generated (before sampling and encoding), after silences. */
  records: number;
  /** Slots generated. */
  slots: number;
  /** The records themselves, with time_received_ns = export time (only with `keepRecords`). */
  flows: FlowRecord[];
}

const SLOT_CHOICES_S = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600];

/**
 * Slot length for a speed: the largest of 1 s, 2 s, 5 s, ... 1 h that is at most a tenth of a
 * wall-clock second of event time, so a sender ticking every 100 ms has about one slot per tick.
 */
export function slotMsFor(speed: number): number {
  let best = 1;
  for (const s of SLOT_CHOICES_S) if (s <= speed * 0.1) best = s;
  return best * 1000;
}

/**
 * The whole simulation without I/O: background traffic and scenarios slot by slot in event time,
 * silences applied, records routed to their exporters and encoded into datagrams and push batches,
 * labels handed out when their scenarios end. The simulator service only ships the bytes; tests run
 * this directly. Same network and options, same output, byte for byte.
 */
export class Simulation {
  readonly slotMs: number;
  readonly startMs: number;
  readonly scenarios: readonly Scenario[];
  private readonly model: TrafficModel;
  private readonly background: boolean;
  private readonly keepRecords: boolean;
  private readonly encoders = new Map<string, ExporterEncoder>();
  private readonly pushers = new Map<string, JsonExporter>();
  private readonly labelled = new Set<Scenario>();
  private nextSlot: number;

  constructor(
    readonly network: SimulatedNetwork,
    options: SimulationOptions,
  ) {
    if (!(options.speed > 0)) throw new RangeError('speed must be positive');
    if (!(options.rate > 0)) throw new RangeError('rate must be positive');
    this.slotMs = options.slotMs ?? slotMsFor(options.speed);
    this.nextSlot = Math.floor(options.startMs / this.slotMs);
    this.startMs = this.nextSlot * this.slotMs;
    this.background = options.background ?? true;
    this.keepRecords = options.keepRecords ?? false;
    this.model = new TrafficModel(network, { seed: options.seed, rate: options.rate, speed: options.speed, slotMs: this.slotMs });
    this.scenarios = createScenarios(network, options.seed, options.scenarios ?? []);
    const refresh = options.templateRefresh ?? DEFAULT_TEMPLATE_REFRESH;
    for (const e of network.exporters) {
      const boot = bootTime(options.seed, e, this.startMs);
      const key = exporterKey(e.supplierId, e.id);
      switch (e.protocol) {
        case 'netflow5':
          this.encoders.set(key, new NetflowV5Exporter(e, boot));
          break;
        case 'netflow9':
          this.encoders.set(key, new NetflowV9Exporter(e, boot, refresh));
          break;
        case 'ipfix':
          this.encoders.set(key, new IpfixExporter(e, refresh));
          break;
        case 'sflow5':
          this.encoders.set(key, new SflowExporter(e, boot, options.seed));
          break;
        case 'json':
          this.pushers.set(key, new JsonExporter(e, options.pushBatchRecords ?? 5000));
          break;
      }
    }
  }

  /** Event time generated so far (the end of the last slot). */
  get eventMs(): number {
    return this.nextSlot * this.slotMs;
  }

  /** Records the exporters could not carry (must stay 0). */
  get dropped(): number {
    let n = 0;
    for (const e of this.encoders.values()) n += e.dropped;
    return n;
  }

  /**
   * Generates and encodes every slot ending at or before `untilMs`, stopping after the slot that
   * takes the records past `maxRecords` (a slot is never split, so event time stays consistent).
   */
  advance(untilMs: number, maxRecords = Number.POSITIVE_INFINITY): SimulationStep {
    const step: SimulationStep = { eventMs: this.eventMs, datagrams: [], pushes: [], labels: [], records: 0, slots: 0, flows: [] };
    const records: FlowRecord[] = [];
    while ((this.nextSlot + 1) * this.slotMs <= untilMs && step.records < maxRecords) {
      const from = this.nextSlot * this.slotMs;
      const to = from + this.slotMs;
      records.length = 0;
      const active = this.scenarios.filter((s) => s.startMs < to && s.endMs > from);
      if (this.background) this.model.slot(this.nextSlot, records, modulationOf(active));
      for (const s of active) if (s.keeps) filterInPlace(records, s.keeps, from);
      for (const s of active) s.flows?.(from, to, records);
      const silenced = new Set<string>();
      for (const s of active) {
        if (!s.silences) continue;
        for (const supplier of this.network.suppliers) if (s.silences(supplier.id, from)) silenced.add(supplier.id);
      }
      this.exportSlot(records, to, silenced, step);
      this.nextSlot++;
      step.slots++;
      step.eventMs = to;
      for (const s of this.scenarios) {
        if (!this.labelled.has(s) && s.endMs <= to) {
          this.labelled.add(s);
          step.labels.push(s.label());
        }
      }
    }
    return step;
  }

  /** Labels of scenarios that started but have not been reported (cut at the event time reached). */
  finish(): Label[] {
    const out: Label[] = [];
    for (const s of this.scenarios) {
      if (this.labelled.has(s) || s.startMs >= this.eventMs) continue;
      this.labelled.add(s);
      out.push(s.label(this.eventMs));
    }
    return out;
  }

  private exportSlot(records: FlowRecord[], exportMs: number, silenced: ReadonlySet<string>, step: SimulationStep): void {
    const byExporter = new Map<string, FlowRecord[]>();
    for (const r of records) {
      if (silenced.has(r.supplier_id)) continue;
      r.time_received_ns = exportMs * 1e6;
      const key = exporterKey(r.supplier_id, r.exporter_id);
      let list = byExporter.get(key);
      if (!list) byExporter.set(key, (list = []));
      list.push(r);
      step.records++;
      if (this.keepRecords) step.flows.push(r);
    }
    // Every exporter every slot, in a fixed order: sFlow agents send counters even when idle.
    for (const [key, encoder] of this.encoders) {
      if (silenced.has(encoder.exporter.supplierId)) continue;
      encoder.encode(byExporter.get(key) ?? [], exportMs, step.datagrams);
    }
    for (const [key, pusher] of this.pushers) {
      const list = byExporter.get(key);
      if (list && !silenced.has(pusher.exporter.supplierId)) pusher.encode(list, step.pushes);
    }
  }
}

export function exporterKey(supplierId: string, exporterId: string): string {
  return `${supplierId}/${exporterId}`;
}

/** When an exporter booted: 1 to 45 days before the start (so a long run sees a 32-bit uptime wrap now and then). */
function bootTime(seed: number, e: SimExporter, startMs: number): number {
  const rng = Random.derive(seed, 'boot', e.supplierId, e.id);
  return startMs - rng.between(86_400, 45 * 86_400) * 1000 - rng.int(1000);
}

function filterInPlace(records: FlowRecord[], keeps: (r: FlowRecord, tMs: number) => boolean, tMs: number): void {
  let n = 0;
  for (const r of records) if (keeps(r, tMs)) records[n++] = r;
  records.length = n;
}

function modulationOf(active: readonly Scenario[]): Modulation | undefined {
  const mods = active.map((s) => s.modulation).filter((m): m is Modulation => m !== undefined);
  if (mods.length === 0) return undefined;
  if (mods.length === 1) return mods[0];
  return (type, app, t) => mods.reduce((f, m) => f * m(type, app, t), 1);
}
