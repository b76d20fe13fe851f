// Stripe layout: ranges map to the right stripes; a stripe decodes from any k of its k + m shards; one shard is
// rebuilt from k others and hashes as before.
import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { blake3Hex } from "../wasm/index.ts";
import { decodeStripe, encodeStripe, rebuildShard, stripeCount, stripesOfRange } from "./layout.ts";

describe("layout", () => {
  it("counts stripes and finds the stripes of a range", () => {
    expect(stripeCount(0, 100)).toBe(0);
    expect(stripeCount(250, 100)).toBe(3);
    expect(stripesOfRange(0, 250, 100)).toEqual({ first: 0, last: 2 });
    expect(stripesOfRange(199, 2, 100)).toEqual({ first: 1, last: 2 });
    expect(stripesOfRange(10, 0, 100)).toEqual({ first: 0, last: -1 });
  });

  it("decodes a stripe from every choice of k shards out of k + m", () => {
    const k = 4;
    const m = 2;
    const data = randomBytes(10_001);
    const { shards, hashes } = encodeStripe(data, k, m);
    expect(hashes).toEqual(shards.map((s) => blake3Hex(s)));
    for (let a = 0; a < k + m; a++) {
      for (let b = a + 1; b < k + m; b++) {
        const some = shards.map((s, i) => (i === a || i === b ? null : s));
        expect(Buffer.from(decodeStripe(some, k, m, data.length).data).equals(data)).toBe(true);
        expect(blake3Hex(rebuildShard(some, k, m, a))).toBe(hashes[a]);
      }
    }
    expect(() => decodeStripe(shards.map((s, i) => (i < 3 ? null : s)), k, m, data.length)).toThrow(RangeError);
  });
});
