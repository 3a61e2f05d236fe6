/**
 * Test-only: run the Logstash netflow codec spec contexts of the shared corpus through our
 * decoders and line our flows up with Logstash's expected events.
 */
import type { FlowRecord } from '@flowwatch/flow-schema';
import type { DecodeError } from '../common/types.js';
import { IpfixDecoder } from '../ipfix/ipfix-decoder.js';
import { NetflowV9Decoder } from '../netflow9/netflow-v9-decoder.js';
import type { LogstashContext } from './test-corpus.js';
import { corpusFile, corpusJson, ctxFor, isFlowEvent, versionOf } from './test-corpus.js';

export const LOGSTASH = 'logstash-codec-netflow/';

export function logstashContexts(version: 9 | 10): LogstashContext[] {
  const all = corpusJson<LogstashContext[]>(`${LOGSTASH}EXPECTED_from_netflow_spec.json`);
  return all.filter((c) => c.files_in_order.length > 0 && c.files_in_order.every((f) => versionOf(corpusFile(LOGSTASH + f)) === version));
}

/** Feed a context's files, in order, to ONE decoder instance. */
export function runLogstash(c: LogstashContext): { flows: FlowRecord[]; errors: DecodeError[] } {
  const v9 = new NetflowV9Decoder();
  const ipfix = new IpfixDecoder();
  const flows: FlowRecord[] = [];
  const errors: DecodeError[] = [];
  for (const f of c.files_in_order) {
    const buf = corpusFile(LOGSTASH + f);
    const out = versionOf(buf) === 9 ? v9.decode(buf, ctxFor('192.0.2.1')) : ipfix.decode(buf, ctxFor('192.0.2.1'));
    flows.push(...out.flows);
    errors.push(...out.errors);
  }
  return { flows, errors };
}

/**
 * Logstash emits one event per data record, options records included, in decode order; we emit
 * flows only (options records set state). `optionEvents` are the Logstash event indices that are
 * options records; the result maps a Logstash event index to our flow index (-1 for options).
 * `biflow`: each forward flow of ours is followed by its RFC 5103 reverse flow.
 */
export function eventToFlowIndex(optionEvents: number[], biflow: boolean): (i: number) => number {
  return (i) => {
    if (optionEvents.includes(i)) return -1;
    const forward = i - optionEvents.filter((o) => o < i).length;
    return biflow ? forward * 2 : forward;
  };
}

export { isFlowEvent };
