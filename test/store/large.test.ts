// A 1 GiB blob streamed into LMDB from a generator and read back in random ranges, with bounded memory (anonymous RSS growth).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LmdbBlobStore } from "../../src/store/lmdb.ts";
import { baoVerifySlice, fromHex } from "../../src/wasm/index.ts";
import { fill, generate } from "./gen.ts";

const GIB = 1024 * 1024 * 1024;
const RSS_GROWTH_LIMIT = 300 * 1024 * 1024;

/**
 * Anonymous resident memory (heap, buffers) from /proc: LMDB reads through a memory map, so the file-backed part of
 * RSS grows with every page read and is page cache the kernel reclaims at will; the anonymous part is what we own.
 */
function rssAnon(): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  if (!m) throw new Error("RssAnon missing from /proc/self/status");
  return Number(m[1]) * 1024;
}

describe("1 GiB blob", () => {
  const dir = mkdtempSync(join(tmpdir(), "slowdrip-large-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("imports and reads back random ranges with constant memory", { timeout: 600_000 }, async () => {
    const store = await LmdbBlobStore.open({ path: join(dir, "db") });
    try {
      globalThis.gc?.();
      const start = rssAnon();
      let peak = start;
      const sample = () => {
        peak = Math.max(peak, rssAnon());
      };
      const timer = setInterval(sample, 20);
      const r = await store.import(generate(3, GIB, 64 * 1024, sample));
      expect(r).toMatchObject({ size: GIB, created: true });
      expect(store.usage()).toMatchObject({ bytesUsed: GIB, blobCount: 1 });
      const ranges: [number, number][] = [[0, 1], [GIB - 1, 1], [GIB - 300_000, 300_000], [256 * 1024 - 1, 2]];
      for (let i = 0; i < 40; i++) ranges.push([Math.floor(Math.random() * (GIB - 2_000_000)), 1 + Math.floor(Math.random() * 2_000_000)]);
      for (const [off, len] of ranges) {
        const s = await store.read(r.hash, off, len);
        const want = fill(3, off, new Uint8Array(len));
        let at = 0;
        for await (const piece of s) {
          expect(Buffer.from(piece).equals(Buffer.from(want.subarray(at, at + piece.byteLength))), `range ${off}+${len} at ${at}`).toBe(true);
          at += piece.byteLength;
          sample();
        }
        expect(at, `range ${off}+${len} length`).toBe(len);
      }
      // Bao slices of a few ranges, rebuilt from the compact outboard, verify against the hash.
      for (const [off, len] of [[0, 1000], [GIB / 2 - 5000, 3 * 1024 * 1024], [GIB - 70_000, 70_000]] as const) {
        const proven = baoVerifySlice(fromHex(r.hash), await store.baoSlice(r.hash, off, len), off, len);
        expect(Buffer.from(proven).equals(Buffer.from(fill(3, off, new Uint8Array(len)))), `proof ${off}+${len}`).toBe(true);
        sample();
      }
      // A full sequential pass, streamed.
      let total = 0;
      for await (const piece of await store.read(r.hash)) {
        total += piece.byteLength;
        if ((total & (64 * 1024 * 1024 - 1)) === 0) sample();
      }
      expect(total).toBe(GIB);
      clearInterval(timer);
      sample();
      expect(peak - start, `anonymous RSS grew by ${((peak - start) / 2 ** 20).toFixed(0)} MiB`).toBeLessThan(RSS_GROWTH_LIMIT);
    } finally {
      await store.close();
    }
  });
});
