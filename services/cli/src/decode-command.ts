import { readFileSync } from 'node:fs';
import { type DecodeContext, detectProtocol, FlowDecoder, parsePcap } from '@flowwatch/decoders';

export interface DecodeOptions {
  file: string;
  summary: boolean;
  /** Sampling rate assumed when the export does not say (0: unknown). */
  samplingRate: number;
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
}

export interface DecodeSummary {
  flows: number;
  by_protocol: Record<string, number>;
  datagrams: number;
  /** UDP payloads that are not NetFlow, IPFIX or sFlow (DNS and the like), skipped. */
  skipped: number;
  errors: Record<string, number>;
  seconds: number;
  flows_per_second: number;
}

/**
 * `flowwatch decode <file.pcap>`: decodes every UDP payload of a libpcap or pcapng file that is
 * NetFlow v5/v9, IPFIX or sFlow v5, whatever its port, with templates carried across packets in
 * file order per exporter (the packet's source address). Prints one JSON record per flow (NDJSON)
 * or, with --summary, one JSON line of totals. Errors go to stderr, with a count at the end.
 */
export async function runDecode(options: DecodeOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  let bytes: Buffer;
  try {
    bytes = readFileSync(options.file);
  } catch (e) {
    err.write(`flowwatch decode: cannot read ${options.file}: ${(e as NodeJS.ErrnoException).code ?? e}\n`);
    return 1;
  }
  let packets: ReturnType<typeof parsePcap>;
  try {
    packets = parsePcap(bytes);
  } catch (e) {
    err.write(`flowwatch decode: ${options.file}: ${(e as Error).message}\n`);
    return 1;
  }

  const t0 = process.hrtime.bigint();
  const decoder = new FlowDecoder();
  const summary: DecodeSummary = { flows: 0, by_protocol: {}, datagrams: 0, skipped: 0, errors: {}, seconds: 0, flows_per_second: 0 };
  const writer = new LineWriter(out);

  const report = (where: string, reason: string, detail: string, count: number) => {
    summary.errors[reason] = (summary.errors[reason] ?? 0) + count;
    if (!options.summary) err.write(`flowwatch decode: ${where}: ${reason}: ${detail}\n`);
  };

  for (let i = 0; i < packets.length; i++) {
    const p = packets[i] as (typeof packets)[number];
    const protocol = detectProtocol(p.payload);
    if (!protocol) {
      summary.skipped++;
      continue;
    }
    summary.datagrams++;
    const ctx: DecodeContext = {
      exporter: p.srcAddr,
      receivedNs: p.timestampNs,
      supplierId: '',
      exporterId: '',
      defaultSamplingRate: options.samplingRate,
    };
    const result = decoder.decode(p.payload, ctx);
    summary.by_protocol[protocol] = (summary.by_protocol[protocol] ?? 0) + result.flows.length;
    summary.flows += result.flows.length;
    if (!options.summary) for (const f of result.flows) await writer.line(JSON.stringify(f));
    for (const e of result.errors) report(`packet ${i + 1} from ${p.srcAddr}`, e.reason, e.detail, e.count);
  }
  // Whatever still waits for a template at the end of the file never gets one.
  const rest = decoder.expire(Number.MAX_SAFE_INTEGER);
  for (const f of rest.flows) if (!options.summary) await writer.line(JSON.stringify(f));
  summary.flows += rest.flows.length;
  for (const e of rest.errors) report(`end of file${e.exporter ? `, exporter ${e.exporter}` : ''}`, e.reason, e.detail, e.count);

  summary.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  summary.flows_per_second = summary.seconds > 0 ? Math.round(summary.flows / summary.seconds) : 0;
  if (options.summary) await writer.line(JSON.stringify(summary));
  await writer.end();
  const errorCount = Object.values(summary.errors).reduce((a, b) => a + b, 0);
  if (!options.summary) {
    err.write(
      `flowwatch decode: ${summary.flows} flows from ${summary.datagrams} datagrams, ${errorCount} errors${
        errorCount
          ? ` (${Object.entries(summary.errors)
              .map(([r, n]) => `${r}: ${n}`)
              .join(', ')})`
          : ''
      }\n`,
    );
  }
  return 0;
}

/** Buffers lines into large writes and honours the stream's backpressure. */
class LineWriter {
  private chunk = '';

  constructor(private readonly out: NodeJS.WritableStream) {}

  async line(s: string): Promise<void> {
    this.chunk += `${s}\n`;
    if (this.chunk.length >= 1 << 16) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.chunk === '') return;
    const ok = this.out.write(this.chunk);
    this.chunk = '';
    if (!ok) await new Promise<void>((r) => this.out.once('drain', () => r()));
  }

  async end(): Promise<void> {
    await this.flush();
  }
}
