import { type EncoderSet, type EncoderTemplate, encodeIpfix, encodeNetflowV9 } from '@flowwatch/decoders';
import type { FlowRecord } from '@flowwatch/flow-schema';
import type { SimExporter } from '../network.js';
import { type Datagram, DEFAULT_TEMPLATE_REFRESH, type ExporterEncoder, MAX_DATAGRAM_BYTES, type TemplateRefresh } from './exporter.js';

/**
 * NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) exporters: one template for IPv4 flows and one for
 * IPv6, sent in the first datagram and again every `refresh.datagrams` datagrams or `refresh.ms`
 * of event time, in front of the data (over UDP a collector that restarts, or missed the first
 * datagram, learns them within that bound). Datagrams stay under MAX_DATAGRAM_BYTES.
 */

const f = (id: number, length: number) => ({ id, length });

/** NetFlow v9 field types (RFC 3954 s8); times are FIRST/LAST_SWITCHED, sysUptime-relative. */
export const V9_TEMPLATES: readonly [EncoderTemplate, EncoderTemplate] = [
  {
    id: 256,
    fields: [
      f(8, 4),
      f(12, 4),
      f(7, 2),
      f(11, 2),
      f(4, 1),
      f(6, 1),
      f(5, 1),
      f(1, 4),
      f(2, 4),
      f(10, 2),
      f(14, 2),
      f(9, 1),
      f(13, 1),
      f(16, 4),
      f(17, 4),
      f(22, 4),
      f(21, 4),
      f(32, 2),
      f(60, 1),
    ],
  },
  {
    id: 257,
    fields: [
      f(27, 16),
      f(28, 16),
      f(7, 2),
      f(11, 2),
      f(4, 1),
      f(6, 1),
      f(5, 1),
      f(1, 4),
      f(2, 4),
      f(10, 2),
      f(14, 2),
      f(29, 1),
      f(30, 1),
      f(31, 3),
      f(16, 4),
      f(17, 4),
      f(22, 4),
      f(21, 4),
      f(139, 2),
      f(60, 1),
    ],
  },
];

/** IPFIX Information Elements (RFC 7012); absolute millisecond times, 64-bit counters, 32-bit interfaces. */
export const IPFIX_TEMPLATES: readonly [EncoderTemplate, EncoderTemplate] = [
  {
    id: 256,
    fields: [
      f(8, 4),
      f(12, 4),
      f(7, 2),
      f(11, 2),
      f(4, 1),
      f(6, 2),
      f(5, 1),
      f(1, 8),
      f(2, 8),
      f(10, 4),
      f(14, 4),
      f(9, 1),
      f(13, 1),
      f(16, 4),
      f(17, 4),
      f(152, 8),
      f(153, 8),
      f(32, 2),
      f(60, 1),
    ],
  },
  {
    id: 257,
    fields: [
      f(27, 16),
      f(28, 16),
      f(7, 2),
      f(11, 2),
      f(4, 1),
      f(6, 2),
      f(5, 1),
      f(1, 8),
      f(2, 8),
      f(10, 4),
      f(14, 4),
      f(29, 1),
      f(30, 1),
      f(31, 4),
      f(16, 4),
      f(17, 4),
      f(152, 8),
      f(153, 8),
      f(139, 2),
      f(60, 1),
    ],
  },
];

const recordBytes = (t: EncoderTemplate) => t.fields.reduce((s, x) => s + x.length, 0);
const templateBytes = (ts: readonly EncoderTemplate[], ipfix: boolean) =>
  4 + ts.reduce((s, t) => s + 4 + 4 * t.fields.length, 0) + (ipfix ? 0 : 3);

abstract class TemplateExporter implements ExporterEncoder {
  dropped = 0;
  private sinceTemplates = Number.POSITIVE_INFINITY;
  private templatesAtMs = Number.NEGATIVE_INFINITY;
  private readonly v4Bytes: number;
  private readonly v6Bytes: number;
  private readonly tplBytes: number;

  constructor(
    readonly exporter: SimExporter,
    protected readonly templates: readonly [EncoderTemplate, EncoderTemplate],
    private readonly headerBytes: number,
    private readonly refresh: TemplateRefresh,
    ipfix: boolean,
  ) {
    this.v4Bytes = recordBytes(templates[0]);
    this.v6Bytes = recordBytes(templates[1]);
    this.tplBytes = templateBytes(templates, ipfix);
  }

  protected abstract datagram(sets: EncoderSet[], exportMs: number, dataRecords: number): Uint8Array;

  encode(records: readonly FlowRecord[], exportMs: number, out: Datagram[]): void {
    let i = 0;
    while (i < records.length) {
      const withTemplates = this.sinceTemplates >= this.refresh.datagrams || exportMs - this.templatesAtMs >= this.refresh.ms;
      // Two set headers and their padding (up to 3 bytes each) besides the records.
      let room = MAX_DATAGRAM_BYTES - this.headerBytes - (withTemplates ? this.tplBytes : 0) - 2 * (4 + 3);
      const v4: FlowRecord[] = [];
      const v6: FlowRecord[] = [];
      while (i < records.length) {
        const r = records[i] as FlowRecord;
        const size = r.etype === 0x86dd ? this.v6Bytes : this.v4Bytes;
        if (size > room) break;
        room -= size;
        (r.etype === 0x86dd ? v6 : v4).push(r);
        i++;
      }
      const sets: EncoderSet[] = [];
      if (withTemplates) sets.push({ kind: 'templates', templates: [...this.templates] });
      if (v4.length > 0) sets.push({ kind: 'data', template: this.templates[0], records: v4 });
      if (v6.length > 0) sets.push({ kind: 'data', template: this.templates[1], records: v6 });
      out.push({
        exporter: this.exporter,
        port: this.port,
        bytes: this.datagram(sets, exportMs, v4.length + v6.length),
        records: v4.length + v6.length,
      });
      if (withTemplates) {
        this.sinceTemplates = 0;
        this.templatesAtMs = exportMs;
      }
      this.sinceTemplates++;
    }
  }

  protected abstract readonly port: 'netflow' | 'ipfix';
}

/**
 * NetFlow v9: the header's sequence counts export packets (RFC 3954 s5.1), source id = the
 * exporter's index; sysUptime = export second minus boot, so FIRST/LAST_SWITCHED give event times.
 */
export class NetflowV9Exporter extends TemplateExporter {
  protected readonly port = 'netflow';
  private sequence = 0;

  constructor(
    exporter: SimExporter,
    private readonly bootMs: number,
    refresh: TemplateRefresh = DEFAULT_TEMPLATE_REFRESH,
  ) {
    super(exporter, V9_TEMPLATES, 20, refresh, false);
  }

  protected datagram(sets: EncoderSet[], exportMs: number): Uint8Array {
    const unixSecs = Math.floor(exportMs / 1000);
    const bytes = encodeNetflowV9(
      { sequence: this.sequence, sourceId: this.exporter.index, unixSecs, sysUptimeMs: unixSecs * 1000 - this.bootMs },
      sets,
    );
    this.sequence = (this.sequence + 1) >>> 0;
    return bytes;
  }
}

/**
 * IPFIX: the header's sequence counts data records sent before this message in the observation
 * domain (RFC 7011 s3.1), modulo 2^32; the domain id is the exporter's index + 1.
 */
export class IpfixExporter extends TemplateExporter {
  protected readonly port = 'ipfix';
  private sequence = 0;

  constructor(exporter: SimExporter, refresh: TemplateRefresh = DEFAULT_TEMPLATE_REFRESH) {
    super(exporter, IPFIX_TEMPLATES, 16, refresh, true);
  }

  protected datagram(sets: EncoderSet[], exportMs: number, dataRecords: number): Uint8Array {
    const bytes = encodeIpfix(
      { sequence: this.sequence, observationDomainId: this.exporter.index + 1, exportTime: Math.floor(exportMs / 1000) },
      sets,
    );
    this.sequence = (this.sequence + dataRecords) >>> 0;
    return bytes;
  }
}
