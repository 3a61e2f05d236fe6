import { describe, expect, it } from 'vitest';
import { flow, TUESDAY, testRegistry } from './test-network.js';
import { WarmStartBuilder } from './warm-start-builder.js';

describe('WarmStartBuilder', () => {
  it('explodes flows into the entities of the rollup warm start, per hour, weighted', () => {
    const b = new WarmStartBuilder(testRegistry());
    // RR8 (10.1/16, supplier-b) -> O01 (10.2/16) on SMB, twice in the first hour, once in the next.
    b.addFlow(
      flow({ t: TUESDAY + 60_000, src: '10.1.0.5', dst: '10.2.0.6', dstPort: 445, packets: 10, bytes: 1000, supplier: 'supplier-b' }),
    );
    b.addFlow(
      flow({ t: TUESDAY + 120_000, src: '10.1.0.5', dst: '10.2.0.6', dstPort: 445, packets: 10, bytes: 1000, supplier: 'supplier-b' }),
      3,
    );
    b.addFlow(
      flow({ t: TUESDAY + 3_700_000, src: '10.1.0.5', dst: '10.250.1.9', dstPort: 443, packets: 4, bytes: 400, supplier: 'supplier-b' }),
    );
    b.addFlow(
      flow({ t: TUESDAY + 3_800_000, src: '10.1.0.5', dst: '198.51.100.1', dstPort: 443, packets: 2, bytes: 500, supplier: 'supplier-b' }),
    );
    const w = b.build();
    const rows = w.hourly.map((r) => `${r.ts - TUESDAY} ${r.kind}:${r.id} ${r.bytes}/${r.packets}/${r.flows}`).sort();
    expect(rows).toEqual(
      [
        '0 organisation_in:O01 4000/40/4',
        '0 organisation_out:RR8 4000/40/4',
        '0 organisation_pair:RR8>O01 4000/40/4',
        '0 supplier:supplier-b 4000/40/4',
        // The national records service and the internet: outbound of RR8, no pair.
        '3600000 organisation_out:RR8 900/6/2',
        '3600000 service:records 400/4/1',
        '3600000 supplier:supplier-b 900/6/2',
      ].sort(),
    );
    expect(w.internetHourly).toEqual([{ org: 'RR8', ts: TUESDAY + 3_600_000, bytes: 500 }]);
    expect(w.pairs).toContainEqual({ srcOrg: 'RR8', dstOrg: 'O01', service: '', dstPort: 445 });
    expect(w.earliestMs).toBe(TUESDAY);
  });
});
