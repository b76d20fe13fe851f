// The heap tuning takes effect in a fresh process: V8's heap controller reports the fixed growing factor at the next
// full collection (traced by V8 itself, no timing involved).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { HEAP_GROWING_PERCENT } from "./heap.ts";

const MODULE = fileURLToPath(new URL("./heap.ts", import.meta.url));

function factors(tune: boolean): string[] {
  const code = `${tune ? `const { tuneHeap } = await import(${JSON.stringify(MODULE)}); tuneHeap();` : ""}
const keep = []; for (let i = 0; i < 2e5; i++) keep.push({ i }); globalThis.gc(); console.log(keep.length);`;
  const r = spawnSync(process.execPath, ["--expose-gc", "--trace-gc-verbose", "--input-type=module", "-e", code], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return [...r.stdout.matchAll(/\[HeapController\] factor ([0-9.]+)/g)].map((m) => m[1]!);
}

describe("tuneHeap", () => {
  it("fixes V8's old-generation growing factor at 1 + HEAP_GROWING_PERCENT/100", () => {
    const want = (1 + HEAP_GROWING_PERCENT / 100).toFixed(1);
    const tuned = factors(true);
    expect(tuned.length).toBeGreaterThan(0);
    expect(tuned.every((f) => f === want)).toBe(true);
    // Without it V8 picks its own factor from the allocation rate (a forced GC in a quiet process: not the fixed one).
    expect(factors(false).some((f) => f !== want)).toBe(true);
  });
});
