import { describe, expect, it } from 'vitest';
import { exportTimeNs } from './flow-decoder.js';
import { encodeIpfix } from './ipfix/index.js';
import { encodeNetflowV5 } from './netflow5/index.js';
import { encodeNetflowV9 } from './netflow9/index.js';
import { encodeSflowV5 } from './sflow5/index.js';

describe('exportTimeNs', () => {
  it('reads the export time of NetFlow v5 (with nanoseconds), v9 and IPFIX headers', () => {
    const secs = 1_795_514_401;
    expect(
      exportTimeNs(
        encodeNetflowV5({ sysUptimeMs: 5000, unixSecs: secs, unixNsecs: 250_000_000, flowSequence: 0 }, [{ src_addr: '10.0.0.1' }]),
      ),
    ).toBe(secs * 1e9 + 250_000_000);
    expect(exportTimeNs(encodeNetflowV9({ sequence: 1, sourceId: 0, unixSecs: secs, sysUptimeMs: 5000 }, []))).toBe(secs * 1e9);
    expect(exportTimeNs(encodeIpfix({ sequence: 1, observationDomainId: 1, exportTime: secs }, []))).toBe(secs * 1e9);
  });

  it('has none for sFlow, garbage or a truncated header', () => {
    expect(exportTimeNs(encodeSflowV5({ agentAddress: '127.0.0.1', sequence: 1, uptimeMs: 5 }))).toBeUndefined();
    expect(exportTimeNs(new Uint8Array([1, 2, 3, 4, 5, 6]))).toBeUndefined();
    expect(exportTimeNs(new Uint8Array([0, 5, 0, 1, 0, 0, 0, 0, 0, 0]))).toBeUndefined();
    expect(exportTimeNs(new Uint8Array([0, 10, 0, 16, 0, 0]))).toBeUndefined();
  });
});
