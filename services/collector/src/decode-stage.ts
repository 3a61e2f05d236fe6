import { type DecodeContext, type DecodeError, FlowDecoder, type FlowProtocol, type TemplateLimits } from '@flowwatch/decoders';
import { encodeFlows, type FlowsEncoding } from '@flowwatch/flow-schema';

/** One datagram decoded and its records encoded as `flows` message values, ready to produce. */
export interface DecodedDatagram {
  protocol: FlowProtocol | undefined;
  /** Records in `messages`. */
  records: number;
  /** `flows` values (collector.flowsEncoding) of at most `flowsPerMessage` records each, in the records' order. */
  messages: Buffer[];
  errors: DecodeError[];
  decodeSeconds: number;
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

  /** `stampNs` replaces every record's time_received_ns (collector.timeReceivedFrom = export). */
  process(buf: Uint8Array, ctx: DecodeContext, stampNs?: number): DecodedDatagram {
    const t0 = performance.now();
    const out = this.decoder.decode(buf, ctx);
    const decodeSeconds = (performance.now() - t0) / 1000;
    const flows = out.flows;
    if (stampNs !== undefined) for (const f of flows) f.time_received_ns = stampNs;
    const messages: Buffer[] = [];
    for (let i = 0; i < flows.length; i += this.flowsPerMessage) {
      messages.push(encodeFlows(flows, i, Math.min(flows.length, i + this.flowsPerMessage), this.encoding));
    }
    return { protocol: out.protocol, records: flows.length, messages, errors: out.errors, decodeSeconds };
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
