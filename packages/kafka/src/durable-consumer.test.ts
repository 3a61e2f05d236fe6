import { describe, expect, it } from 'vitest';
import { isRebalanceError } from './durable-consumer.js';

// Shaped as kafkajs builds them (errors.js, retry/index.js): a KafkaJSProtocolError carries the
// protocol error's type; the retrier wraps it in a KafkaJSNonRetriableError with it as the cause.
const protocolError = (type: string) => Object.assign(new Error('The coordinator is not aware of this member'), { type, retriable: false });
const wrapped = (cause: Error) => Object.assign(new Error(cause.message), { name: 'KafkaJSNonRetriableError', cause });

describe('isRebalanceError', () => {
  it('recognises a commit refused because the member left the group, however wrapped', () => {
    const protocol = protocolError('UNKNOWN_MEMBER_ID');
    expect(isRebalanceError(protocol)).toBe(true);
    // As kafkajs's retry wraps it (retry/index.js): the protocol error is the cause.
    expect(isRebalanceError(wrapped(protocol))).toBe(true);
    expect(isRebalanceError({ type: 'ILLEGAL_GENERATION' })).toBe(true);
  });

  it('leaves other failures to crash', () => {
    expect(isRebalanceError(new Error('broker down'))).toBe(false);
    expect(isRebalanceError({ type: 'TOPIC_AUTHORIZATION_FAILED' })).toBe(false);
    expect(isRebalanceError(undefined)).toBe(false);
  });
});
