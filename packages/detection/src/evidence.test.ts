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

  it('takes the flows the volume family counted as their own, once, with their interval', () => {
    const enricher = new Enricher(testRegistry());
    const recent = new RecentFlows(4);
    const t = TUESDAY;
    const at = (i: number, dst: string, counted: number) => {
      const f = enricher.enrich(flow({ t: t + i, src: `10.1.0.${i}`, dst, bytes: 100, packets: 1 }));
      recent.push(f, t + i);
      if (!Number.isNaN(counted)) recent.countLatest(f, counted);
    };
    at(1, '10.2.0.10', t);
    at(2, '10.2.0.10', t);
    at(3, '10.2.0.11', t);
    // Not counted by the volume family (another instance's, or an ongoing incident's already).
    at(4, '10.2.0.10', Number.NaN);
    at(5, '10.2.0.10', t + 60_000);
    at(6, '10.2.0.12', t + 60_000);
    const take = (...addrs: string[]) => {
      const taken: [string, number][] = [];
      recent.takeCounted(new Set(addrs), (f, start) => taken.push([f.src_addr, start - t]));
      return taken.sort();
    };
    // The first two have left the ring.
    expect(take('10.2.0.10')).toEqual([['10.1.0.5', 60_000]]);
    expect(take('10.2.0.10')).toEqual([]);
    expect(take('10.1.0.3', '10.2.0.12', '192.0.2.1')).toEqual([
      ['10.1.0.3', 0],
      ['10.1.0.6', 60_000],
    ]);
  });

  it('finds an address among many pending by its hash without missing any', () => {
    const enricher = new Enricher(testRegistry());
    const recent = new RecentFlows(2048);
    const t = TUESDAY;
    for (let i = 0; i < 2048; i++) {
      const f = enricher.enrich(flow({ t: t + i, src: `10.1.${i >> 8}.${i & 255}`, dst: '10.2.0.10', bytes: 100, packets: 1 }));
      recent.push(f, t + i);
      recent.countLatest(f, t);
    }
    // Every other source pending, and thousands of addresses not in the ring (hash buckets shared).
    const pending = new Set<string>();
    for (let i = 0; i < 2048; i += 2) pending.add(`10.1.${i >> 8}.${i & 255}`);
    for (let i = 0; i < 5000; i++) pending.add(`172.16.${i >> 8}.${i & 255}`);
    let taken = 0;
    recent.takeCounted(pending, (f) => {
      expect(pending.has(f.src_addr)).toBe(true);
      taken++;
    });
    expect(taken).toBe(1024);
  });

  it("counts a conversation's records once in the flows metric of a share or a concentration (bytes and packets whole)", () => {
    const enricher = new Enricher(testRegistry());
    const recent = new RecentFlows(256);
    const t = TUESDAY;
    // RR8 (10.1.x): one transfer sampled 40 times by one exporter, and reported by a second one.
    for (let i = 0; i < 40; i++)
      recent.push(enricher.enrich(flow({ t: t + i * 10, src: '10.1.0.7', dst: '10.250.1.1', bytes: 1500, packets: 1 })), t + i * 10);
    recent.push(
      enricher.enrich(flow({ t: t + 5, src: '10.1.0.7', dst: '10.250.1.1', bytes: 1500, packets: 1, exporter: 'core-2' })),
      t + 5,
    );
    // Ten other organisations, one conversation each.
    for (let o = 2; o < 12; o++)
      recent.push(enricher.enrich(flow({ t: t + o, src: `10.${o}.0.9`, dst: '10.250.1.1', bytes: 1500, packets: 1 })), t + o);
    const all = () => true;
    const org = (f: { src_org: string }) => f.src_org;
    expect(recent.concentration(all, t, t + 1000, 2, org, 1)).toEqual({ total: 12, top: 2, keys: 11 });
    expect(recent.concentration(all, t, t + 1000, 1, org, 1)).toEqual({ total: 51, top: 41, keys: 11 });
    expect(recent.share(all, t, t + 1000, 2, (f) => f.src_org === 'RR8')).toEqual({ total: 12, part: 2 });
  });
});
