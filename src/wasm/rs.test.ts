// Reed-Solomon: klauspost vectors checked in verbatim, the Rust crate (npm WASM build) as a second oracle, every
// erasure pattern of up to m shards for small k and m, seeded random stripes against the oracle, argument checks.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReedSolomon, splitStripe } from "./index.ts";
import { rsKernel, setRsKernel, type RsKernel } from "./rs.ts";
import { fromHex, toHex } from "./hex.ts";
import { fill, int, rng } from "../../test/helpers/rng.ts";
import { oracleParity, oracleReconstructData } from "../../test/helpers/rs-oracle.ts";

interface Vector { name: string; dataShards: number; parityShards: number; shardLen: number; shards: string[] }
const file = JSON.parse(readFileSync(join(import.meta.dirname, "../../test/vectors/rs/klauspost.json"), "utf8")) as {
  generator: string;
  vectors: Vector[];
};
/** Byte equality (toHex of large shards would dominate the run time). */
const same = (a: Uint8Array | null | undefined, b: Uint8Array) => !!a && a.length === b.length && Buffer.compare(a, b) === 0;
const label = (v: Vector, i: number) => `#${i} ${v.name} k=${v.dataShards} m=${v.parityShards} len=${v.shardLen}`;
const cases = file.vectors.map((v, i) => [label(v, i), v] as const);

/** Every subset of {0..n-1} with 1..maxSize elements. */
function subsets(n: number, maxSize: number): number[][] {
  const out: number[][] = [];
  for (let mask = 1; mask < 1 << n; mask++) {
    const s = [...Array(n).keys()].filter((i) => mask & (1 << i));
    if (s.length <= maxSize) out.push(s);
  }
  return out;
}

function stripe(k: number, m: number, len: number, r: () => number): Uint8Array[] {
  const shards = Array.from({ length: k + m }, (_, i) => (i < k ? fill(len, r) : new Uint8Array(len)));
  new ReedSolomon(k, m).encode(shards);
  return shards;
}

it("uses the relaxed-SIMD kernel on this runtime", () => {
  expect(rsKernel()).toBe("relaxed");
});

// Every kernel build gives the same bytes: each runs the vectors, erasure patterns and property tests.
describe.each<RsKernel>(["relaxed", "standard"])("%s kernel", (kernel) => {
  beforeAll(() => setRsKernel(kernel));
  afterAll(() => setRsKernel(null));
  it("is the kernel in use", () => expect(rsKernel()).toBe(kernel));

  describe("Reed-Solomon vectors from klauspost/reedsolomon", () => {
    it("the vector file names its generator and has cases", () => {
      expect(file.generator).toMatch(/^github\.com\/klauspost\/reedsolomon v\d/);
      expect(file.vectors.length).toBeGreaterThan(40);
    });

    it.each(cases)("encode %s gives the same parity", (_, v) => {
      const rs = new ReedSolomon(v.dataShards, v.parityShards);
      const shards = v.shards.map((h, i) => (i < v.dataShards ? fromHex(h) : new Uint8Array(v.shardLen)));
      rs.encode(shards);
      expect(shards.map(toHex)).toEqual(v.shards);
      expect(rs.verify(shards)).toBe(true);
    });

    it.each(cases.filter(([, v]) => v.parityShards > 0))("the Rust crate agrees with %s", (_, v) => {
      const data = v.shards.slice(0, v.dataShards).map(fromHex);
      expect(oracleParity(data, v.parityShards).map(toHex)).toEqual(v.shards.slice(v.dataShards));
    });

    it.each(cases.filter(([, v]) => v.parityShards > 0))("reconstruct %s from its last k shards", (_, v) => {
      const rs = new ReedSolomon(v.dataShards, v.parityShards);
      const shards: Array<Uint8Array | null> = v.shards.map((h, i) => (i < v.parityShards ? null : fromHex(h)));
      expect(rs.reconstruct(shards).map(toHex)).toEqual(v.shards);
    });
  });

  describe("every erasure pattern of up to m shards", () => {
    const kms: Array<[number, number]> = [];
    for (let k = 1; k <= 6; k++) for (let m = 1; m <= 3; m++) kms.push([k, m]);
    it.each(kms)("k=%i m=%i", (k, m) => {
      const r = rng(k * 10 + m);
      const rs = new ReedSolomon(k, m);
      // 37 bytes: two full SIMD vectors and a tail; 40_000: several kernel calls per shard.
      for (const len of [37, 40_000]) {
        const original = stripe(k, m, len, r);
        for (const lost of subsets(k + m, m)) {
          const shards: Array<Uint8Array | null> = original.map((s, i) => (lost.includes(i) ? null : s.slice()));
          const out = rs.reconstruct(shards);
          lost.forEach((i) => expect(same(out[i], original[i]!), `k=${k} m=${m} len=${len} lost [${lost}]: shard ${i}`).toBe(true));
          expect(out).toBe(shards);
        }
      }
    });
  });

  describe("seeded random stripes against the Rust crate", () => {
    it("encode, verify and reconstruct agree on 150 stripes", () => {
      const r = rng(0x5eed);
      for (let n = 0; n < 150; n++) {
        const k = int(r, 1, 24);
        const m = int(r, 1, 8);
        const len = r() < 0.8 ? int(r, 1, 3000) : int(r, 30_000, 300_000);
        const what = `stripe ${n}: k=${k} m=${m} len=${len}`;
        const rs = new ReedSolomon(k, m);
        const shards = Array.from({ length: k + m }, (_, i) => (i < k ? fill(len, r) : new Uint8Array(len)));
        rs.encode(shards);
        const parity = oracleParity(shards.slice(0, k), m);
        for (let i = 0; i < m; i++) expect(same(shards[k + i], parity[i]!), `${what}: parity ${i}`).toBe(true);
        expect(rs.verify(shards), what).toBe(true);
        // Lose up to m random shards.
        const lost = new Set<number>();
        const want = int(r, 1, m);
        while (lost.size < want) lost.add(int(r, 0, k + m - 1));
        const damaged = shards.map((s, i) => (lost.has(i) ? null : s));
        const theirs = oracleReconstructData(damaged, k);
        const ours = rs.reconstruct(damaged.slice());
        for (const i of lost) expect(same(ours[i], shards[i]!), `${what}: lost [${[...lost]}] shard ${i}`).toBe(true);
        for (let i = 0; i < k; i++) expect(same(theirs[i], shards[i]!), `${what}: crate's data shard ${i}`).toBe(true);
      }
    });

    it("wide stripes over several kernel calls (k=200 m=56, k=100 m=28) match the crate", () => {
      const r = rng(11);
      for (const [k, m, len] of [[200, 56, 40_000], [100, 28, 70_001]] as const) {
        const rs = new ReedSolomon(k, m);
        const shards = Array.from({ length: k + m }, (_, i) => (i < k ? fill(len, r) : new Uint8Array(len)));
        rs.encode(shards);
        const parity = oracleParity(shards.slice(0, k), m);
        for (let i = 0; i < m; i++) expect(same(shards[k + i], parity[i]!), `k=${k} m=${m}: parity ${i}`).toBe(true);
        const lost = Array.from({ length: m }, (_, i) => (i * 7) % (k + m));
        const out = rs.reconstruct(shards.map((s, i) => (lost.includes(i) ? null : s)));
        for (const i of lost) expect(same(out[i], shards[i]!), `k=${k} m=${m}: rebuilt shard ${i}`).toBe(true);
      }
    });

    it("decode matrices beyond the cache's size stay right (k=6 m=3, every pattern twice)", () => {
      const r = rng(7);
      const rs = new ReedSolomon(6, 3);
      const original = stripe(6, 3, 50, r);
      const patterns = subsets(9, 3);
      expect(patterns.length).toBeGreaterThan(32);
      for (const round of [1, 2]) {
        for (const lost of patterns) {
          const out = rs.reconstruct(original.map((s, i) => (lost.includes(i) ? null : s)));
          expect(out.map(toHex), `round ${round} lost [${lost}]`).toEqual(original.map(toHex));
        }
      }
    });
  });
});

describe("verify", () => {
  it("finds a flipped byte in data or parity, in the first and in a later kernel block", () => {
    const rs = new ReedSolomon(4, 2);
    const shards = stripe(4, 2, 100_003, rng(3));
    expect(rs.verify(shards)).toBe(true);
    for (const shard of [0, 3, 4, 5]) {
      for (const pos of [0, 17, 70_000, 100_002]) {
        shards[shard]![pos]! ^= 0x40;
        expect(rs.verify(shards), `shard ${shard} byte ${pos}`).toBe(false);
        shards[shard]![pos]! ^= 0x40;
      }
    }
    expect(rs.verify(shards)).toBe(true);
  });

  it("m = 0 and empty shards verify trivially", () => {
    expect(new ReedSolomon(3, 0).verify([new Uint8Array(4), new Uint8Array(4), new Uint8Array(4)])).toBe(true);
    expect(new ReedSolomon(2, 1).verify([new Uint8Array(0), new Uint8Array(0), new Uint8Array(0)])).toBe(true);
  });
});

describe("splitStripe", () => {
  it("splits into k zero-padded data shards and m zeroed parity shards of ceil(len / k) bytes", () => {
    const data = fill(10, rng(1));
    const shards = splitStripe(data, 4, 2);
    expect(shards.map((s) => s.length)).toEqual([3, 3, 3, 3, 3, 3]);
    expect(Array.from(shards.slice(0, 4).flatMap((s) => [...s]))).toEqual([...data, 0, 0]);
    expect(shards.slice(4).every((s) => s.every((b) => b === 0))).toBe(true);
    new ReedSolomon(4, 2).encode(shards);
    expect(toHex(shards[4]!)).toBe(toHex(oracleParity(shards.slice(0, 4), 2)[0]!));
  });

  it("handles empty and exact-multiple data", () => {
    expect(splitStripe(new Uint8Array(0), 4, 2).map((s) => s.length)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(splitStripe(new Uint8Array(8), 4, 0).map((s) => s.length)).toEqual([2, 2, 2, 2]);
  });

  it("checks its arguments", () => {
    expect(() => splitStripe("x" as never, 4, 2)).toThrow(TypeError);
    expect(() => splitStripe(new Uint8Array(1), 0, 2)).toThrow(/k must be an integer in 1\.\.256/);
    expect(() => splitStripe(new Uint8Array(1), 200, 57)).toThrow(/m must be an integer in 0\.\.56/);
  });
});

describe("arguments are checked at the boundary", () => {
  it("constructor ranges", () => {
    expect(() => new ReedSolomon(0, 2)).toThrow(/dataShards must be an integer in 1\.\.256, got 0/);
    expect(() => new ReedSolomon(2.5, 2)).toThrow(RangeError);
    expect(() => new ReedSolomon(4, -1)).toThrow(/parityShards must be an integer in 0\.\.252/);
    expect(() => new ReedSolomon(250, 7)).toThrow(/at most 256 shards/);
    const rs = new ReedSolomon(250, 6);
    expect([rs.dataShards, rs.parityShards, rs.totalShards]).toEqual([250, 6, 256]);
  });

  it("shard counts, types and lengths", () => {
    const rs = new ReedSolomon(4, 2);
    const six = () => Array.from({ length: 6 }, () => new Uint8Array(8));
    expect(() => rs.encode(six().slice(1))).toThrow(/encode: expected 6 shards \(4 data \+ 2 parity\), got 5/);
    const uneven = six();
    uneven[3] = new Uint8Array(9);
    expect(() => rs.encode(uneven)).toThrow(/encode: shard 3 has 9 bytes but shard 0 has 8/);
    expect(() => rs.verify(uneven)).toThrow(/verify: shard 3 has 9 bytes/);
    const notBytes = six() as unknown[];
    notBytes[2] = [1, 2, 3];
    expect(() => rs.encode(notBytes as Uint8Array[])).toThrow(/encode: shard 2 is not a Uint8Array/);
    expect(() => rs.reconstruct("nope" as never)).toThrow(TypeError);
    const holes: Array<Uint8Array | null> = six();
    holes[0] = null;
    holes[5] = new Uint8Array(7);
    expect(() => rs.reconstruct(holes)).toThrow(/reconstruct: shard 5 has 7 bytes but shard 1 has 8/);
  });

  it("fewer than k shards present names the missing ones", () => {
    const rs = new ReedSolomon(4, 2);
    const shards: Array<Uint8Array | null> = stripe(4, 2, 16, rng(9));
    shards[1] = shards[2] = shards[5] = null;
    expect(() => rs.reconstruct(shards)).toThrow(/reconstruct: 3 of 6 shards present \(missing 1, 2, 5\); need at least 4/);
    expect(shards[1]).toBeNull();
  });

  it("nothing missing returns the shards untouched; m = 0 encodes nothing", () => {
    const rs = new ReedSolomon(3, 1);
    const shards = stripe(3, 1, 20, rng(4));
    const copy = shards.map((s) => s.slice());
    expect(rs.reconstruct(shards).map(toHex)).toEqual(copy.map(toHex));
    const only = [fill(5, rng(2))];
    new ReedSolomon(1, 0).encode(only);
    expect(only[0]!.length).toBe(5);
  });
});
