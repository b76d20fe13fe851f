// Unit tests of the store's concurrency limit (Semaphore) and the blob LRU (ByteLru).
import { describe, expect, it } from "vitest";
import { BusyError } from "./errors.ts";
import { ByteLru } from "./lru.ts";
import { Semaphore } from "./semaphore.ts";

describe("Semaphore", () => {
  it("hands slots out FIFO and refuses with BusyError after the timeout", async () => {
    const s = new Semaphore("fetch", 2, 40);
    const r1 = await s.acquire();
    const r2 = await s.acquire();
    const order: number[] = [];
    const w3 = s.acquire().then((r) => (order.push(3), r));
    const w4 = s.acquire().then((r) => (order.push(4), r));
    expect(s.waiting).toBe(2);
    r1();
    r1(); // a second release is ignored
    (await w3)();
    r2();
    (await w4)();
    expect(order).toEqual([3, 4]);
    expect(s.inUse).toBe(0);
    const a = await s.acquire();
    const b = await s.acquire();
    const err = await s.acquire().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusyError);
    expect(err).toMatchObject({ limit: "fetch", capacity: 2 });
    expect((err as BusyError).waitedMs).toBeGreaterThanOrEqual(30);
    expect(s.rejected).toBe(1);
    expect(s.waiting).toBe(0);
    a();
    b();
  });

  it("an aborted waiter leaves the queue with the signal's reason", async () => {
    const s = new Semaphore("store", 1, 10_000);
    const r = await s.acquire();
    const ac = new AbortController();
    const w = s.acquire(ac.signal);
    ac.abort(new Error("gone"));
    await expect(w).rejects.toThrow("gone");
    expect(s.waiting).toBe(0);
    r();
    expect(s.inUse).toBe(0);
  });

  it("checks its arguments", () => {
    expect(() => new Semaphore("x", 0, 1)).toThrow(RangeError);
    expect(() => new Semaphore("x", 1, -1)).toThrow(RangeError);
    expect(() => new Semaphore("", 1, 1)).toThrow(TypeError);
  });
});

describe("ByteLru", () => {
  const b = (n: number) => new Uint8Array(n);
  it("evicts least recently used entries to stay within bytes and count", () => {
    const lru = new ByteLru(100, 60, 3);
    lru.set("a", b(40));
    lru.set("b", b(40));
    expect(lru.get("a")?.length).toBe(40); // a is now most recent
    lru.set("c", b(40)); // over 100 bytes: evicts b
    expect(lru.get("b")).toBeUndefined();
    expect(lru.bytes).toBe(80);
    lru.set("d", b(1));
    lru.set("e", b(1)); // over 3 entries: evicts a (c, d, e remain)
    expect(lru.size).toBe(3);
    expect(lru.get("a")).toBeUndefined();
    expect([lru.hits, lru.misses]).toEqual([1, 2]);
  });

  it("ignores entries over the per-item limit, and a zero-byte cache holds nothing", () => {
    const lru = new ByteLru(100, 10);
    lru.set("big", b(11));
    expect(lru.size).toBe(0);
    const off = new ByteLru(0, 10);
    expect(off.accepts(1)).toBe(false);
    off.set("x", b(1));
    expect(off.size).toBe(0);
  });
});
