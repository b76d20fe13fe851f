// Swap liquidity cache: outcomes per (from, to) pair recorded, persisted in LMDB, bounded, and used to rank routes.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "lmdb";
import { afterEach, describe, expect, it } from "vitest";
import { SwapLiquidity, swapRoutes } from "./liquidity.ts";

const dirs: string[] = [];
const roots: { close(): Promise<void> }[] = [];
function root(dir = mkdtempSync(join(tmpdir(), "slowdrip-liq-"))) {
  dirs.push(dir);
  const r = open({ path: join(dir, "db") });
  roots.push(r);
  return { r, dir };
}
afterEach(async () => {
  for (const r of roots.splice(0)) await r.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const [A, B, C] = ["http://a.test", "http://b.test", "http://c.test"];

describe("SwapLiquidity", () => {
  it("records success, fee and latency per pair, and persists them", async () => {
    const { r, dir } = root();
    let now = 1000;
    const l = new SwapLiquidity(r, { now: () => now });
    await l.record(A, B, { ok: true, fee: 2, latencyMs: 100 });
    now = 2000;
    await l.record(A, B, { ok: true, fee: 4, latencyMs: 300 });
    await l.record(B, A, { ok: false, latencyMs: 50 });
    expect(l.get(A, B)).toMatchObject({ ok: 2, failed: 0, feeAvg: 3, latencyAvgMs: 200, lastOkAt: 2000 });
    expect(l.get(B, A)).toMatchObject({ ok: 0, failed: 1, failStreak: 1, lastFailAt: 2000 });
    await r.close();
    roots.pop();
    const again = new SwapLiquidity(root(dir).r);
    expect(again.get(A, B)?.ok).toBe(2);
    expect(again.list()).toHaveLength(2);
  });

  it("ranks pairs that worked first (cheaper first), then untried, then failed ones until forgiven", async () => {
    let now = 0;
    const l = new SwapLiquidity(root().r, { now: () => now, forgiveMs: 10_000 });
    await l.record(A, C, { ok: false, latencyMs: 10 });
    await l.record(B, C, { ok: true, fee: 5, latencyMs: 10 });
    await l.record(A, B, { ok: true, fee: 1, latencyMs: 10 });
    const routes = [{ from: A, to: C }, { from: C, to: A }, { from: B, to: C }, { from: A, to: B }];
    expect(l.rank(routes)).toEqual([{ from: A, to: B }, { from: B, to: C }, { from: C, to: A }, { from: A, to: C }]);
    // A success clears the failure streak; an old failure is forgiven.
    now = 20_000;
    expect(l.rank([{ from: A, to: C }, { from: C, to: A }])).toEqual([{ from: A, to: C }, { from: C, to: A }]);
    await l.record(A, C, { ok: true, fee: 0, latencyMs: 5 });
    expect(l.rank(routes)[0]).toEqual({ from: A, to: C });
  });

  it("keeps at most maxPairs, dropping the least recently updated", async () => {
    let now = 0;
    const l = new SwapLiquidity(root().r, { maxPairs: 3, now: () => ++now });
    for (let i = 0; i < 5; i++) await l.record(`http://m${i}.test`, B, { ok: true, fee: 0, latencyMs: 1 });
    expect(l.list().map((s) => s.from).sort()).toEqual(["http://m2.test", "http://m3.test", "http://m4.test"]);
  });

  it("swapRoutes lists sources holding enough for each target, and lets the cache reorder them", async () => {
    const l = new SwapLiquidity(root().r);
    const balances = { [A]: 100, [B]: 50, [C]: 10 };
    const need = () => 40;
    expect(swapRoutes(balances, [C, A], need)).toEqual([{ from: A, to: C }, { from: B, to: C }, { from: B, to: A }]);
    await l.record(A, C, { ok: false, latencyMs: 1 });
    await l.record(B, A, { ok: true, fee: 0, latencyMs: 1 });
    expect(swapRoutes(balances, [C, A], need, l)).toEqual([{ from: B, to: A }, { from: B, to: C }, { from: A, to: C }]);
  });
});
