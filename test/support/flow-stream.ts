import { emptyFlow, encodeFlows, type FlowRecord } from '@flowwatch/flow-schema';
import type { Kafka } from 'kafkajs';
import { testProducer } from './kafka.js';

export interface FlowStream {
  /** Flows sent so far and the sum of their bytes. */
  readonly sent: number;
  readonly bytes: number;
  /** Stops sending and waits until Kafka has every message sent. */
  stop(): Promise<{ sent: number; bytes: number }>;
}

/**
 * A steady stream of distinct flows to a topic: `messagesPerS` messages of `flowsPerMessage` flows,
 * paced from the start (a late tick sends at once), stamped with the time they are sent.
 * `flow(i)` may change flow number `i` (addresses, ports); `bytes` is set by the stream.
 */
export async function startFlowStream(
  kafka: Kafka,
  topic: string,
  options: { messagesPerS: number; flowsPerMessage: number; flow?: (i: number, base: FlowRecord) => FlowRecord },
): Promise<FlowStream> {
  const producer = await testProducer(kafka, { maxBufferedBytes: 256 << 20 });
  let sent = 0;
  let bytes = 0;
  let streaming = true;
  const start = Date.now();
  const loop = (async () => {
    for (let m = 0; streaming; m++) {
      const due = start + (m * 1000) / options.messagesPerS;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      if (!streaming) break;
      const now = Date.now();
      const records = Array.from({ length: options.flowsPerMessage }, (_, k) => {
        const i = m * options.flowsPerMessage + k;
        const base: FlowRecord = {
          ...emptyFlow('NETFLOW_V9'),
          time_received_ns: now * 1e6,
          src_addr: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
          dst_addr: '10.200.1.53',
          src_port: i % 65_000,
          dst_port: 443,
          proto: 6,
          packets: 1,
          supplier_id: 'supplier-a',
        };
        const record = { ...(options.flow ? options.flow(i, base) : base), bytes: 100 + (i % 1400) };
        bytes += record.bytes;
        return record;
      });
      producer.send(topic, [{ key: `k${m % 64}`, value: encodeFlows(records) }]);
      sent += records.length;
    }
  })();
  return {
    get sent() {
      return sent;
    },
    get bytes() {
      return bytes;
    },
    async stop() {
      streaming = false;
      await loop;
      await producer.flush();
      await producer.stop();
      return { sent, bytes };
    },
  };
}
