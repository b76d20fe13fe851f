// Unit tests for compact outboards: hash equals BLAKE3, overhead < 0.5 %, slices equal standard Bao slices, group reads only.
import { describe, expect, it } from "vitest";
import { blake3 as nobleBlake3 } from "@noble/hashes/blake3.js";
import {
  baoOutboard, baoSliceFromCompact, baoSliceFromOutboard, baoVerifySlice, BaoVerifyError, CompactOutboardBuilder,
  compactOutboardSize, toHex,
} from "./index.ts";

function content(n: number): Uint8Array {
  const d = new Uint8Array(n);
  for (let i = 0; i < n; i++) d[i] = (i * 13 + (i >> 9)) & 255;
  return d;
}

describe("CompactOutboardBuilder", () => {
  for (const n of [0, 1, 1024, 16384, 16385, 20000, 50000, 1 << 20, (1 << 20) + 1, (2 << 20) + 77777]) {
    it(`size ${n}: hash, size, outboard length; slices match standard ones`, async () => {
      const d = content(n);
      const b = new CompactOutboardBuilder();
      for (let o = 0, st = 1; o < n; o += st, st = st * 5 + 3) b.update(d.subarray(o, o + st));
      const r = b.finish();
      expect(toHex(r.hash)).toBe(toHex(nobleBlake3(d)));
      expect(r.size).toBe(n);
      expect(r.outboard.length).toBe(compactOutboardSize(n));
      if (n >= 1 << 20) expect(r.outboard.length / n).toBeLessThan(0.005);
      const { outboard } = baoOutboard(d);
      for (const [s, l] of [[0, 0], [0, 1], [Math.max(0, n - 1), 1], [n, 0], [n + 5, 10], [Math.floor(n / 3), 40000], [17000, 3000]] as const) {
        const reads: [number, number][] = [];
        const got = await baoSliceFromCompact(n, r.outboard, async (off, len) => {
          reads.push([off, len]);
          return d.slice(off, off + len);
        }, s, l);
        expect(toHex(got), `slice ${s}+${l}`).toBe(toHex(baoSliceFromOutboard(d, outboard, s, l)));
        for (const [off, len] of reads) {
          expect(off % 16384, `aligned group read ${off}`).toBe(0);
          expect(len).toBeLessThanOrEqual(16384);
        }
        expect(baoVerifySlice(r.hash, got, s, l).length).toBe(Math.max(0, Math.min(n, s + l) - Math.min(s, n)));
      }
    });
  }

  it("pieces on and beside group boundaries give the same hash and outboard as one piece", () => {
    for (const n of [16384, 3 * 16384, 1 << 20, (1 << 20) + 16384, (1 << 20) + 1]) {
      const d = content(n);
      const one = new CompactOutboardBuilder().update(d).finish();
      expect(toHex(one.hash)).toBe(toHex(nobleBlake3(d)));
      for (const piece of [16384, 16383, 16385, 65536, 1 << 20]) {
        const b = new CompactOutboardBuilder();
        for (let o = 0; o < n; o += piece) b.update(d.subarray(o, o + piece));
        const r = b.finish();
        expect(toHex(r.hash), `${n} in ${piece}-byte pieces`).toBe(toHex(one.hash));
        expect(toHex(r.outboard), `${n} in ${piece}-byte pieces`).toBe(toHex(one.outboard));
      }
    }
  });

  it("rejects a stored group that no longer matches the outboard", async () => {
    const d = content(100_000);
    const r = new CompactOutboardBuilder().update(d).finish();
    const bad = d.slice();
    bad[40_000]! ^= 1;
    await expect(baoSliceFromCompact(d.length, r.outboard, async (o, l) => bad.slice(o, o + l), 39_000, 2000)).rejects.toBeInstanceOf(BaoVerifyError);
  });

  it("checks arguments", async () => {
    expect(() => compactOutboardSize(-1)).toThrow(RangeError);
    await expect(baoSliceFromCompact(100_000, new Uint8Array(8), async () => new Uint8Array(0), 0, 1)).rejects.toBeInstanceOf(RangeError);
    expect(() => new CompactOutboardBuilder().update(5 as unknown as Uint8Array)).toThrow(TypeError);
  });
});
