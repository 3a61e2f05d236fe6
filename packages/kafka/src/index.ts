export { BufferedProducer, type OutgoingMessage, type ProducerOptions, type Refusal } from './buffered-producer.js';
export { createKafka, type KafkaConnection } from './client.js';
export { type ConsumedBatch, DurableConsumer, type DurableConsumerOptions } from './durable-consumer.js';
export { KafkaHealth } from './kafka-health.js';
export { type EnsureTopicsResult, ensureTopics, type TopicSpec } from './topics.js';
