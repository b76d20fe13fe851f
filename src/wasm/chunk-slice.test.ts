// Unit tests for the single-chunk Bao slice paths of storage proofs: the one-call wasm verifier accepts every official
// single-chunk vector slice and refuses every listed corruption and each named mutation (the decoder then names it);
// the one-pass prover from the compact outboard builds exactly the standard slices and catches rotted groups.
import { describe, expect, it } from "vitest";
import vectors from "../../test/vectors/bao/test_vectors.json" with { type: "json" };
import {
  baoChunkSlicesFromCompact, baoEncode, baoOutboard, baoSliceFromCombined, baoSliceFromOutboard, baoVerifyChunkSlice,
  baoVerifySlice, BaoSliceDecoder, BaoVerifyError, blake3, CompactOutboardBuilder, toHex,
} from "./index.ts";
import { decodeHeader, sliceChunks } from "./tree.ts";
import { concat, content, flip, header, vectorInput as input } from "../../test/helpers/bao-bytes.ts";

interface Slice { start: number; len: number; output_len: number; output_blake3: string; corruptions: number[] }
const V = vectors as unknown as { slice: { input_len: number; bao_hash: string; slices: Slice[] }[] };

/** Both paths refuse: the wasm check returns null and baoVerifySlice throws BaoVerifyError (returned). */
function refused(hash: Uint8Array, slice: Uint8Array, start: number, len: number, what: string): BaoVerifyError {
  expect(baoVerifyChunkSlice(hash, slice, start, len), `${what}: wasm path`).toBeNull();
  try {
    baoVerifySlice(hash, slice, start, len);
  } catch (e) {
    expect(e, what).toBeInstanceOf(BaoVerifyError);
    return e as BaoVerifyError;
  }
  throw new Error(`${what}: accepted`);
}

/** The wasm path and the streaming decoder alone give the same verdict (and content) on a slice. */
function agree(hash: Uint8Array, slice: Uint8Array, start: number, len: number, what: string): void {
  let decoded: string;
  try {
    const d = new BaoSliceDecoder(hash, start, len);
    const pieces = d.push(slice);
    d.finish();
    decoded = toHex(concat(...pieces));
  } catch (e) {
    expect(e, what).toBeInstanceOf(BaoVerifyError);
    decoded = "refused";
  }
  const fast = baoVerifyChunkSlice(hash, slice, start, len);
  expect(fast === null ? "refused" : toHex(fast), what).toBe(decoded);
}

describe("single-chunk slices: official vectors through the wasm path", () => {
  it("every single-chunk vector slice verifies in one call and every listed corruption is refused", () => {
    let checked = 0;
    for (const c of V.slice) {
      const data = input(c.input_len);
      const { hash, encoded } = baoEncode(data);
      expect(toHex(hash)).toBe(c.bao_hash);
      for (const sl of c.slices) {
        const [c0, c1] = sliceChunks(c.input_len, sl.start, sl.len);
        if (c1 - c0 !== 1) continue;
        const name = `len ${c.input_len} slice ${sl.start}+${sl.len}`;
        const a = baoSliceFromCombined(encoded, sl.start, sl.len);
        expect(a.length, name).toBe(sl.output_len);
        expect(toHex(blake3(a)), name).toBe(sl.output_blake3);
        const want = data.subarray(Math.min(sl.start, data.length), Math.min(data.length, sl.start + sl.len));
        const got = baoVerifyChunkSlice(hash, a, sl.start, sl.len);
        expect(got, name).not.toBeNull();
        expect(toHex(got!), name).toBe(toHex(want));
        for (const k of sl.corruptions) refused(hash, flip(a, k), sl.start, sl.len, `${name} corruption at ${k}`);
        checked++;
      }
    }
    expect(checked).toBe(191);
  });
});

describe("single-chunk slices: named mutations are refused", () => {
  for (const size of [0, 1, 1024, 1025, 2048, 5000, 16 * 1024 + 1, 100_003]) {
    it(`size ${size}: every chunk verifies; CV, chunk, length prefix, truncation, trailing bytes, wrong index fail`, () => {
      const data = content(size);
      const { hash, outboard } = baoOutboard(data);
      const n = Math.max(1, Math.ceil(size / 1024));
      const picks = [...new Set([0, 1, Math.floor(n / 2), n - 2, n - 1].filter((i) => i >= 0 && i < n))];
      for (const i of picks) {
        const start = i * 1024;
        const len = Math.min(1024, size - start);
        const s = baoSliceFromOutboard(data, outboard, start, len);
        const chunkLen = len;
        const parents = (s.length - 8 - chunkLen) / 64;
        const what = `size ${size} chunk ${i}`;
        expect(toHex(baoVerifyChunkSlice(hash, s, start, len)!), what).toBe(toHex(data.subarray(start, start + len)));
        // A flipped byte in either CV of every parent on the path.
        for (let p = 0; p < parents; p++) {
          for (const half of [0, 32]) {
            expect(refused(hash, flip(s, 8 + p * 64 + half + 7), start, len, `${what}: CV flip parent ${p} half ${half}`).reason).toBe("hash-mismatch");
          }
        }
        // A flipped byte in the chunk (first and last byte).
        if (chunkLen > 0) {
          expect(refused(hash, flip(s, 8 + parents * 64), start, len, `${what}: chunk flip first`).reason).toBe("hash-mismatch");
          expect(refused(hash, flip(s, s.length - 1), start, len, `${what}: chunk flip last`).reason).toBe("hash-mismatch");
        }
        // A wrong length prefix (one byte more or less, a chunk more): refused in the final chunk's slice, which is why
        // storage proofs always include it; a slice of another chunk does not pin the length (standard Bao), and there
        // the wasm path must agree with the decoder either way.
        for (const wrong of [size + 1, size - 1, size + 1024].filter((x) => x >= 0)) {
          const m = concat(header(wrong), s.subarray(8));
          if (i === n - 1) refused(hash, m, start, len, `${what}: length prefix ${wrong}`);
          else agree(hash, m, start, len, `${what}: length prefix ${wrong}`);
        }
        const huge = s.slice();
        huge[7] = 0xff;
        refused(hash, huge, start, len, `${what}: length prefix beyond 2^53`);
        // Truncated: a byte short, the header only, a parent missing.
        expect(refused(hash, s.subarray(0, s.length - 1), start, len, `${what}: truncated by one byte`).reason).toBe("truncated");
        refused(hash, s.subarray(0, 7), start, len, `${what}: truncated header`);
        if (parents > 0) refused(hash, concat(s.subarray(0, 8), s.subarray(8 + 64)), start, len, `${what}: first parent missing`);
        // Trailing bytes.
        expect(refused(hash, concat(s, new Uint8Array(1)), start, len, `${what}: one trailing byte`).reason).toBe("trailing-data");
        refused(hash, concat(s, new Uint8Array(64)), start, len, `${what}: trailing block`);
        // Wrong index: this chunk's slice offered as another chunk's.
        for (const j of picks) {
          if (j === i) continue;
          const js = j * 1024;
          refused(hash, s, js, Math.min(1024, size - js), `${what}: offered as chunk ${j}`);
        }
        // The decoder alone agrees on every case above too.
        agree(hash, s, start, len, `${what}: intact`);
        agree(hash, flip(s, s.length - 1), start, len, `${what}: chunk flip`);
        // Another root.
        refused(blake3(content(size + 1, 2)), s, start, len, `${what}: another root`);
      }
    });
  }

  it("the top node is the root: a subtree's (non-root) CV is refused as a root hash", () => {
    // In a 4096-byte tree the root's left child is the non-root CV of the first 2048 bytes, and its left child in turn
    // the non-root CV of the first chunk: slices of those prefixes must not verify against them.
    const data = content(4096);
    const { encoded } = baoEncode(data);
    const rootBlock = encoded.subarray(8, 72);
    const leftCV = rootBlock.slice(0, 32);
    const left = data.subarray(0, 2048);
    const leftSlice = baoSliceFromOutboard(left, baoOutboard(left).outboard, 0, 1024);
    expect(baoVerifyChunkSlice(blake3(left), leftSlice, 0, 1024)).not.toBeNull();
    refused(leftCV, leftSlice, 0, 1024, "2-chunk slice against its non-root CV");
    const chunk0CV = leftSlice.slice(8, 40);
    const one = data.subarray(0, 1024);
    const oneSlice = concat(header(1024), one);
    expect(baoVerifyChunkSlice(blake3(one), oneSlice, 0, 1024)).not.toBeNull();
    refused(chunk0CV, oneSlice, 0, 1024, "root-chunk slice against the chunk's non-root CV");
  });

  it("slices over more than one chunk are left to the decoder", () => {
    const data = content(10_000);
    const { hash, outboard } = baoOutboard(data);
    const s = baoSliceFromOutboard(data, outboard, 1000, 100);
    expect(baoVerifyChunkSlice(hash, s, 1000, 100)).toBeNull();
    expect(toHex(baoVerifySlice(hash, s, 1000, 100))).toBe(toHex(data.subarray(1000, 1100)));
  });
});

describe("length header", () => {
  it("decodes every safe length exactly and refuses 2^53 and above", () => {
    const enc = (v: bigint) => {
      const h = new Uint8Array(10);
      new DataView(h.buffer).setBigUint64(1, v, true);
      return h;
    };
    for (const v of [0n, 1n, 1023n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 40n + 12345n, 2n ** 53n - 1n]) {
      expect(decodeHeader(enc(v), 1), String(v)).toBe(Number(v));
    }
    for (const v of [2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]) expect(decodeHeader(enc(v), 1), String(v)).toBeNull();
    expect(() => decodeHeader(new Uint8Array(7))).toThrow(RangeError);
  });
});

describe("baoChunkSlicesFromCompact", () => {
  for (const n of [0, 1, 1023, 1024, 1025, 16384, 16385, 50_000, 100_003, (1 << 20) + 77_777]) {
    it(`size ${n}: equals the standard single-chunk slices, in the asked order, repeats allowed; groups read in order`, () => {
      const d = content(n, 3);
      const r = new CompactOutboardBuilder().update(d).finish();
      const { outboard } = baoOutboard(d);
      const count = Math.max(1, Math.ceil(n / 1024));
      const chunks = [count - 1, 0, Math.floor(count / 2), Math.floor(count / 3), 0, Math.min(count - 1, 17)];
      const reads: number[] = [];
      const got = baoChunkSlicesFromCompact(n, r.outboard, (off, len, into) => {
        reads.push(off);
        expect(off % 16384).toBe(0);
        expect(len).toBeLessThanOrEqual(16384);
        into.set(d.subarray(off, off + len));
      }, chunks);
      expect(got.length).toBe(chunks.length);
      chunks.forEach((c, k) => {
        const start = c * 1024;
        const len = Math.min(1024, n - start);
        expect(toHex(got[k]!), `chunk ${c}`).toBe(toHex(baoSliceFromOutboard(d, outboard, start, len)));
        expect(baoVerifyChunkSlice(r.hash, got[k]!, start, len), `chunk ${c} verifies`).not.toBeNull();
      });
      expect(reads).toEqual([...new Set(reads)].sort((a, b) => a - b));
    });
  }

  it("a stored group that no longer matches the outboard throws BaoVerifyError; bad indices and outboards are RangeErrors", () => {
    const d = content(100_000);
    const r = new CompactOutboardBuilder().update(d).finish();
    const bad = d.slice();
    bad[40_000]! ^= 1;
    const readBad = (off: number, len: number, into: Uint8Array) => into.set(bad.subarray(off, off + len));
    expect(() => baoChunkSlicesFromCompact(d.length, r.outboard, readBad, [39])).toThrow(BaoVerifyError);
    // A chunk in an intact group still proves.
    expect(baoChunkSlicesFromCompact(d.length, r.outboard, readBad, [5]).length).toBe(1);
    const read = (off: number, len: number, into: Uint8Array) => into.set(d.subarray(off, off + len));
    for (const c of [-1, 98, 1.5, NaN]) expect(() => baoChunkSlicesFromCompact(d.length, r.outboard, read, [c])).toThrow(RangeError);
    expect(() => baoChunkSlicesFromCompact(d.length, new Uint8Array(8), read, [0])).toThrow(RangeError);
    expect(baoChunkSlicesFromCompact(d.length, r.outboard, read, [])).toEqual([]);
  });
});
