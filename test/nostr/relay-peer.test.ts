// The test relay is a real Nostr relay: it checks signatures and keeps only the newest addressable event per d tag.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Relay } from "nostr-tools/relay";
import type { Filter } from "nostr-tools/filter";
import { finalizeEvent, generateSecretKey, getPublicKey, type Event } from "nostr-tools/pure";
import { startRelay, type TestRelay } from "../peers/relay.ts";

let relay: TestRelay;
beforeAll(async () => { relay = await startRelay(); }, 600_000);
afterAll(async () => { await relay?.stop(); });

/** Sends one EVENT over a raw WebSocket and returns the relay's OK answer (nostr-relay answers a rejection with an
 * empty event id, which nostr-tools' Relay cannot match, so this test reads the frame itself). */
async function publishRaw(url: string, event: object): Promise<{ ok: boolean; reason: string }> {
  const ws = new WebSocket(url);
  try {
    return await new Promise((resolve, reject) => {
      ws.onerror = () => reject(new Error("websocket error"));
      ws.onopen = () => ws.send(JSON.stringify(["EVENT", event]));
      ws.onmessage = (m) => {
        const msg = JSON.parse(String(m.data)) as unknown[];
        if (msg[0] === "OK") resolve({ ok: msg[2] === true, reason: String(msg[3] ?? "") });
      };
    });
  } finally {
    ws.close();
  }
}

async function query(url: string, filter: Filter): Promise<Event[]> {
  const r = await Relay.connect(url);
  try {
    return await new Promise<Event[]>((resolve) => {
      const got: Event[] = [];
      const sub = r.subscribe([filter], { onevent: (e) => got.push(e), oneose: () => { sub.close(); resolve(got); } });
    });
  } finally {
    r.close();
  }
}

describe("test relay (nostr-relay 1.14)", () => {
  const sk = generateSecretKey();
  const pk = getPublicKey(sk);
  const now = Math.floor(Date.now() / 1000);

  it("accepts a signed event and rejects one whose signature does not match", async () => {
    const good = finalizeEvent({ kind: 1, created_at: now, tags: [], content: "hello" }, sk);
    expect(await publishRaw(relay.url, good)).toEqual({ ok: true, reason: "" });
    const other = finalizeEvent({ kind: 1, created_at: now, tags: [], content: "signed" }, sk);
    // Content changed after signing: the id no longer matches.
    const forged = await publishRaw(relay.url, { ...other, content: "changed after signing" });
    expect(forged.ok).toBe(false);
    expect(forged.reason).toMatch(/invalid/i);
    // Right id, signature of another event.
    const swapped = await publishRaw(relay.url, { ...other, sig: good.sig });
    expect(swapped.ok).toBe(false);
    expect(swapped.reason).toMatch(/invalid/i);
    const stored = await query(relay.url, { kinds: [1], authors: [pk] });
    expect(stored.map((e) => e.content)).toEqual(["hello"]);
  });

  it("replaces an addressable event by (pubkey, kind, d) and keeps other d values", async () => {
    const r = await Relay.connect(relay.url);
    try {
      for (const [d, t, content] of [["a", now - 10, "a-old"], ["b", now - 5, "b-only"], ["a", now, "a-new"]] as const) {
        await r.publish(finalizeEvent({ kind: 30082, created_at: t, tags: [["d", d]], content }, sk));
      }
    } finally {
      r.close();
    }
    const stored = await query(relay.url, { kinds: [30082], authors: [pk] });
    expect(stored.map((e) => e.content).sort()).toEqual(["a-new", "b-only"]);
  });

  it("rejects content larger than its max_event_size", async () => {
    const small = await startRelay({ maxEventSize: 1000 });
    try {
      const big = await publishRaw(small.url, finalizeEvent({ kind: 1, created_at: now, tags: [], content: "x".repeat(2000) }, sk));
      expect(big.ok).toBe(false);
      expect(big.reason).toMatch(/invalid/i);
      expect((await publishRaw(small.url, finalizeEvent({ kind: 1, created_at: now, tags: [], content: "x".repeat(500) }, sk))).ok).toBe(true);
    } finally {
      await small.stop();
    }
  }, 120_000);
});
