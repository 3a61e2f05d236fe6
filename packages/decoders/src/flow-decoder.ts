import type { DecodeContext, DecodeOutput, TemplateLimits } from './common/types.js';
import { DEFAULT_TEMPLATE_LIMITS } from './common/types.js';
import { IpfixDecoder } from './ipfix/index.js';
import { decodeNetflowV5 } from './netflow5/index.js';
import { NetflowV9Decoder } from './netflow9/index.js';
import { decodeSflowV5 } from './sflow5/index.js';

export type FlowProtocol = 'NETFLOW_V5' | 'NETFLOW_V9' | 'IPFIX' | 'SFLOW_5';

/**
 * Which protocol a datagram speaks, from its version field: sFlow starts with a 32-bit version 5;
 * NetFlow and IPFIX with a 16-bit version (5, 9, 10). Any port may carry any of them.
 */
export function detectProtocol(buf: Uint8Array): FlowProtocol | undefined {
  if (buf.length < 4) return undefined;
  const v16 = ((buf[0] as number) << 8) | (buf[1] as number);
  if (v16 === 0) {
    const v32 = (((buf[2] as number) << 8) | (buf[3] as number)) >>> 0;
    return v32 === 5 ? 'SFLOW_5' : undefined;
  }
  if (v16 === 5) return 'NETFLOW_V5';
  if (v16 === 9) return 'NETFLOW_V9';
  if (v16 === 10) return 'IPFIX';
  return undefined;
}

/**
 * The export time a datagram's header states, in ns since the epoch: NetFlow v5 unix_secs and
 * unix_nsecs, NetFlow v9 unix_secs (RFC 3954 s5.1), IPFIX Export Time (RFC 7011 s3.1). Undefined
 * for sFlow (its header has only the agent's uptime), for anything else, and for a header too short
 * to hold it. The collector uses it for time-compressed simulations and replays.
 */
export function exportTimeNs(buf: Uint8Array): number | undefined {
  const protocol = detectProtocol(buf);
  const u32 = (o: number) =>
    (((buf[o] as number) << 24) | ((buf[o + 1] as number) << 16) | ((buf[o + 2] as number) << 8) | (buf[o + 3] as number)) >>> 0;
  switch (protocol) {
    case 'NETFLOW_V5':
      return buf.length >= 16 ? u32(8) * 1e9 + u32(12) : undefined;
    case 'NETFLOW_V9':
      return buf.length >= 12 ? u32(8) * 1e9 : undefined;
    case 'IPFIX':
      return buf.length >= 8 ? u32(4) * 1e9 : undefined;
    default:
      return undefined;
  }
}

/**
 * One decoder for every protocol, holding the template state of NetFlow v9 and IPFIX exporters.
 * Never throws: whatever is wrong with a datagram comes back as errors with reasons.
 */
export class FlowDecoder {
  private readonly v9: NetflowV9Decoder;
  private readonly ipfix: IpfixDecoder;

  constructor(limits: Partial<TemplateLimits> = {}) {
    const l = { ...DEFAULT_TEMPLATE_LIMITS, ...limits };
    this.v9 = new NetflowV9Decoder(l);
    this.ipfix = new IpfixDecoder(l);
  }

  decode(buf: Uint8Array, ctx: DecodeContext): DecodeOutput & { protocol: FlowProtocol | undefined } {
    const protocol = detectProtocol(buf);
    switch (protocol) {
      case 'NETFLOW_V5':
        return { protocol, ...decodeNetflowV5(buf, ctx) };
      case 'NETFLOW_V9':
        return { protocol, ...this.v9.decode(buf, ctx) };
      case 'IPFIX':
        return { protocol, ...this.ipfix.decode(buf, ctx) };
      case 'SFLOW_5':
        return { protocol, ...decodeSflowV5(buf, ctx) };
      default: {
        const version = buf.length >= 2 ? ((buf[0] as number) << 8) | (buf[1] as number) : -1;
        return {
          protocol: undefined,
          flows: [],
          errors: [
            {
              reason: buf.length < 4 ? 'truncated' : 'bad_version',
              detail: buf.length < 4 ? `datagram of ${buf.length} bytes` : `version ${version} is not NetFlow v5/v9, IPFIX or sFlow v5`,
              count: 1,
              raw: buf,
            },
          ],
        };
      }
    }
  }

  /** Data sets that waited too long for their template, as errors (with their bytes) to dead-letter. */
  expire(nowNs: number): DecodeOutput {
    const a = this.v9.expire(nowNs);
    const b = this.ipfix.expire(nowNs);
    return { flows: [...a.flows, ...b.flows], errors: [...a.errors, ...b.errors] };
  }

  stats(): { templates: number; templateBytes: number; domains: number; pendingSets: number } {
    const a = this.v9.stats();
    const b = this.ipfix.stats();
    return {
      templates: a.templates + b.templates,
      templateBytes: a.templateBytes + b.templateBytes,
      domains: a.domains + b.domains,
      pendingSets: a.pendingSets + b.pendingSets,
    };
  }
}
