// Seeded pseudo-random numbers for the fuzz suite: sfc32 seeded through splitmix32, so a (seed, case) pair replays exactly.

/** splitmix32 step: a well-mixed 32-bit value from a 32-bit state. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A small, fast, seeded generator with the helpers the case generators use. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** The generator of case `index` under run seed `seed` (both 32-bit unsigned). */
  constructor(seed: number, index = 0) {
    let s = splitmix32((seed ^ Math.imul(index + 1, 0x27d4eb2f)) >>> 0);
    this.#a = s;
    this.#b = s = splitmix32(s);
    this.#c = s = splitmix32(s);
    this.#d = splitmix32(s) | 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** The next unsigned 32-bit value (sfc32). */
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** One of the weighted alternatives ([weight, value] pairs). */
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    const total = items.reduce((s, [w]) => s + w, 0);
    let r = this.int(total);
    for (const [w, v] of items) {
      if (r < w) return v;
      r -= w;
    }
    return items[items.length - 1]![1];
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return out;
  }

  /** A string of `n` characters drawn from `alphabet`. */
  string(alphabet: string, n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }

  /** A length that is usually small and sometimes large (roughly log-uniform up to `max`). */
  size(max: number): number {
    const bits = this.int(Math.max(1, Math.ceil(Math.log2(max + 1))) + 1);
    return Math.min(max, this.int(2 ** bits));
  }
}

/** A fresh random 32-bit seed (for runs that were given none). */
export function randomSeed(): number {
  return (Math.random() * 0x1_0000_0000) >>> 0;
}
