import { encodeNetflowV5 } from '@flowwatch/decoders';
import type { FlowRecord } from '@flowwatch/flow-schema';
import type { SimExporter } from '../network.js';
import type { Datagram, ExporterEncoder } from './exporter.js';

const MAX_RECORDS = 30;

/**
 * NetFlow v5: up to 30 IPv4 records per datagram. flow_sequence counts the flows exported before
 * the datagram; SysUptime is ms since the exporter booted (`bootMs`, event time) and unix_secs/nsecs
 * the export instant, so First/Last carry the flows' event times. The sampling interval is left 0
 * (the registry's samplingRate, 1, applies).
 */
export class NetflowV5Exporter implements ExporterEncoder {
  private flowSequence = 0;
  dropped = 0;

  constructor(
    readonly exporter: SimExporter,
    private readonly bootMs: number,
  ) {}

  encode(records: readonly FlowRecord[], exportMs: number, out: Datagram[]): void {
    let batch: FlowRecord[] = [];
    const header = () => ({
      sysUptimeMs: exportMs - this.bootMs,
      unixSecs: Math.floor(exportMs / 1000),
      unixNsecs: (exportMs % 1000) * 1e6,
      flowSequence: this.flowSequence,
      engineType: 0,
      engineId: this.exporter.index & 0xff,
    });
    const flush = () => {
      out.push({ exporter: this.exporter, port: 'netflow', bytes: encodeNetflowV5(header(), batch), records: batch.length });
      this.flowSequence = (this.flowSequence + batch.length) >>> 0;
      batch = [];
    };
    for (const r of records) {
      if (r.etype !== 0x0800) {
        this.dropped++;
        continue;
      }
      batch.push(r);
      if (batch.length === MAX_RECORDS) flush();
    }
    if (batch.length > 0) flush();
  }
}
