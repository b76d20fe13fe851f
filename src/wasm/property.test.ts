// Property tests: for random sizes 0..16 MiB and random update() splits, one-shot, incremental, multi-core and
// @noble/hashes BLAKE3 all agree (seeded, so a failure names a reproducible case).
import { afterAll, describe, expect, it } from "vitest";
import { blake3 as nobleBlake3 } from "@noble/hashes/blake3.js";
import { createBLAKE3 } from "hash-wasm";
import { fill, rng } from "../../test/helpers/rng.ts";
import { blake3, closeHashPool, createDeriveKeyHasher, createHasher, createKeyedHasher, deriveKey, hashParallel, hashStreamParallel, keyedHash, toHex } from "./index.ts";

const MiB = 1 << 20;
const sizes = (seed: number): number[] => {
  const r = rng(seed);
  const out = [0, 1, MiB, MiB + 1, 16 * MiB];
  for (let i = 0; i < 9; i++) {
    const e = r();
    out.push(e < 0.4 ? Math.floor(r() * 70_000) : Math.floor(r() * 16 * MiB));
  }
  return out;
};

afterAll(async () => {
  await closeHashPool();
});

describe("BLAKE3 implementations agree", () => {
  const seed = 20261121;
  for (const [k, n] of sizes(seed).entries()) {
    it(`case ${k} (seed ${seed}): size ${n}`, async () => {
      const r = rng(seed + k);
      const d = fill(n, r);
      const want = toHex(nobleBlake3(d));
      expect(toHex(blake3(d)), `one-shot size ${n}`).toBe(want);
      expect(toHex(await hashParallel(d)), `multi-core size ${n}`).toBe(want);
      // random splits, with some single updates larger than 1 MiB
      const h = createHasher();
      const splits: number[] = [];
      for (let off = 0; off < n; ) {
        const big = r() < 0.3;
        const step = Math.max(1, Math.floor(big ? MiB + r() * 3 * MiB : r() * 100_000));
        splits.push(Math.min(step, n - off));
        h.update(d.subarray(off, off + step));
        off += step;
      }
      expect(h.digestHex(), `incremental size ${n} splits ${splits.slice(0, 20).join(",")}${splits.length > 20 ? ",..." : ""}`).toBe(want);
    });
  }

  it("multi-core handles concurrent calls and data in a SharedArrayBuffer", async () => {
    const r = rng(7);
    const a = fill(3 * MiB + 5, r);
    const b = fill(40 * MiB + 1, r);
    const shared = new Uint8Array(new SharedArrayBuffer(9 * MiB));
    shared.set(fill(9 * MiB, r));
    const [ha, hb, hs] = await Promise.all([hashParallel(a), hashParallel(b), hashParallel(shared)]);
    expect(toHex(ha)).toBe(toHex(blake3(a)));
    expect(toHex(hb)).toBe(toHex(blake3(b)));
    expect(toHex(hs)).toBe(toHex(blake3(shared)));
    await expect(hashParallel("x" as unknown as Uint8Array)).rejects.toBeInstanceOf(TypeError);
  });

  it("streamed multi-core hashing matches in every mode, across 64 MiB buffer boundaries", async () => {
    const r = rng(11);
    const key = fill(32, r);
    for (const n of [0, 5, 64 * MiB, 64 * MiB + 1, 70 * MiB + 12345]) {
      const d = fill(n, r);
      async function* pieces() {
        for (let off = 0, step = 1; off < n; off += step, step = Math.min(step * 3 + 7, 9 * MiB)) yield d.subarray(off, off + step);
      }
      expect(toHex((await hashStreamParallel(pieces(), createHasher())).digest()), `plain ${n}`).toBe(toHex(blake3(d)));
      expect(toHex((await hashStreamParallel(pieces(), createKeyedHasher(key))).digest(40)), `keyed ${n}`).toBe(toHex(keyedHash(key, d, { length: 40 })));
      expect(toHex((await hashStreamParallel(pieces(), createDeriveKeyHasher("ctx"))).digest()), `derive ${n}`).toBe(toHex(deriveKey("ctx", d)));
    }
  });

  it("1 GiB streamed through one hasher (bounded memory) matches hash-wasm", async () => {
    const ref = await createBLAKE3();
    ref.init();
    const h = createHasher();
    const block = fill(MiB + 333, rng(99));
    let total = 0;
    for (let i = 0; total < 1024 * MiB; i++) {
      block[i % block.length]! ^= i & 255; // vary the content
      const piece = block.subarray(0, Math.min(block.length, 1024 * MiB - total));
      h.update(piece);
      ref.update(piece);
      total += piece.length;
    }
    expect(h.digestHex()).toBe(ref.digest("hex"));
  });
});
