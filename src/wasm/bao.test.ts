// Unit tests for Bao: every official vector (hash, encode, outboard, slices, corruptions) and the streaming decoder.
import { describe, expect, it } from "vitest";
import vectors from "../../test/vectors/bao/test_vectors.json" with { type: "json" };
import {
  baoDecode, baoEncode, baoOutboard, baoSliceFromCombined, baoSliceFromOutboard, baoVerifyOutboard, baoVerifySlice,
  BaoSliceDecoder, BaoVerifyError, blake3, decodeSliceStream, toHex,
} from "./index.ts";

interface Slice { start: number; len: number; output_len: number; output_blake3: string; corruptions: number[] }
const V = vectors as unknown as {
  hash: { input_len: number; bao_hash: string }[];
  encode: { input_len: number; output_len: number; bao_hash: string; encoded_blake3: string; corruptions: number[] }[];
  outboard: { input_len: number; output_len: number; bao_hash: string; encoded_blake3: string; outboard_corruptions: number[]; input_corruptions: number[] }[];
  slice: { input_len: number; bao_hash: string; slices: Slice[] }[];
};

/** Vector input: a 4-byte little-endian counter starting at 1. */
function input(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = ((Math.floor(i / 4) + 1) >>> (8 * (i % 4))) & 255;
  return b;
}
const flip = (b: Uint8Array, i: number) => {
  const c = b.slice();
  c[i]! ^= 1;
  return c;
};
function expectBaoError(fn: () => unknown, what: string): BaoVerifyError {
  try {
    fn();
  } catch (e) {
    expect(e, what).toBeInstanceOf(BaoVerifyError);
    return e as BaoVerifyError;
  }
  throw new Error(`${what}: corruption was accepted`);
}

describe("Bao vectors: hash", () => {
  for (const c of V.hash) {
    it(`input_len ${c.input_len}`, () => {
      expect(toHex(baoOutboard(input(c.input_len)).hash)).toBe(c.bao_hash);
      expect(toHex(blake3(input(c.input_len)))).toBe(c.bao_hash);
    });
  }
});

describe("Bao vectors: combined encoding", () => {
  for (const c of V.encode) {
    it(`input_len ${c.input_len}: bytes, decode, ${c.corruptions.length} corruptions rejected`, () => {
      const data = input(c.input_len);
      const { hash, encoded } = baoEncode(data);
      expect(toHex(hash), "hash").toBe(c.bao_hash);
      expect(encoded.length, "length").toBe(c.output_len);
      expect(toHex(blake3(encoded)), "encoded bytes").toBe(c.encoded_blake3);
      expect(toHex(baoDecode(hash, encoded)), "decoded").toBe(toHex(data));
      for (const k of c.corruptions) expectBaoError(() => baoDecode(hash, flip(encoded, k)), `encode ${c.input_len} corruption at ${k}`);
    });
  }
});

describe("Bao vectors: outboard encoding", () => {
  for (const c of V.outboard) {
    it(`input_len ${c.input_len}: bytes and every outboard/input corruption rejected`, () => {
      const data = input(c.input_len);
      const { hash, outboard } = baoOutboard(data);
      expect(toHex(hash)).toBe(c.bao_hash);
      expect(outboard.length).toBe(c.output_len);
      expect(toHex(blake3(outboard))).toBe(c.encoded_blake3);
      baoVerifyOutboard(hash, data, outboard);
      for (const k of c.outboard_corruptions) expectBaoError(() => baoVerifyOutboard(hash, data, flip(outboard, k)), `outboard ${c.input_len} corruption at ${k}`);
      for (const k of c.input_corruptions) expectBaoError(() => baoVerifyOutboard(hash, flip(data, k), outboard), `outboard ${c.input_len} input corruption at ${k}`);
    });
  }
});

describe("Bao vectors: slices", () => {
  for (const c of V.slice) {
    it(`input_len ${c.input_len}: ${c.slices.length} slices from combined and outboard, verified, corruptions rejected`, () => {
      const data = input(c.input_len);
      const { hash, encoded } = baoEncode(data);
      const { outboard } = baoOutboard(data);
      for (const sl of c.slices) {
        const name = `len ${c.input_len} slice ${sl.start}+${sl.len}`;
        const a = baoSliceFromCombined(encoded, sl.start, sl.len);
        expect(a.length, name).toBe(sl.output_len);
        expect(toHex(blake3(a)), name).toBe(sl.output_blake3);
        expect(toHex(baoSliceFromOutboard(data, outboard, sl.start, sl.len)), `${name} (outboard)`).toBe(toHex(a));
        const want = data.subarray(Math.min(sl.start, data.length), Math.min(data.length, sl.start + sl.len));
        expect(toHex(baoVerifySlice(hash, a, sl.start, sl.len)), name).toBe(toHex(want));
        for (const k of sl.corruptions) expectBaoError(() => baoVerifySlice(hash, flip(a, k), sl.start, sl.len), `${name} corruption at ${k}`);
      }
    });
  }
});

async function* pieces(b: Uint8Array, step: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += step) yield b.subarray(i, i + step);
}

describe("streaming decoder", () => {
  const data = input(200_000);
  const { hash, encoded } = baoEncode(data);

  it("yields exactly the content for any piece size", async () => {
    for (const step of [1, 7, 1000, 65536, encoded.length]) {
      const out: Uint8Array[] = [];
      for await (const p of decodeSliceStream(hash, pieces(encoded, step), 0, data.length)) out.push(p);
      expect(toHex(Buffer.concat(out)), `step ${step}`).toBe(toHex(data));
    }
  });

  it("stops at the first bad byte: everything yielded before the error is a correct prefix", async () => {
    for (const at of [8, 72, 5000, 100_000, encoded.length - 1]) {
      const bad = flip(encoded, at);
      const out: Uint8Array[] = [];
      let err: unknown;
      try {
        for await (const p of decodeSliceStream(hash, pieces(bad, 3000), 0, data.length)) out.push(p);
      } catch (e) {
        err = e;
      }
      expect(err, `flip at ${at}`).toBeInstanceOf(BaoVerifyError);
      expect((err as BaoVerifyError).reason).toBe("hash-mismatch");
      expect((err as BaoVerifyError).offset, `flip at ${at}: error offset at or before the flip`).toBeLessThanOrEqual(at);
      const got = Buffer.concat(out);
      expect(got.length).toBeLessThan(data.length);
      expect(toHex(got), `flip at ${at}: prefix`).toBe(toHex(data.subarray(0, got.length)));
    }
  });

  it("slices stream too, and truncation / trailing bytes are named", async () => {
    const slice = baoSliceFromCombined(encoded, 50_000, 30_000);
    const out: Uint8Array[] = [];
    for await (const p of decodeSliceStream(hash, pieces(slice, 999), 50_000, 30_000)) out.push(p);
    expect(toHex(Buffer.concat(out))).toBe(toHex(data.subarray(50_000, 80_000)));
    const d = new BaoSliceDecoder(hash, 50_000, 30_000);
    d.push(slice.subarray(0, slice.length - 1));
    expect(() => d.finish()).toThrow(expect.objectContaining({ reason: "truncated" }));
    expect(expectBaoError(() => baoVerifySlice(hash, Buffer.concat([slice, new Uint8Array(1)]), 50_000, 30_000), "trailing").reason).toBe("trailing-data");
    expect(expectBaoError(() => baoVerifySlice(hash, slice.subarray(0, 4), 50_000, 30_000), "short").reason).toBe("truncated");
  });

  it("checks arguments", () => {
    expect(() => baoVerifySlice(new Uint8Array(31), encoded, 0, 1)).toThrow(RangeError);
    expect(() => baoSliceFromCombined(encoded, -1, 1)).toThrow(RangeError);
    expect(() => baoEncode("x" as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => baoSliceFromOutboard(data, new Uint8Array(8), 0, 1)).toThrow(RangeError);
  });
});
