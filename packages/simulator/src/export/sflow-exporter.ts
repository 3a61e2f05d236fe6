import { encodeSflowV5 } from '@flowwatch/decoders';
import type { FlowRecord } from '@flowwatch/flow-schema';
import type { SimExporter } from '../network.js';
import { Random } from '../random.js';
import { UPLINK_IF } from '../traffic-model.js';
import { type Datagram, type ExporterEncoder, MAX_DATAGRAM_BYTES } from './exporter.js';

type SflowSample = NonNullable<Parameters<typeof encodeSflowV5>[0]['flowSamples']>[number];
type CounterSample = NonNullable<Parameters<typeof encodeSflowV5>[0]['counterSamples']>[number];

/** Counter samples every 20 s of event time (the sFlow agents' usual polling interval). */
const COUNTER_INTERVAL_MS = 20_000;
/** One enormous flow never floods a slot with samples. */
const MAX_SAMPLES_PER_FLOW = 1000;

interface Source {
  sequence: number;
  pool: number;
}

/**
 * sFlow v5 agent: packet sampling, 1 in `samplingRate` packets. Each flow gives Poisson(packets / N)
 * flow samples (the number of its packets the agent would have sampled), each a packet header of
 * the flow with the flow's mean frame size; sample sequence numbers and sample pools (packets seen)
 * per data source (the input interface), a datagram sequence per agent, uptime since boot in event
 * time. Every 20 s of event time it adds generic interface counters of its uplink.
 */
export class SflowExporter implements ExporterEncoder {
  dropped = 0;
  private sequence = 1;
  private readonly sources = new Map<number, Source>();
  private readonly rng: Random;
  private countersAtMs = Number.NEGATIVE_INFINITY;
  private counterSequence = 0;
  private uplinkOctets = 0;
  private uplinkPackets = 0;

  constructor(
    readonly exporter: SimExporter,
    private readonly bootMs: number,
    seed: number,
  ) {
    this.rng = Random.derive(seed, 'sflow', exporter.supplierId, exporter.id);
  }

  encode(records: readonly FlowRecord[], exportMs: number, out: Datagram[]): void {
    const n = this.exporter.samplingRate;
    const samples: SflowSample[] = [];
    for (const r of records) {
      let source = this.sources.get(r.in_if);
      if (!source) this.sources.set(r.in_if, (source = { sequence: 0, pool: 0 }));
      source.pool += r.packets;
      this.uplinkOctets += r.bytes;
      this.uplinkPackets += r.packets;
      const k = Math.min(MAX_SAMPLES_PER_FLOW, this.rng.poisson(r.packets / n));
      if (k === 0) continue;
      const frame = Math.min(1518, Math.round(r.bytes / r.packets) + 14);
      const flow: Partial<FlowRecord> = {
        src_addr: r.src_addr,
        dst_addr: r.dst_addr,
        etype: r.etype,
        proto: r.proto,
        src_port: r.src_port,
        dst_port: r.dst_port,
        tcp_flags: r.tcp_flags,
        icmp_type: r.icmp_type,
        icmp_code: r.icmp_code,
        ip_tos: r.ip_tos,
        in_if: r.in_if,
        out_if: r.out_if,
        src_net: r.src_net,
        dst_net: r.dst_net,
        src_as: r.src_as,
        dst_as: r.dst_as,
        bytes: frame,
      };
      for (let i = 0; i < k; i++) {
        source.sequence++;
        samples.push({ flow, samplingRate: n, samplePool: source.pool, sequence: source.sequence, sourceIdIndex: r.in_if });
      }
    }
    const counters: CounterSample[] = [];
    if (exportMs - this.countersAtMs >= COUNTER_INTERVAL_MS) {
      this.countersAtMs = exportMs;
      this.counterSequence++;
      counters.push({
        counters: {
          sampleSequenceNum: this.counterSequence,
          sourceIdType: 0,
          sourceIdIndex: UPLINK_IF,
          ifIndex: UPLINK_IF,
          ifType: 6,
          ifSpeed: 10_000_000_000,
          ifDirection: 1,
          ifStatus: 3,
          ifInOctets: this.uplinkOctets,
          ifInUcastPkts: this.uplinkPackets % 0x1_0000_0000,
        },
      });
    }
    const uptimeMs = (exportMs - this.bootMs) >>> 0;
    for (let i = 0; i < samples.length || counters.length > 0; ) {
      // Datagram header 28 bytes (IPv4 agent), a counter sample 108.
      let room = MAX_DATAGRAM_BYTES - 28 - (counters.length > 0 ? 108 : 0);
      const from = i;
      while (i < samples.length) {
        const size = sampleBytes((samples[i] as SflowSample).flow);
        if (size > room) break;
        room -= size;
        i++;
      }
      const flowSamples = samples.slice(from, i);
      const counterSamples = counters.splice(0);
      out.push({
        exporter: this.exporter,
        port: 'sflow',
        bytes: encodeSflowV5({ agentAddress: this.exporter.address, sequence: this.sequence, uptimeMs, flowSamples, counterSamples }),
        records: flowSamples.length,
      });
      this.sequence = (this.sequence + 1) >>> 0;
    }
  }
}

/** Encoded size of a flow sample (sflow_version_5.txt): sample and record headers, the padded packet header, extended records. */
function sampleBytes(f: Partial<FlowRecord>): number {
  const v6 = f.etype === 0x86dd;
  const l4 = f.proto === 6 ? 20 : f.proto === 17 || f.proto === 1 || f.proto === 58 ? 8 : 0;
  const frame = 14 + (v6 ? 40 : 20) + l4;
  let n = 8 + 32 + 8 + 16 + Math.ceil(frame / 4) * 4;
  if (f.src_net || f.dst_net) n += 8 + 16; // extended router, IPv4 next hop
  if (f.src_as || f.dst_as) n += 8 + 48; // extended gateway with a two-AS path
  return n;
}
