import { readdirSync, readFileSync } from 'node:fs';
import { configSchema } from '@flowwatch/config';
import {
  DECODE_REASONS,
  type DecodeContext,
  type DecodeReason,
  detectProtocol,
  type EncoderField,
  type EncoderSet,
  type EncoderTemplate,
  encodeIpfix,
  encodeNetflowV5,
  encodeNetflowV9,
  encodeSflowV5,
  FlowDecoder,
  type FlowProtocol,
  parsePcap,
  type TemplateLimits,
} from '@flowwatch/decoders';
import { decodeFlows, encodeFlows } from '@flowwatch/flow-schema';
import { seededRandom as rng } from '@flowwatch/test-support';
import { describe, expect, it } from 'vitest';

/**
 * The million-case decoder fuzz of `pnpm test:chaos` (issue 8, docs/reliability.md). CI keeps its
 * cheaper per-decoder fuzz (20,000 cases each, packages/decoders); this run feeds the collector's
 * FlowDecoder, with the collector's default template limits, FLOWWATCH_FUZZ_CASES datagrams
 * (1,000,000 by default) of every protocol: random bytes behind a valid version, and mutations
 * (byte and bit changes, truncations, length and count fields set to 0/0xffff, splices) of real
 * datagrams from the shared corpus and of the encoders' output, plus generated template sets with
 * zero-length fields, huge template ids and many source ids. Nothing may throw, every rejection
 * must carry a known reason, every flow must serialise for Kafka, the template state must stay
 * within its limits and the heap must stay bounded. The figures are printed.
 */

const CASES = Number(process.env.FLOWWATCH_FUZZ_CASES ?? 1_000_000);
const CORPUS = new URL('../../../shared/corpus/', import.meta.url);
const PROTOCOLS: FlowProtocol[] = ['NETFLOW_V5', 'NETFLOW_V9', 'IPFIX', 'SFLOW_5'];
const gc = (globalThis as { gc?: () => void }).gc;

/** Every datagram of the corpus (raw payloads and the UDP payloads of its pcaps), by protocol. */
function corpusSeeds(): Map<FlowProtocol, Uint8Array[]> {
  const out = new Map<FlowProtocol, Uint8Array[]>(PROTOCOLS.map((p) => [p, []]));
  const add = (buf: Uint8Array) => {
    const p = detectProtocol(buf);
    if (p) out.get(p)?.push(buf);
  };
  const walk = (dir: URL) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory()) walk(new URL(`${e.name}/`, dir));
      else if (e.name.endsWith('.dat') || e.name.endsWith('.bin')) add(new Uint8Array(readFileSync(new URL(e.name, dir))));
      else if (e.name.endsWith('.pcap')) for (const p of parsePcap(new Uint8Array(readFileSync(new URL(e.name, dir))))) add(p.payload);
    }
  };
  walk(CORPUS);
  return out;
}

const IDS = [1, 2, 4, 5, 6, 7, 8, 10, 11, 12, 14, 15, 21, 22, 27, 28, 32, 34, 48, 56, 58, 60, 89, 95, 150, 152, 154, 156, 160, 305, 315];
const LENGTHS = [0, 1, 2, 3, 4, 6, 8, 16, 65535];

/** A template datagram as a hostile exporter would send it: odd fields, huge ids, floods, data. */
function generatedTemplates(rand: () => number, v9: boolean, sequence: number): Uint8Array {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const field = (): EncoderField => ({
    id: pick(IDS),
    length: rand() < 0.6 ? pick([1, 2, 4, 8, 16]) : pick(LENGTHS),
    ...(!v9 && rand() < 0.1 ? { enterprise: pick([29305, 5951, 0xffffffff]) } : {}),
  });
  const templates: EncoderTemplate[] = [];
  const n = rand() < 0.1 ? 64 : 1 + Math.floor(rand() * 4);
  for (let t = 0; t < n; t++) {
    const fields = Array.from({ length: Math.floor(rand() * 24) }, field);
    const id = rand() < 0.2 ? 65535 - Math.floor(rand() * 64) : 256 + Math.floor(rand() * 4096);
    templates.push({ id, fields, ...(rand() < 0.2 ? { scopeFields: [field()].slice(0, Math.floor(rand() * 2)) } : {}) });
  }
  const sets: EncoderSet[] = [{ kind: 'templates', templates }];
  for (const t of templates.slice(0, 2)) {
    sets.push({
      kind: 'data',
      template: t,
      records: Array.from({ length: Math.floor(rand() * 5) }, () => ({ bytes: Math.floor(rand() * 1e9), src_addr: '10.9.8.7' })),
    });
  }
  if (!v9 && rand() < 0.1) sets.push({ kind: 'withdraw', templateIds: [rand() < 0.3 ? 2 : (templates[0]?.id ?? 256)] });
  if (rand() < 0.3) sets.reverse();
  // Many source ids / observation domains: a template flood spreads over domains.
  const domain = Math.floor(rand() * 50_000);
  try {
    return v9
      ? encodeNetflowV9({ sequence, sourceId: domain, unixSecs: 1_700_000_000, sysUptimeMs: Math.floor(rand() * 2 ** 32) }, sets)
      : encodeIpfix({ sequence, observationDomainId: domain, exportTime: 1_700_000_000 }, sets);
  } catch {
    // The encoder refuses what it cannot write (a set over 64 KiB): send the templates alone.
    return v9
      ? encodeNetflowV9({ sequence, sourceId: domain, unixSecs: 1_700_000_000, sysUptimeMs: 1 }, sets.slice(0, 1))
      : encodeIpfix({ sequence, observationDomainId: domain, exportTime: 1_700_000_000 }, sets.slice(0, 1));
  }
}

function encoderSeeds(): Map<FlowProtocol, Uint8Array[]> {
  const rand = rng(7);
  const flow = (i: number) => ({
    src_addr: i % 3 ? `10.0.${i}.1` : `2001:db8::${i}`,
    dst_addr: i % 3 ? `10.1.${i}.2` : `2001:db8::1:${i}`,
    src_port: 1000 + i,
    dst_port: 443,
    proto: [6, 17, 1, 58][i % 4] as number,
    bytes: 1000 * i,
    packets: i,
  });
  const v4 = Array.from({ length: 12 }, (_, i) => ({ ...flow(i), src_addr: `10.0.${i}.1`, dst_addr: `10.1.${i}.2` }));
  return new Map<FlowProtocol, Uint8Array[]>([
    ['NETFLOW_V5', [encodeNetflowV5({ sysUptimeMs: 1000, unixSecs: 1_700_000_000, flowSequence: 1 }, v4)]],
    ['NETFLOW_V9', Array.from({ length: 8 }, (_, i) => generatedTemplates(rand, true, i))],
    ['IPFIX', Array.from({ length: 8 }, (_, i) => generatedTemplates(rand, false, i))],
    [
      'SFLOW_5',
      [
        encodeSflowV5({
          agentAddress: '192.0.2.9',
          sequence: 1,
          uptimeMs: 1,
          flowSamples: Array.from({ length: 6 }, (_, i) => ({ expanded: i % 2 === 1, outerVlanId: i === 2 ? 5 : 0, flow: flow(i) })),
          counterSamples: [{ counters: { ifIndex: 1 } }],
        }),
      ],
    ],
  ]);
}

const VERSION_PREFIX: Record<FlowProtocol, number[]> = {
  NETFLOW_V5: [0, 5],
  NETFLOW_V9: [0, 9],
  IPFIX: [0, 10],
  SFLOW_5: [0, 0, 0, 5],
};

type Strategy = 'random' | 'bytes' | 'bits' | 'truncate' | 'length_field' | 'splice' | 'generated' | 'verbatim';

function hostile(rand: () => number, protocol: FlowProtocol, seeds: Uint8Array[], i: number): { buf: Uint8Array; strategy: Strategy } {
  const seed = seeds[Math.floor(rand() * seeds.length)] as Uint8Array;
  const r = rand();
  if (r < 0.1) {
    const buf = new Uint8Array(Math.floor(rand() * 1500));
    for (let j = 0; j < buf.length; j++) buf[j] = (rand() * 256) | 0;
    buf.set(VERSION_PREFIX[protocol].slice(0, buf.length));
    return { buf, strategy: 'random' };
  }
  if (r < 0.35) {
    const buf = seed.slice();
    for (let k = 1 + Math.floor(rand() * 8); k > 0 && buf.length > 0; k--) buf[Math.floor(rand() * buf.length)] = (rand() * 256) | 0;
    return { buf, strategy: 'bytes' };
  }
  if (r < 0.45) {
    const buf = seed.slice();
    for (let k = 1 + Math.floor(rand() * 3); k > 0 && buf.length > 0; k--) buf[Math.floor(rand() * buf.length)]! ^= 1 << ((rand() * 8) | 0);
    return { buf, strategy: 'bits' };
  }
  if (r < 0.6) return { buf: seed.slice(0, Math.floor(rand() * seed.length)), strategy: 'truncate' };
  if (r < 0.8) {
    // Lengths, counts, ids and field lengths are 16- or 32-bit words on even offsets.
    const buf = seed.slice();
    const at = 2 * Math.floor((rand() * Math.max(0, buf.length - 1)) / 2);
    const v = [0, 0xffff, 1, 4, (rand() * 65536) | 0][Math.floor(rand() * 5)] as number;
    if (at + 1 < buf.length) {
      buf[at] = v >> 8;
      buf[at + 1] = v & 0xff;
    }
    return { buf, strategy: 'length_field' };
  }
  if (r < 0.88) {
    const other = seeds[Math.floor(rand() * seeds.length)] as Uint8Array;
    const a = Math.floor(rand() * seed.length);
    const b = Math.floor(rand() * other.length);
    const buf = new Uint8Array(a + other.length - b);
    buf.set(seed.subarray(0, a));
    buf.set(other.subarray(b), a);
    return { buf, strategy: 'splice' };
  }
  if (r < 0.96 && (protocol === 'NETFLOW_V9' || protocol === 'IPFIX'))
    return { buf: generatedTemplates(rand, protocol === 'NETFLOW_V9', i), strategy: 'generated' };
  // Valid datagrams keep template state alive so that mutated data sets meet real templates.
  return { buf: seed, strategy: 'verbatim' };
}

/** The test runs for minutes: let vitest's worker answer its RPC now and then. */
const yieldToVitest = () => new Promise<void>((resolve) => setImmediate(resolve));

function heapMb(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

describe('a template flood with the default limits', () => {
  it('stays within maxTemplateBytes: 4,000 source ids x 64 templates of 40 fields, huge template ids', async () => {
    const limits: TemplateLimits = configSchema.parse({}).collector.templates;
    const decoder = new FlowDecoder(limits);
    const fields: EncoderField[] = Array.from({ length: 40 }, (_, k) => ({ id: IDS[k % IDS.length] as number, length: 4 }));
    const before = heapMb();
    let sent = 0;
    let refused = 0;
    const t0 = performance.now();
    for (let source = 0; source < 4000; source++) {
      const templates = Array.from({ length: 64 }, (_, k): EncoderTemplate => ({ id: 65535 - k, fields }));
      const v9 = source % 2 === 0;
      const buf = v9
        ? encodeNetflowV9({ sequence: source, sourceId: source, unixSecs: 1_700_000_000, sysUptimeMs: 1 }, [
            { kind: 'templates', templates },
          ])
        : encodeIpfix({ sequence: source, observationDomainId: source, exportTime: 1_700_000_000 }, [{ kind: 'templates', templates }]);
      const out = decoder.decode(buf, {
        exporter: '192.0.2.1',
        receivedNs: 1.7e18,
        supplierId: 's',
        exporterId: 'e',
        defaultSamplingRate: 0,
      });
      sent += templates.length;
      refused += out.errors.reduce((a, e) => a + (e.reason === 'template_limit' ? e.count : 0), 0);
      expect(out.errors.filter((e) => e.reason !== 'template_limit')).toEqual([]);
      if (source % 500 === 0) await yieldToVitest();
    }
    const seconds = (performance.now() - t0) / 1000;
    const s = decoder.stats();
    const after = heapMb();
    console.log(
      `template flood: ${sent.toLocaleString('en-GB')} templates in ${seconds.toFixed(1)} s; held ${s.templates.toLocaleString('en-GB')} in ${s.domains} domains, estimated ${(s.templateBytes / 2 ** 20).toFixed(1)} MiB (budget 2 x ${limits.maxTemplateBytes / 2 ** 20} MiB), refused ${refused}; heap ${before.toFixed(1)} -> ${after.toFixed(1)} MiB (${(((after - before) * 2 ** 20) / s.templates).toFixed(0)} bytes per template held)`,
    );
    expect(s.templateBytes).toBeLessThanOrEqual(2 * limits.maxTemplateBytes);
    expect(s.templates).toBeLessThan(sent);
    // The estimate is within 50% of the heap measured (the budget is a bound in the right unit).
    expect(after - before).toBeLessThan((1.5 * s.templateBytes) / 2 ** 20 + 16);
  });
});

describe(`decoders under hostile input (${CASES.toLocaleString('en-GB')} datagrams)`, () => {
  it('never throw, reject with a known reason, keep template state within its limits and the heap bounded', async () => {
    expect(gc, 'run with --expose-gc (pnpm test:chaos)').toBeTypeOf('function');
    const limits: TemplateLimits = configSchema.parse({}).collector.templates;
    const decoder = new FlowDecoder(limits);
    const corpus = corpusSeeds();
    const encoded = encoderSeeds();
    const seeds = new Map(PROTOCOLS.map((p) => [p, [...(corpus.get(p) ?? []), ...(encoded.get(p) ?? [])]]));
    for (const p of PROTOCOLS) expect(corpus.get(p)?.length ?? 0, `corpus datagrams of ${p}`).toBeGreaterThan(0);
    const rand = rng(0xc4a05);
    const exporters = Array.from({ length: 8 }, (_, i) => `192.0.2.${i + 1}`);
    const baseNs = 1_700_000_000e9;
    const ctx = (i: number): DecodeContext => ({
      exporter: exporters[i % exporters.length] as string,
      receivedNs: baseNs + i * 1e6, // 1 ms per datagram: held sets expire after pendingTtlMs of datagrams
      supplierId: 'sup',
      exporterId: 'exp',
      defaultSamplingRate: 0,
    });
    // Every exporter gets the valid corpus first (templates before their data, as the files are ordered).
    let n = 0;
    for (const p of PROTOCOLS) for (const s of seeds.get(p) ?? []) for (let e = 0; e < exporters.length; e++) decoder.decode(s, ctx(n++));

    const reasons = new Map<DecodeReason, number>();
    const byStrategy = new Map<Strategy, { cases: number; flows: number; errors: number }>();
    const byProtocol = new Map<FlowProtocol, { cases: number; flows: number; errors: number; silent: number }>(
      PROTOCOLS.map((p) => [p, { cases: 0, flows: 0, errors: 0, silent: 0 }]),
    );
    const failures: string[] = [];
    const heap: { at: number; mb: number }[] = [{ at: 0, mb: heapMb() }];
    let maxTemplates = 0;
    let maxDomains = 0;
    let maxPending = 0;
    const known = new Set<string>(DECODE_REASONS);
    const t0 = performance.now();
    const check = (cond: boolean, what: () => string) => {
      if (!cond && failures.length < 20) failures.push(what());
    };

    for (let i = 0; i < CASES; i++) {
      const protocol = PROTOCOLS[i % PROTOCOLS.length] as FlowProtocol;
      const { buf, strategy } = hostile(rand, protocol, seeds.get(protocol) as Uint8Array[], i);
      let out: ReturnType<FlowDecoder['decode']>;
      try {
        out = decoder.decode(buf, ctx(n + i));
      } catch (err) {
        check(false, () => `case ${i} (${protocol}, ${strategy}) threw ${(err as Error).stack}\n${Buffer.from(buf).toString('hex')}`);
        continue;
      }
      const p = byProtocol.get(protocol)!;
      p.cases++;
      p.flows += out.flows.length;
      p.errors += out.errors.length;
      if (out.flows.length === 0 && out.errors.length === 0) p.silent++;
      let s = byStrategy.get(strategy);
      if (!s) byStrategy.set(strategy, (s = { cases: 0, flows: 0, errors: 0 }));
      s.cases++;
      s.flows += out.flows.length;
      s.errors += out.errors.length;
      for (const e of out.errors) {
        check(
          known.has(e.reason) &&
            Number.isInteger(e.count) &&
            e.count >= 1 &&
            // A rejection stands for records the bytes could hold (or NetFlow v5's 30), never for any count the sender claims.
            e.count <= Math.max(30, buf.length) &&
            typeof e.detail === 'string' &&
            e.detail !== '',
          () =>
            `case ${i} (${protocol}, ${strategy}): rejection without a known reason or count: ${JSON.stringify({ ...e, raw: undefined })}`,
        );
        reasons.set(e.reason, (reasons.get(e.reason) ?? 0) + e.count);
      }
      // Whatever decodes must be writable to Kafka and read back as the same number of records.
      if (out.flows.length > 0 && i % 16 === 0) {
        const back = decodeFlows(encodeFlows(out.flows));
        check(
          back.badLines === 0 && back.records.length === out.flows.length,
          () => `case ${i} (${protocol}, ${strategy}): flows do not serialise`,
        );
      }
      if (i % 1000 === 999) {
        // As the collector's timer does: held data sets past their time-out become rejections.
        for (const e of decoder.expire(baseNs + (n + i) * 1e6).errors) reasons.set(e.reason, (reasons.get(e.reason) ?? 0) + e.count);
        const st = decoder.stats();
        maxTemplates = Math.max(maxTemplates, st.templates);
        maxDomains = Math.max(maxDomains, st.domains);
        maxPending = Math.max(maxPending, st.pendingSets);
        // Two template decoders (NetFlow v9, IPFIX), each within the limits.
        check(st.domains <= 2 * limits.maxDomains, () => `case ${i}: ${st.domains} domains`);
        check(st.pendingSets <= 2 * limits.maxPendingSets, () => `case ${i}: ${st.pendingSets} held sets`);
        check(st.templates <= 2 * limits.maxDomains * limits.maxTemplatesPerDomain, () => `case ${i}: ${st.templates} templates`);
      }
      if ((i + 1) % Math.max(1, Math.floor(CASES / 10)) === 0) heap.push({ at: i + 1, mb: heapMb() });
      if (i % 5000 === 0) await yieldToVitest();
    }
    const seconds = (performance.now() - t0) / 1000;
    // Whatever is still held for a template ends as a counted rejection too.
    for (const e of decoder.expire(Number.MAX_VALUE).errors) reasons.set(e.reason, (reasons.get(e.reason) ?? 0) + e.count);
    check(decoder.stats().pendingSets === 0, () => 'held sets left after expiring everything');

    const total = [...byProtocol.values()].reduce((a, p) => a + p.cases, 0);
    const rejected = [...reasons.values()].reduce((a, b) => a + b, 0);
    const lines = [
      `decoder fuzz: ${total.toLocaleString('en-GB')} datagrams in ${seconds.toFixed(1)} s (${Math.round(total / seconds).toLocaleString('en-GB')}/s), load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
      ...[...byProtocol].map(
        ([p, s]) =>
          `  ${p.padEnd(11)} ${String(s.cases).padStart(8)} datagrams ${String(s.flows).padStart(9)} flows ${String(s.errors).padStart(8)} rejections ${String(s.silent).padStart(7)} with neither (templates or counters only)`,
      ),
      ...[...byStrategy].map(
        ([k, s]) =>
          `  ${k.padEnd(12)} ${String(s.cases).padStart(8)} datagrams ${String(s.flows).padStart(9)} flows ${String(s.errors).padStart(8)} rejections`,
      ),
      `  rejections by reason (${rejected.toLocaleString('en-GB')}): ${[...reasons].map(([r, c]) => `${r} ${c}`).join(', ')}`,
      `  template state at most: ${maxTemplates} templates, ${maxDomains} domains, ${maxPending} held sets; now ${JSON.stringify(decoder.stats())}`,
      `  heap used (MiB, after gc) per tenth: ${heap.map((h) => h.mb.toFixed(1)).join(' ')}`,
    ];
    console.log(lines.join('\n'));

    expect(failures).toEqual([]);
    expect(total).toBe(CASES);
    // Every protocol and every kind of mutation decoded something and rejected something.
    for (const [p, s] of byProtocol) expect(s.flows > 0 && s.errors > 0, p).toBe(true);
    for (const r of ['truncated', 'bad_version', 'bad_length', 'bad_count', 'template_invalid', 'template_not_found'] as const)
      expect(reasons.get(r) ?? 0, r).toBeGreaterThan(0);
    // Bounded: beyond the first tenth (caches warm), the heap grows by less than the two template
    // budgets (NetFlow v9 and IPFIX) and 64 MiB for everything else.
    const warm = heap[1]?.mb ?? heap[0]!.mb;
    const last = heap[heap.length - 1]!.mb;
    expect(last - warm).toBeLessThan((2 * limits.maxTemplateBytes) / 2 ** 20 + 64);
  });
});
