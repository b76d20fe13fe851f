// watchEvents: events in order to a consumer, and a bounded queue for one that falls behind.
import { describe, expect, it } from "vitest";
import { EventEmitter } from "node:events";
import { SlowConsumerError, watchEvents } from "./watcher.ts";

describe("watchEvents", () => {
  it("yields events in order and ends when aborted", async () => {
    const em = new EventEmitter();
    const ac = new AbortController();
    const got: number[] = [];
    const done = (async () => {
      for await (const e of watchEvents<number>(em, ac.signal, 10)) got.push(e);
    })();
    for (let i = 0; i < 5; i++) em.emit("event", i);
    await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await done;
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(em.listenerCount("event")).toBe(0);
  });

  it("throws SlowConsumerError when more than maxQueue events wait", async () => {
    const em = new EventEmitter();
    const it = watchEvents<number>(em, new AbortController().signal, 3);
    const first = it.next();
    em.emit("event", 0);
    expect((await first).value).toBe(0);
    for (let i = 1; i <= 5; i++) em.emit("event", i);
    const err = await (async () => {
      try {
        for (;;) await it.next();
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SlowConsumerError);
    expect(em.listenerCount("event")).toBe(0);
  });
});
