// Unit tests for the worker pool lifecycle: small inputs never start it, large ones do, close stops it.
import { describe, expect, it } from "vitest";
import { blake3, closeHashPool, createHasher, hashParallel, hashPoolSize, hashReaderParallel, hashStreamParallel, toHex } from "./index.ts";

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

describe("hash pool lifecycle", () => {
  it("small inputs stay on the calling thread; large ones start the pool; closeHashPool stops it", async () => {
    const small = new Uint8Array(1024 * 1024 - 1).fill(1);
    expect(toHex(await hashParallel(small))).toBe(toHex(blake3(small)));
    const exactlyOneUnit = new Uint8Array(1024 * 1024).fill(2);
    expect((await hashStreamParallel(once(exactlyOneUnit), createHasher())).digestHex()).toBe(toHex(blake3(exactlyOneUnit)));
    expect(hashPoolSize()).toBe(0);
    const big = new Uint8Array(5 * 1024 * 1024 + 3).fill(3);
    expect(toHex(await hashParallel(big))).toBe(toHex(blake3(big)));
    expect(hashPoolSize()).toBeGreaterThanOrEqual(1);
    await closeHashPool();
    expect(hashPoolSize()).toBe(0);
    // and it comes back on demand
    expect(toHex(await hashParallel(big))).toBe(toHex(blake3(big)));
    await closeHashPool();
  });

  it("a failing reader rejects with its error and leaves the pool usable", async () => {
    let served = 0;
    const failing = async (into: Uint8Array) => {
      if (served >= 3 * 1024 * 1024) throw new Error("disk on fire");
      const n = Math.min(into.length, 256 * 1024);
      into.fill(7, 0, n);
      served += n;
      return n;
    };
    await expect(hashReaderParallel(failing, createHasher())).rejects.toThrow("disk on fire");
    const big = new Uint8Array(9 * 1024 * 1024 + 1).fill(9);
    expect(toHex(await hashParallel(big))).toBe(toHex(blake3(big)));
    await closeHashPool();
  });

  it("plain (not shared) inputs handed to the workers through the ring match, at offsets and across segments", async () => {
    const MiB = 1024 * 1024;
    const backing = new Uint8Array(70 * MiB + 64);
    for (let i = 0; i < backing.length; i += 4096) backing[i] = (i * 2654435761) >>> 24;
    for (const [off, n] of [[0, 3 * MiB + 1], [17, 16 * MiB], [5, 16 * MiB + 1], [64, 65 * MiB + 7], [1, 70 * MiB]] as const) {
      const d = backing.subarray(off, off + n);
      expect(toHex(await hashParallel(d)), `offset ${off}, size ${n}`).toBe(toHex(blake3(d)));
    }
    await closeHashPool();
  });
});
