export { startTestApi, type TestApi, testAlert, testRegistry } from './api.js';
export { openTestClickHouse } from './clickhouse.js';
export { enrichedFlowRows, rawRowTimeMs, TEST_ORGS } from './enriched-flows.js';
export { testKafka, uniqueName } from './kafka.js';
export { silentLogger } from './logger.js';
export { ipv4Frame, type PcapPacket, udpDatagramFrame, writePcap } from './pcap-writer.js';
export { freePort } from './ports.js';
export { readTopic } from './read-topic.js';
export { type Conversation, syntheticTraffic } from './synthetic-traffic.js';
