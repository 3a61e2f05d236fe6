import { encodeFlows, type FlowRecord } from '@flowwatch/flow-schema';
import type { SimExporter } from '../network.js';
import type { PushBatch } from './exporter.js';

/**
 * A push supplier's gateway: records as NDJSON (the `flows` topic's own line format, which the push
 * API accepts field for field), at most `maxRecords` per request. Each record's time_received_ns
 * is its export time, which the collector keeps when it takes times from the export (see
 * docs/simulator.md) and replaces with its clock otherwise.
 */
export class JsonExporter {
  constructor(
    readonly exporter: SimExporter,
    private readonly maxRecords: number,
  ) {}

  encode(records: readonly FlowRecord[], out: PushBatch[]): void {
    for (let i = 0; i < records.length; i += this.maxRecords) {
      const to = Math.min(records.length, i + this.maxRecords);
      out.push({ exporter: this.exporter, body: encodeFlows(records, i, to).toString('utf8'), records: to - i });
    }
  }
}
