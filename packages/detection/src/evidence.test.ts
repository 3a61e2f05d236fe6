import { Enricher } from '@flowwatch/enrichment';
import { describe, expect, it } from 'vitest';
import { RecentFlows } from './evidence.js';
import { flow, TUESDAY, testRegistry } from './test-network.js';

describe('RecentFlows evidence', () => {
  it("shows one conversation's records (sFlow samples of one transfer) as one row with their sum", () => {
    const enricher = new Enricher(testRegistry());
    const recent = new RecentFlows(64);
    const t = TUESDAY;
    for (let i = 0; i < 5; i++)
      recent.push(
        enricher.enrich(flow({ t: t + i * 100, src: '10.1.0.7', dst: '10.2.0.10', packets: 1024, bytes: 1_400_000 })),
        t + i * 100,
      );
    recent.push(enricher.enrich(flow({ t: t + 50, src: '10.1.0.8', dst: '10.2.0.10', packets: 2000, bytes: 3_000_000 })), t + 50);
    const e = recent.evidence(() => true, {});
    expect(e.top_flows.map((f) => [f.src_addr, f.bytes, f.packets, f.records])).toEqual([
      ['10.1.0.7', 7_000_000, 5120, 5],
      ['10.1.0.8', 3_000_000, 2000, undefined],
    ]);
    expect(e.top_flows[0]!.time).toBe(new Date(t + 400).toISOString());
    expect(e.top_sources.map((s) => [s.addr, s.flows])).toEqual([
      ['10.1.0.7', 5],
      ['10.1.0.8', 1],
    ]);
  });
});
