/**
 * 32-bit hashes for sketches: FNV-1a over the UTF-16 code units of a string, then MurmurHash3's
 * finaliser so that every output bit depends on every input bit (HyperLogLog reads the low bits
 * as a register index and the rest as a bit pattern). No allocation.
 */
export function hashString(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** A number (a port, say) hashed the same way. */
export function hashNumber(n: number, seed = 0): number {
  return fmix32((Math.imul(n | 0, 0x9e3779b1) ^ seed) >>> 0);
}

export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A non-zero hash of a flow's 5-tuple: the records of one transfer (an sFlow agent's samples of
 * it, a NetFlow exporter's record per active timeout) are one conversation.
 */
export function conversationOf(f: { src_addr: string; dst_addr: string; src_port: number; dst_port: number; proto: number }): number {
  const h = hashString(f.dst_addr, hashString(f.src_addr, f.src_port) ^ Math.imul(f.dst_port + 1, 0x9e3779b1));
  return fmix32((h ^ f.proto) >>> 0) || 1;
}

/** A seeded PRNG (mulberry32) for tests, benchmarks and simulated traffic: deterministic by seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
