/**
 * Entry of a decode worker thread (started by DecodeWorkers): decodes batches of datagrams with
 * its own DecodeStage and posts back the encoded `flows` message values, all of one batch in a
 * single transferred ArrayBuffer. Holds the template state of the exporters hashed to it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { DecodeContext } from '@flowwatch/decoders';
import { DecodeStage } from './decode-stage.js';
import { type DecodedBatch, PROTOCOL_CODES, type ToWorker, type WireError, type WorkerInit } from './decode-wire.js';

const init = workerData as WorkerInit;
const stage = new DecodeStage(init.limits, init.flowsPerMessage, init.flowsEncoding);
const port = parentPort;
if (!port) throw new Error('decode-worker.ts runs only as a worker thread');

port.on('message', (m: ToWorker) => {
  if (m.type === 'batch') {
    const data = new Uint8Array(m.data);
    const n = m.lengths.length;
    const info = new Int32Array(n * 3);
    const decodeSeconds = new Float64Array(n);
    const values: Buffer[] = [];
    const errors: WireError[] = [];
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
      const out = stage.process(buf, ctx, m.stampNs ? m.stampNs[i] : undefined);
      info[i * 3] = out.protocol ? PROTOCOL_CODES.indexOf(out.protocol) : 0;
      info[i * 3 + 1] = out.records;
      info[i * 3 + 2] = out.messages.length;
      decodeSeconds[i] = out.decodeSeconds;
      for (const v of out.messages) {
        values.push(v);
        total += v.length;
      }
      // The bytes that failed, copied: a view would drag the whole batch buffer along.
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
