import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { DecodeError, TemplateLimits } from '@flowwatch/decoders';
import type { FlowsEncoding } from '@flowwatch/flow-schema';
import type { Logger } from 'pino';
import type { DecodedDatagram } from './decode-stage.js';
import { limitsPerStage } from './decode-stage.js';
import {
  DATAGRAM_INFO,
  type DatagramBatch,
  type FromWorker,
  PROTOCOL_CODES,
  type WireError,
  type WireExporter,
  type WorkerInit,
} from './decode-wire.js';

/** What the main thread remembers of a datagram until its worker answers. */
export interface Received {
  exporter: { supplierId: string; exporterId: string; defaultSamplingRate: number };
  address: string;
  port: number;
  /** Reception time the datagram's records get (ms): the clock, or its export time (collector.timeReceivedFrom). */
  atMs: number;
}

export interface DecodeWorkersOptions {
  workers: number;
  /** Datagrams waiting for or inside one worker at most. */
  queueDatagrams: number;
  limits: TemplateLimits;
  flowsPerMessage: number;
  flowsEncoding?: FlowsEncoding;
  logger: Logger;
  /** Each datagram's result, in the order its exporter's datagrams were received. */
  onDecoded: (r: Received, d: DecodedDatagram) => void;
  /** Held sets expired in a worker (with the exporter they came from). */
  onExpired: (errors: DecodeError[]) => void;
  /** Datagrams a worker took with it when it failed, or that were in flight at stop. */
  onLost: (r: Received, reason: 'worker_failed' | 'shutdown') => void;
}

/** Datagrams of one event-loop turn are posted together, at most this many per message. */
const BATCH_MAX_DATAGRAMS = 256;

interface Slot {
  index: number;
  worker: Worker;
  /** Received this turn, not posted yet. */
  bufs: Uint8Array[];
  metas: Received[];
  receivedNs: number[];
  stampNs: number[];
  bytes: number;
  /** Posted batches, oldest first, answered in this order. */
  inFlight: Received[][];
  /** Datagrams in `bufs` and `inFlight`. */
  queued: number;
  stats: { templates: number; templateBytes: number; pendingSets: number };
  stopping: boolean;
}

/**
 * Decode worker threads for the collector. Every exporter's datagrams go to the worker its address
 * hashes to, so its NetFlow v9/IPFIX templates live in one place and its records come back in the
 * order they were received. Queues are bounded: submit() refuses (the caller counts) beyond
 * `queueDatagrams` per worker. A worker that fails is replaced (its templates are learnt again
 * from the next template refresh) and the datagrams it held are reported lost.
 */
export class DecodeWorkers {
  private readonly slots: Slot[] = [];
  private scheduled = false;
  private readonly idleWaiters: (() => void)[] = [];
  private running = false;
  private readonly init: WorkerInit;

  constructor(private readonly options: DecodeWorkersOptions) {
    this.init = {
      limits: limitsPerStage(options.limits, options.workers),
      flowsPerMessage: options.flowsPerMessage,
      flowsEncoding: options.flowsEncoding ?? 'ndjson',
    };
  }

  async start(): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let i = 0; i < this.options.workers; i++) {
      const slot: Slot = {
        index: i,
        worker: undefined as unknown as Worker,
        bufs: [],
        metas: [],
        receivedNs: [],
        stampNs: [],
        bytes: 0,
        inFlight: [],
        queued: 0,
        stats: { templates: 0, templateBytes: 0, pendingSets: 0 },
        stopping: false,
      };
      this.slots.push(slot);
      ready.push(this.spawn(slot));
    }
    await Promise.all(ready);
    this.running = true;
  }

  /** Hands a datagram to its exporter's worker, or says why not (the caller counts it). */
  submit(buf: Uint8Array, r: Received, receivedNs: number, stampNs: number | undefined): 'queued' | 'full' | 'stopped' {
    const slot = this.slots[this.slots.length === 1 ? 0 : hash(r.address) % this.slots.length];
    if (!this.running || !slot) return 'stopped';
    if (slot.queued >= this.options.queueDatagrams) return 'full';
    slot.bufs.push(buf);
    slot.metas.push(r);
    slot.receivedNs.push(receivedNs);
    if (stampNs !== undefined) slot.stampNs.push(stampNs);
    slot.bytes += buf.length;
    slot.queued++;
    if (slot.bufs.length >= BATCH_MAX_DATAGRAMS) this.post(slot);
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.postAll);
    }
    return 'queued';
  }

  /** Asks every worker to expire held sets; their errors and template figures come back later. */
  expire(nowNs: number): void {
    for (const s of this.slots) s.worker.postMessage({ type: 'expire', nowNs });
  }

  stats(): { templates: number; templateBytes: number; pendingSets: number } {
    const t = { templates: 0, templateBytes: 0, pendingSets: 0 };
    for (const s of this.slots) {
      t.templates += s.stats.templates;
      t.templateBytes += s.stats.templateBytes;
      t.pendingSets += s.stats.pendingSets;
    }
    return t;
  }

  /** Datagrams waiting for or inside each worker. */
  depths(): number[] {
    return this.slots.map((s) => s.queued);
  }

  /** Resolves when every datagram submitted so far has been decoded and handed to onDecoded. */
  idle(): Promise<void> {
    this.postAll();
    if (this.slots.every((s) => s.queued === 0)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Lets the workers finish what they hold (at most `timeoutMs`), then ends them. */
  async stop(timeoutMs = 5000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await Promise.race([this.idle(), new Promise<void>((r) => setTimeout(r, timeoutMs).unref())]);
    for (const s of this.slots) {
      s.stopping = true;
      for (const batch of s.inFlight) for (const r of batch) this.options.onLost(r, 'shutdown');
      for (const r of s.metas) this.options.onLost(r, 'shutdown');
      s.inFlight = [];
      s.queued = 0;
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private readonly postAll = () => {
    this.scheduled = false;
    for (const s of this.slots) if (s.bufs.length > 0) this.post(s);
  };

  private post(slot: Slot): void {
    const n = slot.bufs.length;
    const data = new ArrayBuffer(slot.bytes);
    const bytes = new Uint8Array(data);
    const lengths = new Uint32Array(n);
    const exporters: WireExporter[] = [];
    const exporterIndex = new Uint16Array(n);
    const seen = new Map<string, number>();
    let at = 0;
    for (let i = 0; i < n; i++) {
      const b = slot.bufs[i] as Uint8Array;
      bytes.set(b, at);
      at += b.length;
      lengths[i] = b.length;
      const r = slot.metas[i] as Received;
      // The registry entry can change on reload: key by the object, not only the address.
      const key = `${r.address}\0${r.exporter.supplierId}\0${r.exporter.exporterId}\0${r.exporter.defaultSamplingRate}`;
      let e = seen.get(key);
      if (e === undefined) {
        e = exporters.length;
        seen.set(key, e);
        exporters.push({ address: r.address, ...r.exporter });
      }
      exporterIndex[i] = e;
    }
    const receivedNs = Float64Array.from(slot.receivedNs);
    const stampNs = slot.stampNs.length === n ? Float64Array.from(slot.stampNs) : undefined;
    const batch: DatagramBatch = { type: 'batch', data, lengths, receivedNs, stampNs, exporters, exporterIndex };
    slot.inFlight.push(slot.metas);
    slot.bufs = [];
    slot.metas = [];
    slot.receivedNs = [];
    slot.stampNs = [];
    slot.bytes = 0;
    slot.worker.postMessage(batch, [data, lengths.buffer, receivedNs.buffer, exporterIndex.buffer]);
  }

  private spawn(slot: Slot): Promise<void> {
    const { entry, ...how } = workerEntry();
    const worker = new Worker(entry, { ...how, workerData: this.init, name: `decode-${slot.index}` });
    slot.worker = worker;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          ready = true;
          resolve();
        } else if (m.type === 'decoded') this.decoded(slot, m);
        else if (m.type === 'expired') {
          slot.stats = m.stats;
          if (m.errors.length > 0) this.options.onExpired(m.errors.map(toDecodeError));
        }
      });
      const failed = (err: Error) => {
        if (!ready) {
          reject(err);
          return;
        }
        if (slot.stopping || slot.worker !== worker) return;
        this.options.logger.error({ err: err.message, worker: slot.index }, 'decode worker failed; replaced');
        for (const batch of slot.inFlight) for (const r of batch) this.options.onLost(r, 'worker_failed');
        slot.queued -= slot.inFlight.reduce((a, b) => a + b.length, 0);
        slot.inFlight = [];
        slot.stats = { templates: 0, templateBytes: 0, pendingSets: 0 };
        worker.removeAllListeners();
        void worker.terminate();
        this.spawn(slot).catch((e: Error) => this.options.logger.error({ err: e.message }, 'decode worker could not be replaced'));
        this.checkIdle();
      };
      worker.on('error', failed);
      worker.on('exit', (code) => failed(new Error(`decode worker exited with code ${code}`)));
    });
  }

  private decoded(slot: Slot, m: Extract<FromWorker, { type: 'decoded' }>): void {
    const metas = slot.inFlight.shift();
    if (!metas) return;
    const errorsByIndex = new Map<number, DecodeError[]>();
    for (const e of m.errors) {
      let list = errorsByIndex.get(e.index);
      if (!list) errorsByIndex.set(e.index, (list = []));
      list.push(toDecodeError(e));
    }
    let value = 0;
    let offset = 0;
    for (let i = 0; i < metas.length; i++) {
      const count = m.info[i * DATAGRAM_INFO + 2] as number;
      const messages: Buffer[] = new Array(count);
      for (let k = 0; k < count; k++) {
        const length = m.valueLengths[value++] as number;
        messages[k] = Buffer.from(m.payload, offset, length);
        offset += length;
      }
      const protocol = PROTOCOL_CODES[m.info[i * DATAGRAM_INFO] as number] || undefined;
      this.options.onDecoded(metas[i] as Received, {
        protocol,
        records: m.info[i * DATAGRAM_INFO + 1] as number,
        messageRecords: m.info[i * DATAGRAM_INFO + 3] as number,
        messages,
        errors: errorsByIndex.get(i) ?? [],
        decodeSeconds: m.decodeSeconds[i] as number,
      });
    }
    slot.queued -= metas.length;
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.idleWaiters.length > 0 && this.slots.every((s) => s.queued === 0)) for (const w of this.idleWaiters.splice(0)) w();
  }
}

function toDecodeError(e: WireError): DecodeError {
  const out: DecodeError = { reason: e.reason, detail: e.detail, count: e.count, raw: e.raw };
  if (e.exporter !== undefined) out.exporter = e.exporter;
  return out;
}

/** FNV-1a of the exporter address: the same exporter always lands on the same worker. */
export function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The worker's module: the compiled .js beside this file, or, when the collector runs from its
 * TypeScript sources (tests, `pnpm flowwatch`, benchmarks), the .ts through tsx's loader (which
 * `--import tsx` does not install in a worker on Node 20) with the workspace's source condition.
 */
function workerEntry(): { entry: string | URL; eval?: boolean; execArgv?: string[] } {
  if (!import.meta.url.endsWith('.ts')) return { entry: new URL('./decode-worker.js', import.meta.url) };
  // tsx's ESM API (index.mjs beside the index.cjs that require resolves) registers its hooks.
  const api = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const entry = new URL('./decode-worker.ts', import.meta.url).href;
  return {
    entry: `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`,
    eval: true,
    execArgv: ['--conditions=flowwatch-src'],
  };
}
