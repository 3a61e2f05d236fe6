import { DEFAULT_TEMPLATE_LIMITS, type EncoderTemplate, encodeIpfix } from '@flowwatch/decoders';
import { decodeFlows } from '@flowwatch/flow-schema';
import { silentLogger } from '@flowwatch/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import type { DecodedDatagram } from './decode-stage.js';
import { limitsPerStage } from './decode-stage.js';
import { DecodeWorkers, hash, type Received } from './decode-workers.js';

const TEMPLATE: EncoderTemplate = {
  id: 256,
  fields: [
    { id: 8, length: 4 },
    { id: 12, length: 4 },
    { id: 1, length: 8 },
    { id: 2, length: 8 },
  ],
};
const exporterOf = (i: number) => ({ supplierId: 's', exporterId: `e${i}`, defaultSamplingRate: 0 });
const addressOf = (i: number) => `192.0.2.${i}`;
// Each exporter: its template alone, then data sets that only that template decodes.
const templateDatagram = (_i: number) =>
  Buffer.from(
    encodeIpfix({ sequence: 0, observationDomainId: 7, exportTime: 1_800_000_000 }, [{ kind: 'templates', templates: [TEMPLATE] }]),
  );
const dataDatagram = (i: number, seq: number) =>
  Buffer.from(
    encodeIpfix({ sequence: seq, observationDomainId: 7, exportTime: 1_800_000_000 }, [
      { kind: 'data', template: TEMPLATE, records: [{ src_addr: addressOf(i), dst_addr: '10.0.0.1', bytes: seq, packets: 1 }] },
    ]),
  );

let pool: DecodeWorkers | undefined;
afterEach(async () => {
  await pool?.stop();
  pool = undefined;
});

function start(options: { workers: number; queueDatagrams: number }) {
  const decoded: { r: Received; d: DecodedDatagram }[] = [];
  const lost: string[] = [];
  const p = new DecodeWorkers({
    ...options,
    limits: { ...DEFAULT_TEMPLATE_LIMITS, pendingTtlMs: 60_000 },
    flowsPerMessage: 100,
    logger: silentLogger,
    onDecoded: (r, d) => decoded.push({ r, d }),
    onExpired: () => {},
    onLost: (_r, reason) => lost.push(reason),
  });
  pool = p;
  return { p, decoded, lost };
}

describe('DecodeWorkers', () => {
  it("keeps each exporter's templates and order in one worker, across three workers", async () => {
    const { p, decoded } = start({ workers: 3, queueDatagrams: 1000 });
    await p.start();
    const exporters = 12;
    for (let i = 1; i <= exporters; i++) {
      expect(p.submit(templateDatagram(i), { exporter: exporterOf(i), address: addressOf(i), port: 4739, atMs: 1 }, 1, undefined)).toBe(
        'queued',
      );
    }
    for (let seq = 1; seq <= 20; seq++) {
      for (let i = 1; i <= exporters; i++) {
        p.submit(dataDatagram(i, seq), { exporter: exporterOf(i), address: addressOf(i), port: 4739, atMs: 1 }, 1, undefined);
      }
      // Spread over event-loop turns so that batches interleave.
      if (seq % 5 === 0) await new Promise((r) => setImmediate(r));
    }
    await p.idle();
    expect(decoded.flatMap((x) => x.d.errors)).toEqual([]);
    for (let i = 1; i <= exporters; i++) {
      const records = decoded
        .filter((x) => x.r.exporter.exporterId === `e${i}`)
        .flatMap((x) => x.d.messages.flatMap((m) => decodeFlows(m).records));
      // Every data set decoded (its template was there), in the order sent, with this exporter's identity.
      expect(records.map((f) => f.bytes)).toEqual(Array.from({ length: 20 }, (_, k) => k + 1));
      expect(records.every((f) => f.src_addr === addressOf(i) && f.exporter_id === `e${i}` && f.sampler_address === addressOf(i))).toBe(
        true,
      );
    }
    // The 12 addresses do not all hash to one worker (the test would prove nothing then).
    expect(new Set(Array.from({ length: exporters }, (_, i) => hash(addressOf(i + 1)) % 3)).size).toBe(3);
  });

  it('refuses datagrams beyond the bounded queue of a worker, and decodes the ones it took', async () => {
    const { p, decoded } = start({ workers: 1, queueDatagrams: 16 });
    await p.start();
    let accepted = 0;
    for (let k = 0; k < 100; k++) {
      if (
        p.submit(Buffer.from('not a flow'), { exporter: exporterOf(1), address: addressOf(1), port: 1, atMs: 1 }, 1, undefined) === 'queued'
      )
        accepted++;
    }
    expect(accepted).toBe(16);
    expect(p.depths()).toEqual([16]);
    await p.idle();
    expect(p.depths()).toEqual([0]);
    expect(decoded).toHaveLength(16);
    // Malformed input keeps its bytes and reason for the DLQ.
    expect(decoded[0]?.d.errors[0]).toMatchObject({ reason: 'bad_version', count: 1 });
    expect(Buffer.from(decoded[0]?.d.errors[0]?.raw ?? []).toString()).toBe('not a flow');
  });

  it('stop hands over everything submitted before it ends the workers', async () => {
    const { p, decoded, lost } = start({ workers: 2, queueDatagrams: 1000 });
    await p.start();
    for (let i = 1; i <= 4; i++)
      p.submit(templateDatagram(i), { exporter: exporterOf(i), address: addressOf(i), port: 1, atMs: 1 }, 1, undefined);
    for (let i = 1; i <= 4; i++)
      p.submit(dataDatagram(i, 1), { exporter: exporterOf(i), address: addressOf(i), port: 1, atMs: 1 }, 1, undefined);
    await p.stop();
    expect(decoded).toHaveLength(8);
    expect(decoded.reduce((a, x) => a + x.d.records, 0)).toBe(4);
    expect(lost).toEqual([]);
    expect(p.submit(dataDatagram(1, 2), { exporter: exporterOf(1), address: addressOf(1), port: 1, atMs: 1 }, 1, undefined)).toBe(
      'stopped',
    );
  });
});

describe('limitsPerStage', () => {
  it('splits the process-wide template bounds between the workers', () => {
    const l = limitsPerStage({ ...DEFAULT_TEMPLATE_LIMITS, maxDomains: 10_000, maxTemplateBytes: 128 << 20, maxPendingSets: 1024 }, 3);
    expect(l).toMatchObject({ maxDomains: 3334, maxTemplateBytes: Math.ceil((128 << 20) / 3), maxPendingSets: 342 });
    expect(l.maxTemplatesPerDomain).toBe(DEFAULT_TEMPLATE_LIMITS.maxTemplatesPerDomain);
    expect(limitsPerStage(DEFAULT_TEMPLATE_LIMITS, 1)).toEqual(DEFAULT_TEMPLATE_LIMITS);
  });
});
