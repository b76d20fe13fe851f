// Ledger: time order, newest-N limit, service filter, time window, totals, and listeners hearing only committed entries.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { open } from "lmdb";
import { Ledger, type LedgerEntry } from "./ledger.ts";

it("lists, filters, totals, and notifies after commit only", async () => {
  const dir = mkdtempSync(join(tmpdir(), "slowdrip-ledger-"));
  const root = open({ path: join(dir, "db") });
  try {
    const l = new Ledger(root);
    const heard: LedgerEntry[] = [];
    l.onEntry((e) => heard.push(e));
    root.transactionSync(() => {
      for (let i = 1; i <= 10; i++) {
        l.recordSync({ time: i * 1000, direction: i % 2 ? "in" : "out", kind: "payment", amount: i, mint: "m", service: i % 3 ? "a" : "b" });
      }
    });
    expect(() => root.transactionSync(() => {
      l.recordSync({ time: 11_000, direction: "in", kind: "payment", amount: 99, mint: "m" });
      throw new Error("abort");
    })).toThrow("abort");
    await new Promise((r) => setTimeout(r, 10));
    expect(heard.map((e) => e.amount)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(l.list().map((e) => e.amount)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(l.list({ limit: 3 }).map((e) => e.amount)).toEqual([8, 9, 10]);
    expect(l.list({ service: "b" }).map((e) => e.amount)).toEqual([3, 6, 9]);
    expect(l.list({ since: 4000, until: 7000 }).map((e) => e.amount)).toEqual([4, 5, 6]);
    expect(l.totals()).toEqual({ a: { in: 1 + 5 + 7, out: 2 + 4 + 8 + 10, entries: 7 }, b: { in: 3 + 9, out: 6, entries: 3 } });
    expect(() => l.recordSync({ time: 1, direction: "in", kind: "x", amount: -1, mint: "m" })).toThrow(RangeError);
    expect(() => l.list({ limit: 0 })).toThrow(RangeError);
  } finally {
    await root.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
