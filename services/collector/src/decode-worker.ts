/**
 * Entry of a decode worker thread (started by DecodeWorkers): decodes batches of datagrams with
 * its own DecodeStage and posts back the encoded `flows` message values, all of one batch in a
 * single transferred ArrayBuffer. Holds the template state of the exporters hashed to it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { DecodeContext } from '@flowwatch/decoders';
import { type BatchDatagram, type DecodedDatagram, DecodeStage } from './decode-stage.js';
import { DATAGRAM_INFO, type DecodedBatch, PROTOCOL_CODES, type ToWorker, type WireError, type WorkerInit } from './decode-wire.js';

const init = workerData as WorkerInit;
const stage = new DecodeStage(init.limits, init.flowsPerMessage, init.flowsEncoding);
const port = parentPort;
if (!port) throw new Error('decode-worker.ts runs only as a worker thread');

port.on('message', (m: ToWorker) => {
  if (m.type === 'batch') {
    const data = new Uint8Array(m.data);
    const n = m.lengths.length;
    const info = new Int32Array(n * DATAGRAM_INFO);
    const decodeSeconds = new Float64Array(n);
    const values: Buffer[] = [];
    const errors: WireError[] = [];
    const batch: BatchDatagram[] = [];
    const index: number[] = [];
    let total = 0;
    let offset = 0;
    for (let i = 0; i < n; i++) {
      const length = m.lengths[i] as number;
      const buf = data.subarray(offset, offset + length);
      offset += length;
      const e = m.exporters[m.exporterIndex[i] as number];
      if (!e) continue;
      const ctx: DecodeContext = {
        exporter: e.address,
        receivedNs: m.receivedNs[i] as number,
        supplierId: e.supplierId,
        exporterId: e.exporterId,
        defaultSamplingRate: e.defaultSamplingRate,
      };
      batch.push({ buf, ctx, stampNs: m.stampNs ? m.stampNs[i] : undefined });
      index.push(i);
    }
    const decoded = stage.processBatch(batch);
    for (let k = 0; k < decoded.length; k++) {
      const out = decoded[k] as DecodedDatagram;
      const i = index[k] as number;
      info[i * DATAGRAM_INFO] = out.protocol ? PROTOCOL_CODES.indexOf(out.protocol) : 0;
      info[i * DATAGRAM_INFO + 1] = out.records;
      info[i * DATAGRAM_INFO + 2] = out.messages.length;
      info[i * DATAGRAM_INFO + 3] = out.messageRecords;
      decodeSeconds[i] = out.decodeSeconds;
      for (const v of out.messages) {
        values.push(v);
        total += v.length;
      }
      // The bytes that failed, copied: a view would drag the whole batch buffer along.
      const buf = (batch[k] as BatchDatagram).buf;
      for (const err of out.errors) {
        errors.push({ index: i, reason: err.reason, detail: err.detail, count: err.count, raw: (err.raw ?? buf).slice() });
      }
    }
    const payload = new ArrayBuffer(total);
    const bytes = new Uint8Array(payload);
    const valueLengths = new Uint32Array(values.length);
    let at = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as Buffer;
      bytes.set(v, at);
      at += v.length;
      valueLengths[i] = v.length;
    }
    const reply: DecodedBatch = { type: 'decoded', payload, valueLengths, info, decodeSeconds, errors };
    port.postMessage(reply, [payload, valueLengths.buffer, info.buffer, decodeSeconds.buffer]);
  } else if (m.type === 'expire') {
    const errors: WireError[] = stage.expire(m.nowNs).map((e) => ({
      index: -1,
      reason: e.reason,
      detail: e.detail,
      count: e.count,
      raw: (e.raw ?? new Uint8Array()).slice(),
      exporter: e.exporter,
    }));
    port.postMessage({ type: 'expired', errors, stats: stage.stats() });
  }
});
port.postMessage({ type: 'ready' });
