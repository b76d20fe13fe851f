// Unit tests for baoVerifyChunkSlices, the one-call check of many single-chunk slices (storage-proof answers): it agrees
// with the streaming decoder (baoVerifySlice) on every official vector slice and listed corruption, names the lowest
// refused slice for each mutation wherever the slice sits in the batch (every lane position of the 4-way kernel), hashes
// the framed slices exactly as blake3Concat does, and refuses arguments out of bounds.
import { describe, expect, it } from "vitest";
import vectors from "../../test/vectors/bao/test_vectors.json" with { type: "json" };
import { baoEncode, baoOutboard, baoSliceFromCombined, baoSliceFromOutboard, baoVerifyChunkSlices, baoVerifySlice, blake3, blake3Concat, BaoVerifyError, toHex } from "./index.ts";
import { sliceChunks } from "./tree.ts";
import { concat, content, flip, header, vectorInput as input } from "../../test/helpers/bao-bytes.ts";

interface Slice { start: number; len: number; corruptions: number[] }
const V = vectors as unknown as { slice: { input_len: number; slices: Slice[] }[] };

/** BLAKE3 over the slices, each behind its 4-byte big-endian length (what a POS_ANSWER signature binds). */
function framedDigest(slices: Uint8Array[]): string {
  return toHex(blake3Concat(slices.flatMap((s) => [new Uint8Array([s.length >>> 24, (s.length >>> 16) & 255, (s.length >>> 8) & 255, s.length & 255]), s])));
}
/** The decoder's verdict on one slice. */
function decoderAccepts(hash: Uint8Array, s: Uint8Array, size: number, c: number): boolean {
  try {
    baoVerifySlice(hash, s, c * 1024, Math.min(1024, size - c * 1024));
    return true;
  } catch (e) {
    expect(e).toBeInstanceOf(BaoVerifyError);
    return false;
  }
}

/** A tree over `size` bytes and the standard slices of `chunks`. */
function tree(size: number, chunks: number[], seed = 1) {
  const data = content(size, seed);
  const { hash, outboard } = baoOutboard(data);
  const slices = chunks.map((c) => baoSliceFromOutboard(data, outboard, c * 1024, Math.min(1024, size - c * 1024)));
  return { hash, slices };
}

describe("baoVerifyChunkSlices: official vectors", () => {
  it("all single-chunk vector slices of each input pass in one call, and each listed corruption is refused at its index", () => {
    let corruptions = 0;
    for (const c of V.slice) {
      const data = input(c.input_len);
      const { hash, encoded } = baoEncode(data);
      const single = c.slices.filter((sl) => {
        const [c0, c1] = sliceChunks(c.input_len, sl.start, sl.len);
        return c1 - c0 === 1;
      });
      if (single.length === 0) continue;
      const chunks = single.map((sl) => sliceChunks(c.input_len, sl.start, sl.len)[0]);
      const slices = single.map((sl) => baoSliceFromCombined(encoded, sl.start, sl.len));
      const name = `len ${c.input_len}`;
      const ok = baoVerifyChunkSlices(hash, c.input_len, slices, chunks, { digest: true });
      expect(ok.bad, name).toBe(-1);
      expect(toHex(ok.digest!), `${name}: digest`).toBe(framedDigest(slices));
      single.forEach((sl, i) => {
        for (const k of sl.corruptions) {
          const bad = slices.slice();
          bad[i] = flip(slices[i]!, k);
          const what = `${name} slice ${sl.start}+${sl.len} corruption at ${k}`;
          expect(decoderAccepts(hash, bad[i]!, c.input_len, chunks[i]!), `${what}: decoder`).toBe(false);
          const v = baoVerifyChunkSlices(hash, c.input_len, bad, chunks, { digest: true });
          expect(v.bad, what).toBe(i);
          expect(v.digest, `${what}: no digest`).toBeNull();
          corruptions++;
        }
      });
    }
    expect(corruptions).toBeGreaterThan(300);
  });
});

describe("baoVerifyChunkSlices: mutations at every position of a batch", () => {
  for (const size of [0, 1, 1024, 1025, 2048, 5000, 16 * 1024 + 1, 100_003, 4 * 1024 * 1024]) {
    it(`size ${size}: intact batch passes with the framed digest; each mutation is refused at its index, as the decoder refuses it`, () => {
      const n = Math.max(1, Math.ceil(size / 1024));
      // Chunks at every depth of the tree (a tree over n chunks that is not a power of two has paths of many lengths).
      const chunks = [...new Set([0, 1, 2, 3, 4, 5, n >> 2, n >> 1, n - 9, n - 5, n - 3, n - 2, n - 1].filter((i) => i >= 0 && i < n))];
      const { hash, slices } = tree(size, chunks);
      const ok = baoVerifyChunkSlices(hash, size, slices, chunks, { digest: true });
      expect(ok.bad, `size ${size}: intact`).toBe(-1);
      expect(toHex(ok.digest!), `size ${size}: digest`).toBe(framedDigest(slices));
      expect(baoVerifyChunkSlices(hash, size, slices, chunks).digest, "no digest unless asked").toBeNull();
      const other = chunks.length > 1 ? chunks[1]! : -1;
      chunks.forEach((c, i) => {
        const s = slices[i]!;
        const chunkLen = Math.min(1024, size - c * 1024);
        const parents = (s.length - 8 - chunkLen) / 64;
        const cases: [string, Uint8Array, number?][] = [];
        for (let p = 0; p < parents; p++) for (const half of [0, 32]) cases.push([`parent ${p} half ${half} flipped`, flip(s, 8 + p * 64 + half + 7)]);
        if (chunkLen > 0) cases.push(["chunk first byte flipped", flip(s, 8 + parents * 64)], ["chunk last byte flipped", flip(s, s.length - 1)]);
        for (const wrong of [size + 1, size - 1, size + 1024].filter((x) => x >= 0)) cases.push([`length header ${wrong}`, concat(header(wrong), s.subarray(8))]);
        const huge = s.slice();
        huge[7] = 0xff;
        cases.push(["length header beyond 2^53", huge]);
        cases.push(["truncated by one byte", s.subarray(0, s.length - 1)], ["header only, truncated", s.subarray(0, 7)], ["empty", new Uint8Array(0)]);
        if (parents > 0) cases.push(["first parent missing", concat(s.subarray(0, 8), s.subarray(8 + 64))]);
        cases.push(["one trailing byte", concat(s, new Uint8Array(1))], ["a trailing block", concat(s, new Uint8Array(64))]);
        if (other >= 0 && other !== c) cases.push([`offered as chunk ${other}`, s, other]);
        cases.push([`index past the tree (${n})`, s, n], [`index far past the tree`, s, 2 ** 40]);
        for (const [what, m, asChunk] of cases) {
          const name = `size ${size}, slice ${i} (chunk ${c}): ${what}`;
          const batch = slices.slice();
          batch[i] = m;
          const at = chunks.slice();
          at[i] = asChunk ?? c;
          // The decoder refuses each mutation too, except a wrong length header in a slice that is not the final chunk's
          // (standard Bao does not pin the length there); the batch check refuses that too, as every slice states the size.
          if (asChunk === undefined && !what.startsWith("length header")) expect(decoderAccepts(hash, m, size, c), `${name}: decoder`).toBe(false);
          const v = baoVerifyChunkSlices(hash, size, batch, at, { digest: true });
          expect(v.bad, name).toBe(i);
          expect(v.digest, `${name}: no digest`).toBeNull();
        }
      });
      // Another root refuses the first slice.
      expect(baoVerifyChunkSlices(blake3(content(size + 1, 2)), size, slices, chunks).bad, `size ${size}: another root`).toBe(0);
    });
  }

  it("a wrong length header in any slice is refused even where the decoder would not pin it (every slice states the size)", () => {
    const size = 100_003;
    const chunks = [0, 5, 97];
    const { hash, slices } = tree(size, chunks);
    const m = concat(header(size + 1), slices[1]!.subarray(8));
    expect(decoderAccepts(hash, m, size, 5), "decoder: not pinned by a middle chunk").toBe(true);
    expect(baoVerifyChunkSlices(hash, size, [slices[0]!, m, slices[2]!], chunks).bad).toBe(1);
  });

  it("every lane count of the 4-way kernel (1 to 9 slices), and the lowest of several refused slices is named", () => {
    const size = 4 * 1024 * 1024 + 500;
    const all = [7, 4096, 1, 2048, 3000, 99, 4095, 12, 4000];
    const { hash, slices } = tree(size, all, 5);
    for (let k = 1; k <= all.length; k++) {
      const ok = baoVerifyChunkSlices(hash, size, slices.slice(0, k), all.slice(0, k), { digest: true });
      expect(ok.bad, `${k} slices`).toBe(-1);
      expect(toHex(ok.digest!), `${k} slices: digest`).toBe(framedDigest(slices.slice(0, k)));
      for (let i = 0; i < k; i++) {
        const batch = slices.slice(0, k);
        batch[i] = flip(batch[i]!, batch[i]!.length - 1);
        expect(baoVerifyChunkSlices(hash, size, batch, all.slice(0, k)).bad, `${k} slices, slice ${i} flipped`).toBe(i);
      }
    }
    const two = slices.slice();
    two[6] = flip(two[6]!, 20);
    two[3] = flip(two[3]!, two[3]!.length - 1);
    expect(baoVerifyChunkSlices(hash, size, two, all).bad, "slices 3 and 6 refused").toBe(3);
    // Repeated chunks are checked like any other.
    expect(baoVerifyChunkSlices(hash, size, [slices[0]!, slices[0]!], [7, 7]).bad, "a chunk twice").toBe(-1);
  });

  it("128 slices per call; the hasher engine is left plain for the next caller", () => {
    const size = 300_000;
    const chunks = Array.from({ length: 128 }, (_, i) => (i * 37) % 293);
    const { hash, slices } = tree(size, chunks);
    const v = baoVerifyChunkSlices(hash, size, slices, chunks, { digest: true });
    expect(v.bad).toBe(-1);
    expect(toHex(v.digest!)).toBe(framedDigest(slices));
    expect(toHex(blake3(new Uint8Array(0))), "BLAKE3 of nothing, right after").toBe("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
  });
});

describe("baoVerifyChunkSlices: arguments out of bounds", () => {
  const size = 10_000;
  const { hash, slices } = tree(size, [0, 9]);
  const cases: [string, () => unknown, ErrorConstructor][] = [
    ["no slices", () => baoVerifyChunkSlices(hash, size, [], []), RangeError],
    ["129 slices", () => baoVerifyChunkSlices(hash, size, Array(129).fill(slices[0]), Array(129).fill(0)), RangeError],
    ["more slices than chunks", () => baoVerifyChunkSlices(hash, size, slices, [0]), TypeError],
    ["a slice that is not bytes", () => baoVerifyChunkSlices(hash, size, [slices[0]!, "x" as unknown as Uint8Array], [0, 9]), TypeError],
    ["a 31-byte root", () => baoVerifyChunkSlices(hash.subarray(1), size, slices, [0, 9]), RangeError],
    ["a root that is not bytes", () => baoVerifyChunkSlices("00" as unknown as Uint8Array, size, slices, [0, 9]), TypeError],
    ["a negative size", () => baoVerifyChunkSlices(hash, -1, slices, [0, 9]), RangeError],
    ["a fractional size", () => baoVerifyChunkSlices(hash, 1.5, slices, [0, 9]), RangeError],
    ["a size beyond 2^53", () => baoVerifyChunkSlices(hash, 2 ** 53, slices, [0, 9]), RangeError],
    ["a negative chunk", () => baoVerifyChunkSlices(hash, size, slices, [-1, 9]), RangeError],
    ["a fractional chunk", () => baoVerifyChunkSlices(hash, size, slices, [0, 1.5]), RangeError],
    ["a NaN chunk", () => baoVerifyChunkSlices(hash, size, slices, [NaN, 9]), RangeError],
    ["more framed bytes than the input buffer", () => baoVerifyChunkSlices(hash, size, [new Uint8Array(600_000), new Uint8Array(600_000)], [0, 1]), RangeError],
  ];
  for (const [what, call, type] of cases) {
    it(`${what}: ${type.name}`, () => expect(call, what).toThrow(type));
  }
  it("a slice as long as the buffer allows but not a slice is refused, not thrown", () => {
    expect(baoVerifyChunkSlices(hash, size, [new Uint8Array(900_000)], [0]).bad).toBe(0);
  });
});
