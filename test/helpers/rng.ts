// Seeded randomness for property tests and benches: a small deterministic PRNG, so a failure names a reproducible case.

/** A PRNG (mulberry32) returning numbers in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` pseudo-random bytes from `r`. */
export function fill(n: number, r: () => number): Uint8Array {
  const d = new Uint8Array(n);
  const w = new Uint32Array(d.buffer, 0, n >>> 2);
  for (let i = 0; i < w.length; i++) w[i] = (r() * 4294967296) >>> 0;
  for (let i = w.length * 4; i < n; i++) d[i] = (r() * 256) | 0;
  return d;
}

/** An integer in [lo, hi]. */
export function int(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}
