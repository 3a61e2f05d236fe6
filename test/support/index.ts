export { startTestApi, type TestApi, testAlert, testRegistry } from './api.js';
export {
  type AggregatorSample,
  type AggregatorSamples,
  aggregatorSamples,
  type ChaosStage,
  type StoredTotals,
  sampleAggregator,
  sleep,
  startChaosStage,
  startStageAggregator,
  storedExactly,
  storedTotals,
  waitFor,
} from './chaos.js';
export { openTestClickHouse } from './clickhouse.js';
export { enrichedFlowRows, random as seededRandom, rawRowTimeMs, TEST_ORGS } from './enriched-flows.js';
export { type FlowStream, startFlowStream } from './flow-stream.js';
export { consumerLag, type FlowwatchProcess, startFlowwatch } from './flowwatch-process.js';
export { SERVICE_PRODUCER_OPTIONS, testKafka, testProducer, uniqueName } from './kafka.js';
export { silentLogger } from './logger.js';
export { ipv4Frame, type PcapPacket, udpDatagramFrame, writePcap } from './pcap-writer.js';
export { freePort } from './ports.js';
export { type PromSample, parsePrometheusText, sumOf } from './prometheus-text.js';
export { readTopic } from './read-topic.js';
export { dayStartAgo, hourStartAgo } from './recent-time.js';
export { type EventStream, openEventStream } from './sse.js';
export { type Conversation, syntheticTraffic } from './synthetic-traffic.js';
