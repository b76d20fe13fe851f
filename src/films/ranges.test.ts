// Ranged film fetch: verified Bao slices assembled in order, a holder with bad slices dropped and its ranges retried
// elsewhere, an unreachable holder skipped by later ranges, the origin last. Holders here are functions answering with
// slices made by the real Bao encoder (the node-level behaviour is in test/films/ranges.test.ts).
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { baoEncode, baoSliceFromCombined, createHasher } from "../wasm/index.ts";
import { fetchRanges, type RangeFetchOptions } from "./ranges.ts";

const data = new Uint8Array(randomBytes(300 * 1024));
const hash = createHasher().update(data).digestHex();
const { encoded } = baoEncode(data);
const quiet = { info() {}, warn() {} };

function answer(range: string, corrupt = false): Response {
  const [, a, b] = /bytes=(\d+)-(\d+)/.exec(range)!;
  const slice = baoSliceFromCombined(encoded, Number(a), Number(b) - Number(a) + 1).slice();
  if (corrupt) slice[slice.length - 1]! ^= 1;
  return new Response(slice, { status: 206, headers: { "x-bao": "slice" } });
}

async function collect(o: RangeFetchOptions): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of fetchRanges(o)) parts.push(p);
  return new Uint8Array(Buffer.concat(parts));
}

describe("fetchRanges", () => {
  it("assembles verified ranges from several holders; drops a bad one; skips a dead one; origin last", async () => {
    const asked: string[] = [];
    const bad = new Set<string>();
    const o: RangeFetchOptions = {
      hash, size: data.length, rangeSize: 64 * 1024, parallel: 3, timeoutMs: 5000,
      holders: ["http://good", "http://evil", "http://dead"], origins: ["http://origin"],
      isBad: (ep) => bad.has(ep), markBad: (ep) => bad.add(ep), log: quiet,
      async get(url, headers) {
        const ep = url.slice(0, url.indexOf("/blobs/"));
        asked.push(ep);
        if (ep === "http://dead") throw new Error("connection refused");
        return { response: answer(headers.range!, ep === "http://evil"), paid: false };
      },
    };
    const got = await collect(o);
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    expect([...bad]).toEqual(["http://evil"]);
    expect(asked.filter((e) => e === "http://evil")).toHaveLength(1);
    // Five ranges: "dead" is asked for at most the ranges already in flight when it first failed.
    expect(asked.filter((e) => e === "http://dead").length).toBeLessThanOrEqual(3);
    expect(asked.filter((e) => e === "http://origin")).toHaveLength(0);
  });

  it("falls back to the origin for a range every holder failed, and fails when nobody delivers", async () => {
    const sources: string[] = [];
    const base = {
      hash, size: data.length, rangeSize: 128 * 1024, parallel: 2, timeoutMs: 5000, holders: ["http://evil"],
      isBad: () => false, markBad: () => {}, log: quiet, onRange: (s: string) => void sources.push(s),
    };
    const got = await collect({ ...base, origins: ["http://origin"], get: async (url, h, _s, _b, holder) => ({ response: answer(h.range!, holder), paid: false }) });
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    expect(sources).toEqual(["origin", "origin", "origin"]);
    await expect(collect({ ...base, origins: [], get: async (_u, h) => ({ response: answer(h.range!, true), paid: false }) })).rejects.toThrow(/no holder or origin delivered range/);
  });
});
