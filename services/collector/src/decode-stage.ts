import { type DecodeContext, type DecodeError, FlowDecoder, type FlowProtocol, type TemplateLimits } from '@flowwatch/decoders';
import { encodeFlows, type FlowRecord, type FlowsEncoding } from '@flowwatch/flow-schema';

/** One datagram decoded and its records encoded as `flows` message values, ready to produce. */
export interface DecodedDatagram {
  protocol: FlowProtocol | undefined;
  /** Records decoded from this datagram. */
  records: number;
  /**
   * Records in `messages`: within a batch, the records of consecutive datagrams of one exporter
   * share messages (processBatch), which go out with the datagram that completed them or with the
   * exporter's last datagram of the batch; so this is not `records` datagram by datagram.
   */
  messageRecords: number;
  /** `flows` values (collector.flowsEncoding) of at most `flowsPerMessage` records each, in the records' order. */
  messages: Buffer[];
  errors: DecodeError[];
  decodeSeconds: number;
}

/** One datagram of a batch, with what it is decoded with. */
export interface BatchDatagram {
  buf: Uint8Array;
  ctx: DecodeContext;
  /** Replaces every record's time_received_ns (collector.timeReceivedFrom = export). */
  stampNs?: number;
}

/**
 * The CPU-heavy part of the collector: decoding (with the template state of every NetFlow v9 and
 * IPFIX exporter it sees) and encoding the records. Runs in the main thread (`collector.workers`
 * 0) or in a worker thread (decode-worker.ts); the collector sends one exporter's datagrams always
 * to the same stage, so its templates and order stay together.
 */
export class DecodeStage {
  private readonly decoder: FlowDecoder;

  constructor(
    limits: Partial<TemplateLimits>,
    private readonly flowsPerMessage: number,
    private readonly encoding: FlowsEncoding = 'ndjson',
  ) {
    this.decoder = new FlowDecoder(limits);
  }

  /** One datagram on its own (the main-thread mode); `stampNs` replaces every record's time_received_ns (collector.timeReceivedFrom = export). */
  process(buf: Uint8Array, ctx: DecodeContext, stampNs?: number): DecodedDatagram {
    return this.processBatch([{ buf, ctx, stampNs }])[0] as DecodedDatagram;
  }

  /**
   * Datagrams received together (one turn of the collector's event loop), decoded in order, with
   * the records of one exporter's datagrams packed into messages of up to `flowsPerMessage`
   * across datagram boundaries: a router exporting 30 flows a datagram then costs Kafka a third
   * of the messages (each has a fixed cost in the producer, the broker and every consumer).
   * Messages of one exporter keep its records' order, and go out after its earlier ones.
   */
  processBatch(datagrams: readonly BatchDatagram[]): DecodedDatagram[] {
    const results: DecodedDatagram[] = new Array(datagrams.length);
    const pending = new Map<string, { flows: FlowRecord[]; last: number }>();
    for (let i = 0; i < datagrams.length; i++) {
      const { buf, ctx, stampNs } = datagrams[i] as BatchDatagram;
      const t0 = performance.now();
      const out = this.decoder.decode(buf, ctx);
      const decodeSeconds = (performance.now() - t0) / 1000;
      const flows = out.flows;
      if (stampNs !== undefined) for (const f of flows) f.time_received_ns = stampNs;
      const result: DecodedDatagram = {
        protocol: out.protocol,
        records: flows.length,
        messageRecords: 0,
        messages: [],
        errors: out.errors,
        decodeSeconds,
      };
      results[i] = result;
      if (flows.length === 0) continue;
      const key = `${ctx.supplierId}/${ctx.exporterId}`;
      let held = pending.get(key);
      if (held === undefined) {
        held = { flows: [], last: i };
        pending.set(key, held);
      }
      for (const f of flows) held.flows.push(f);
      held.last = i;
      if (held.flows.length >= this.flowsPerMessage) {
        const whole = held.flows.length - (held.flows.length % this.flowsPerMessage);
        this.#pack(result, held.flows, whole);
        held.flows = held.flows.slice(whole);
      }
    }
    for (const held of pending.values()) {
      if (held.flows.length > 0) this.#pack(results[held.last] as DecodedDatagram, held.flows, held.flows.length);
    }
    return results;
  }

  #pack(result: DecodedDatagram, flows: readonly FlowRecord[], count: number): void {
    for (let i = 0; i < count; i += this.flowsPerMessage) {
      result.messages.push(encodeFlows(flows, i, Math.min(count, i + this.flowsPerMessage), this.encoding));
    }
    result.messageRecords += count;
  }

  /** Held data sets that waited too long for their template, as errors to dead-letter. */
  expire(nowNs: number): DecodeError[] {
    return this.decoder.expire(nowNs).errors;
  }

  stats(): { templates: number; templateBytes: number; pendingSets: number } {
    const s = this.decoder.stats();
    return { templates: s.templates, templateBytes: s.templateBytes, pendingSets: s.pendingSets };
  }
}

/** Limits of one of `workers` stages, so that all of them together keep the configured bounds. */
export function limitsPerStage(limits: TemplateLimits, stages: number): TemplateLimits {
  const n = Math.max(1, stages);
  return {
    ...limits,
    maxDomains: Math.max(1, Math.ceil(limits.maxDomains / n)),
    maxTemplateBytes: Math.max(1, Math.ceil(limits.maxTemplateBytes / n)),
    maxPendingSets: Math.ceil(limits.maxPendingSets / n),
  };
}
