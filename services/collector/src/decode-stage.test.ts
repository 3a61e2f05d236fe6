import { DEFAULT_TEMPLATE_LIMITS, type EncoderTemplate, encodeIpfix } from '@flowwatch/decoders';
import { decodeFlows } from '@flowwatch/flow-schema';
import { describe, expect, it } from 'vitest';
import { type BatchDatagram, DecodeStage } from './decode-stage.js';

const TEMPLATE: EncoderTemplate = {
  id: 256,
  fields: [
    { id: 8, length: 4 },
    { id: 12, length: 4 },
    { id: 1, length: 8 },
    { id: 2, length: 8 },
  ],
};
const address = (e: number) => `192.0.2.${e}`;
const ctx = (e: number) => ({ exporter: address(e), receivedNs: 1e18, supplierId: 's', exporterId: `e${e}`, defaultSamplingRate: 0 });
/** A datagram of exporter `e` with its template and `count` records whose bytes count up from `first`. */
const datagram = (e: number, first: number, count: number): BatchDatagram => ({
  buf: encodeIpfix({ sequence: first, observationDomainId: 7, exportTime: 1_800_000_000 }, [
    { kind: 'templates', templates: [TEMPLATE] },
    {
      kind: 'data',
      template: TEMPLATE,
      records: Array.from({ length: count }, (_, k) => ({ src_addr: address(e), dst_addr: '10.0.0.1', bytes: first + k, packets: 1 })),
    },
  ]),
  ctx: ctx(e),
});

describe('DecodeStage.processBatch', () => {
  it("packs one exporter's records across its datagrams into full messages, in order, without mixing exporters", () => {
    const stage = new DecodeStage(DEFAULT_TEMPLATE_LIMITS, 100, 'binary');
    // Exporter 1: 5 datagrams of 30 records; exporter 2: 2 of 30, interleaved; then a datagram
    // that is not flow telemetry.
    const batch = [
      datagram(1, 0, 30),
      datagram(2, 1000, 30),
      datagram(1, 30, 30),
      datagram(1, 60, 30),
      datagram(1, 90, 30),
      datagram(2, 1030, 30),
      datagram(1, 120, 30),
      { buf: Buffer.from('not a flow'), ctx: ctx(3) },
    ];
    const out = stage.processBatch(batch);
    expect(out.map((d) => d.records)).toEqual([30, 30, 30, 30, 30, 30, 30, 0]);
    // Exporter 1's first 100 records leave with the datagram that completed them (its 4th), the
    // other 50 with its last; exporter 2's 60 with its last.
    expect(out.map((d) => d.messages.length)).toEqual([0, 0, 0, 0, 1, 1, 1, 0]);
    expect(out.map((d) => d.messageRecords)).toEqual([0, 0, 0, 0, 100, 60, 50, 0]);
    expect(out[7]?.errors[0]).toMatchObject({ reason: 'bad_version' });
    const recordsOf = (e: number) =>
      out.flatMap((d) => d.messages.flatMap((m) => decodeFlows(m).records)).filter((f) => f.exporter_id === `e${e}`);
    expect(recordsOf(1).map((f) => f.bytes)).toEqual(Array.from({ length: 150 }, (_, k) => k));
    expect(recordsOf(2).map((f) => f.bytes)).toEqual(Array.from({ length: 60 }, (_, k) => 1000 + k));
    // No message mixes exporters (each is produced under one exporter's key).
    for (const d of out) for (const m of d.messages) expect(new Set(decodeFlows(m).records.map((f) => f.exporter_id)).size).toBe(1);
  });

  it('splits a datagram larger than a message and stamps reception times first', () => {
    const stage = new DecodeStage(DEFAULT_TEMPLATE_LIMITS, 20);
    const out = stage.processBatch([{ ...datagram(1, 0, 45), stampNs: 5e17 }]);
    expect(out[0]?.messages.map((m) => decodeFlows(m).records.length)).toEqual([20, 20, 5]);
    expect(out[0]?.messageRecords).toBe(45);
    expect(out[0]?.messages.every((m) => decodeFlows(m).records.every((f) => f.time_received_ns === 5e17))).toBe(true);
  });
});
