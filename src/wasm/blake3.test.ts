// Unit tests for the BLAKE3 API: official vectors, incremental hashing, hasher interleaving, argument checks.
import { describe, expect, it } from "vitest";
import { blake3 as nobleBlake3 } from "@noble/hashes/blake3.js";
import vectors from "../../test/vectors/blake3/test_vectors.json" with { type: "json" };
import {
  blake3Concat,
  blake3, blake3Hex, keyedHash, deriveKey, createHasher, createKeyedHasher, createDeriveKeyHasher, toHex, fromHex, isBlobId,
} from "./index.ts";

interface Case { input_len: number; hash: string; keyed_hash: string; derive_key: string }
const v = vectors as unknown as { key: string; context_string: string; cases: Case[] };
const KEY = new TextEncoder().encode(v.key);

function vectorInput(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

describe("official BLAKE3 vectors", () => {
  for (const c of v.cases) {
    const input = vectorInput(c.input_len);
    const full = c.hash.length / 2;
    it(`input_len ${c.input_len}: hash, keyed_hash, derive_key (full XOF and 32-byte prefix, one-shot and streaming)`, () => {
      expect(toHex(blake3(input, { length: full })), `hash len ${c.input_len}`).toBe(c.hash);
      expect(toHex(blake3(input)), `hash prefix len ${c.input_len}`).toBe(c.hash.slice(0, 64));
      expect(blake3Hex(input)).toBe(c.hash.slice(0, 64));
      expect(toHex(keyedHash(KEY, input, { length: full })), `keyed len ${c.input_len}`).toBe(c.keyed_hash);
      expect(toHex(keyedHash(KEY, input)), `keyed prefix len ${c.input_len}`).toBe(c.keyed_hash.slice(0, 64));
      expect(toHex(deriveKey(v.context_string, input, { length: full })), `derive len ${c.input_len}`).toBe(c.derive_key);
      expect(toHex(deriveKey(v.context_string, input)), `derive prefix len ${c.input_len}`).toBe(c.derive_key.slice(0, 64));
      // streaming, byte-odd splits, three modes interleaved on the shared state slot
      const hs = [createHasher(), createKeyedHasher(KEY), createDeriveKeyHasher(v.context_string)];
      for (let off = 0, step = 1; off < input.length; off += step, step = step * 2 + 1) {
        for (const h of hs) h.update(input.subarray(off, off + step));
      }
      expect(toHex(hs[0]!.digest(full)), `stream hash len ${c.input_len}`).toBe(c.hash);
      expect(toHex(hs[1]!.digest(full)), `stream keyed len ${c.input_len}`).toBe(c.keyed_hash);
      expect(toHex(hs[2]!.digest(full)), `stream derive len ${c.input_len}`).toBe(c.derive_key);
    });
  }
});

describe("Blake3Hasher", () => {
  it("digest is non-destructive, reset forgets input, digestHex is the 32-byte hex", () => {
    const data = vectorInput(5000);
    const h = createHasher().update(data.subarray(0, 3000));
    expect(h.digestHex()).toBe(toHex(nobleBlake3(data.subarray(0, 3000))));
    h.update(data.subarray(3000));
    expect(h.digestHex()).toBe(toHex(nobleBlake3(data)));
    h.reset().update(data.subarray(0, 7));
    expect(h.digestHex()).toBe(toHex(nobleBlake3(data.subarray(0, 7))));
  });

  it("agrees with @noble/hashes over sizes around chunk and subtree boundaries", () => {
    for (const n of [0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 4095, 4097, 16384, 65537, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 5]) {
      const d = new Uint8Array(n);
      for (let i = 0; i < n; i++) d[i] = (i * 31 + (i >>> 10)) & 255;
      const want = toHex(nobleBlake3(d));
      expect(blake3Hex(d), `one-shot size ${n}`).toBe(want);
      const h = createHasher();
      for (let off = 0, step = 1000; off < n; off += step, step += 777) h.update(d.subarray(off, off + step));
      expect(h.digestHex(), `incremental size ${n}`).toBe(want);
    }
  });

  it("extendable output at long lengths matches noble (crosses the output buffer)", () => {
    const d = vectorInput(3000);
    const n = (1 << 20) + 100;
    expect(toHex(blake3(d, { length: n }))).toBe(toHex(nobleBlake3(d, { dkLen: n })));
  });
});

describe("blake3Concat", () => {
  it("equals BLAKE3 of the concatenation, in one call or streamed past 1 MiB", () => {
    const big = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => (i * 7 + (i >> 11)) & 255);
    for (const cuts of [[], [0], [1, 2, 3], [1023, 1024, 1025], [4, 1800, 3000], [1 << 20, (1 << 20) + 1], [500_000, 2_000_000]]) {
      const ends = [...cuts.filter((c) => c <= big.length), big.length];
      const parts: Uint8Array[] = [];
      let at = 0;
      for (const e of ends) {
        parts.push(big.subarray(at, e));
        at = e;
      }
      const whole = big.subarray(0, at);
      expect(Buffer.from(blake3Concat(parts)).toString("hex"), String(cuts)).toBe(Buffer.from(nobleBlake3(whole)).toString("hex"));
      const small = parts.map((p) => p.subarray(0, 700));
      expect(Buffer.from(blake3Concat(small)).toString("hex")).toBe(Buffer.from(nobleBlake3(Buffer.concat(small))).toString("hex"));
    }
    expect(Buffer.from(blake3Concat([])).toString("hex")).toBe(Buffer.from(nobleBlake3(new Uint8Array(0))).toString("hex"));
    expect(() => blake3Concat([5 as unknown as Uint8Array])).toThrow(TypeError);
  });
});

describe("argument checks", () => {
  it("throws TypeError on wrong types and RangeError on wrong lengths", () => {
    expect(() => blake3("abc" as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => blake3(new Uint8Array(1), { length: -1 })).toThrow(RangeError);
    expect(() => blake3(new Uint8Array(1), { length: 1.5 })).toThrow(RangeError);
    expect(() => keyedHash(new Uint8Array(31), new Uint8Array(1))).toThrow(RangeError);
    expect(() => createKeyedHasher(new Uint8Array(33))).toThrow(RangeError);
    expect(() => deriveKey(5 as unknown as string, new Uint8Array(1))).toThrow(TypeError);
    expect(() => createHasher().update([1, 2] as unknown as Uint8Array)).toThrow(TypeError);
  });

  it("hex helpers", () => {
    expect(toHex(new Uint8Array([0, 15, 255]))).toBe("000fff");
    expect(Array.from(fromHex("000fFF"))).toEqual([0, 15, 255]);
    expect(() => fromHex("abc")).toThrow(RangeError);
    expect(() => fromHex("zz")).toThrow(RangeError);
    expect(isBlobId("a".repeat(64))).toBe(true);
    expect(isBlobId("A".repeat(64))).toBe(false);
    expect(isBlobId("a".repeat(63))).toBe(false);
  });
});
