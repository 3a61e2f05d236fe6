import { KafkaJSNonRetriableError, KafkaJSProtocolError } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { isRebalanceError } from './durable-consumer.js';

describe('isRebalanceError', () => {
  it('recognises a commit refused because the member left the group, however wrapped', () => {
    const protocol = new KafkaJSProtocolError({
      message: 'The coordinator is not aware of this member',
      type: 'UNKNOWN_MEMBER_ID',
      code: 25,
      retriable: false,
    });
    expect(isRebalanceError(protocol)).toBe(true);
    // As kafkajs's retry wraps it (retry/index.js): the protocol error is the cause.
    expect(isRebalanceError(new KafkaJSNonRetriableError(protocol, { cause: protocol }))).toBe(true);
    expect(isRebalanceError({ type: 'ILLEGAL_GENERATION' })).toBe(true);
  });

  it('leaves other failures to crash', () => {
    expect(isRebalanceError(new Error('broker down'))).toBe(false);
    expect(isRebalanceError({ type: 'TOPIC_AUTHORIZATION_FAILED' })).toBe(false);
    expect(isRebalanceError(undefined)).toBe(false);
  });
});
