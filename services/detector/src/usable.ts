import type { FlowRecord } from '@flowwatch/flow-schema';

/** A record the engine can use: addresses as strings and finite numbers where it computes. */
export function usable(r: FlowRecord): boolean {
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.src_addr === 'string' &&
    typeof r.dst_addr === 'string' &&
    typeof r.supplier_id === 'string' &&
    Number.isFinite(r.time_received_ns) &&
    Number.isFinite(r.bytes) &&
    Number.isFinite(r.packets)
  );
}
