import {
  type DeadLetter,
  DLQ_SCHEMA,
  encodeFlows,
  type FlowRecord,
  type FlowsEncoding,
  flowsSchema,
  heartbeatHeaders,
  type TelemetryHeartbeat,
} from '@flowwatch/flow-schema';
import type { BufferedProducer } from '@flowwatch/kafka';
import type { CollectorMetrics } from './collector-metrics.js';

export interface OutputTopics {
  flows: string;
  dlq: string;
}

/**
 * Writes decoded records to `flows` (in `encoding`, at most `flowsPerMessage` per message, keyed by
 * supplier/exporter) and rejected input to `flows.dlq`. Returns how many records the producer
 * refused (buffer full or stopped): they are counted there, and the caller reports them.
 */
export class FlowOutput {
  constructor(
    private readonly producer: BufferedProducer,
    private readonly topics: OutputTopics,
    private readonly flowsPerMessage: number,
    private readonly metrics: CollectorMetrics,
    private readonly encoding: FlowsEncoding = 'ndjson',
  ) {
    this.headers = { schema: flowsSchema(encoding) };
  }

  private readonly headers: { schema: string };

  writeFlows(supplierId: string, exporterId: string, records: readonly FlowRecord[]): 'queued' | 'refused' {
    if (records.length === 0) return 'queued';
    const key = `${supplierId}/${exporterId}`;
    const headers = this.headers;
    const messages = [];
    for (let i = 0; i < records.length; i += this.flowsPerMessage) {
      messages.push({ key, value: encodeFlows(records, i, Math.min(records.length, i + this.flowsPerMessage), this.encoding), headers });
    }
    return this.producer.send(this.topics.flows, messages) === 'queued' ? 'queued' : 'refused';
  }

  /** Values already encoded (by a decode stage), one message each. */
  writeValues(supplierId: string, exporterId: string, values: readonly Buffer[]): 'queued' | 'refused' {
    if (values.length === 0) return 'queued';
    const key = `${supplierId}/${exporterId}`;
    const messages = values.map((value) => ({ key, value, headers: this.headers }));
    return this.producer.send(this.topics.flows, messages) === 'queued' ? 'queued' : 'refused';
  }

  /** An exporter alive without flow records (see TELEMETRY_HEADER): an empty message on its key. */
  writeHeartbeat(h: TelemetryHeartbeat): 'queued' | 'refused' {
    const message = { key: `${h.supplierId}/${h.exporterId}`, value: '', headers: heartbeatHeaders(h) };
    return this.producer.send(this.topics.flows, [message]) === 'queued' ? 'queued' : 'refused';
  }

  deadLetter(letter: Omit<DeadLetter, 'schema' | 'raw_base64'> & { raw: Uint8Array | string }): void {
    const { raw, ...rest } = letter;
    const value: DeadLetter = {
      schema: DLQ_SCHEMA,
      ...rest,
      raw_base64: (typeof raw === 'string' ? Buffer.from(raw) : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)).toString('base64'),
    };
    this.metrics.deadLetters.inc({ reason: letter.reason });
    this.producer.send(this.topics.dlq, [{ key: letter.source, value: JSON.stringify(value), headers: { schema: DLQ_SCHEMA } }]);
  }

  whenWritable(): Promise<void> {
    return this.producer.whenWritable();
  }
}
