// The relay pool against a real relay: publishes with retry until acknowledged (a relay that is down does not hold back the others),
// replaces by address, and hands on only events whose Nostr signature and binding tag verify, within the size bound.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { Relay } from "nostr-tools/relay";
import { randomSecret } from "../../src/identity/ed25519.ts";
import { identityFromSecret } from "../../src/identity/identity.ts";
import { bindingTag } from "../../src/nostr/binding.ts";
import { DEFAULT_EVENT_LIMITS, signNodeEvent, type Signer } from "../../src/nostr/events.ts";
import { RelayPool, type PoolOptions } from "../../src/nostr/pool.ts";
import { startRelay, type TestRelay } from "../peers/relay.ts";
import { until } from "../media/peers.ts";

let relay: TestRelay;
beforeAll(async () => { relay = await startRelay(); }, 600_000);
afterAll(async () => { await relay?.stop(); });

const quiet = { debug() {}, info() {}, warn() {} };
function options(relays: string[], over: Partial<PoolOptions> = {}): PoolOptions {
  return { relays, timeoutMs: 3000, maxFrameBytes: 64 * 1024, maxEventsPerSubscription: 100, maxSubscriptions: 8, limits: DEFAULT_EVENT_LIMITS, backoffMinMs: 100, backoffMaxMs: 1000, log: quiet, ...over };
}
function signer(): Signer {
  const id = identityFromSecret(randomSecret());
  const sk = generateSecretKey();
  return { key: { secretKey: sk, pubkey: getPublicKey(sk) }, nodeId: id.nodeId, nodeSecret: id.secretKey };
}
const now = () => Math.floor(Date.now() / 1000);

describe("RelayPool", () => {
  it("publishes to the relay, replaces by address, and reads back verified events", async () => {
    const s = signer();
    const pool = new RelayPool(options([relay.url]));
    try {
      const first = signNodeEvent({ kind: 30081, created_at: now() - 5, tags: [["d", "seeds"], ["x", "a".repeat(64)]], content: "" }, s);
      pool.publish(first);
      await until(() => pool.acknowledged("30081:seeds").length === 1, 10_000, "first ack");
      const second = signNodeEvent({ kind: 30081, created_at: now(), tags: [["d", "seeds"], ["x", "b".repeat(64)]], content: "" }, s);
      pool.publish(second);
      await until(() => pool.acknowledged("30081:seeds").length === 1, 10_000, "second ack");
      const got = await pool.query([{ kinds: [30081], authors: [s.key.pubkey] }], 5000);
      expect(got.events.map((e) => e.id)).toEqual([second.id]);
      expect(got.events[0]!.node).toBe(s.nodeId);
    } finally {
      pool.close();
    }
  });

  it("ignores events with a forged or missing binding tag or an oversized frame, and counts them", async () => {
    const s = signer();
    const other = signer();
    const direct = await Relay.connect(relay.url);
    try {
      // Bound to a node whose signature is over another pubkey: the relay accepts it (valid Schnorr), the pool must not.
      await direct.publish(finalizeEvent({ kind: 30082, created_at: now(), tags: [["d", "forged"], bindingTag(other.nodeId, other.nodeSecret, other.key.pubkey)], content: "" }, s.key.secretKey));
      // No binding tag at all.
      await direct.publish(finalizeEvent({ kind: 30082, created_at: now(), tags: [["d", "unbound"]], content: "" }, s.key.secretKey));
      // Valid, but larger than the pool's frame bound.
      await direct.publish(signNodeEvent({ kind: 30082, created_at: now(), tags: [["d", "big"]], content: "x".repeat(20_000) }, s));
      await direct.publish(signNodeEvent({ kind: 30082, created_at: now(), tags: [["d", "good"]], content: "ok" }, s));
    } finally {
      direct.close();
    }
    const reasons: string[] = [];
    const pool = new RelayPool(options([relay.url], { maxFrameBytes: 8 * 1024, onReject: (r) => reasons.push(r) }));
    try {
      await until(() => pool.status()[0]!.connected, 10_000, "connected");
      const got = await pool.query([{ kinds: [30082], authors: [s.key.pubkey] }], 5000);
      expect(got.events.map((e) => e.tags.find((t) => t[0] === "d")![1])).toEqual(["good"]);
      expect(reasons.sort()).toEqual(["binding", "binding", "size"]);
    } finally {
      pool.close();
    }
  });

  it("cuts a subscription off after max events per relay", async () => {
    const s = signer();
    const direct = await Relay.connect(relay.url);
    try {
      for (let i = 0; i < 6; i++) await direct.publish(signNodeEvent({ kind: 1, created_at: now() - i, tags: [], content: `n${i}` }, s));
    } finally {
      direct.close();
    }
    const reasons: string[] = [];
    const pool = new RelayPool(options([relay.url], { maxEventsPerSubscription: 4, onReject: (r) => reasons.push(r) }));
    try {
      await until(() => pool.status()[0]!.connected, 10_000, "connected");
      const got = await pool.query([{ kinds: [1], authors: [s.key.pubkey] }], 3000);
      expect(got.events.length).toBe(4);
      expect(reasons).toEqual(["count"]);
    } finally {
      pool.close();
    }
  });

  it("retries with back-off while a relay is down and still publishes to the others", async () => {
    const s = signer();
    const spare = await startRelay();
    const port = new URL(spare.url).port;
    await spare.stop();
    // Nothing listens on the port now: the pool retries with back-off.
    const pool = new RelayPool(options([`ws://127.0.0.1:${port}`]));
    try {
      pool.publish(signNodeEvent({ kind: 10021, created_at: now(), tags: [["metric", "bytes"]], content: "" }, s));
      await new Promise((r) => setTimeout(r, 1500));
      expect(pool.acknowledged("10021")).toEqual([]);
      expect(pool.status()[0]!.connected).toBe(false);
    } finally {
      pool.close();
    }
    // And against a live relay the same event is acknowledged after a first failed connection.
    const pool2 = new RelayPool(options([`ws://127.0.0.1:${port}`, relay.url]));
    try {
      pool2.publish(signNodeEvent({ kind: 10021, created_at: now(), tags: [["metric", "bytes"]], content: "" }, s));
      await until(() => pool2.acknowledged("10021").includes(relay.url), 10_000, "ack from the live relay");
      expect(pool2.acknowledged("10021")).toEqual([relay.url]);
    } finally {
      pool2.close();
    }
  }, 120_000);

  it("re-subscribes and publishes what is pending once a relay comes back on its address", async () => {
    const s = signer();
    const first = await startRelay();
    const port = Number(new URL(first.url).port);
    const seen: string[] = [];
    const pool = new RelayPool(options([first.url]));
    let back: TestRelay | undefined;
    try {
      pool.subscribe([{ kinds: [1], authors: [s.key.pubkey] }], { onEvent: (e) => seen.push(e.content) });
      await until(() => pool.status()[0]!.connected, 10_000, "connected");
      await first.stop();
      await until(() => !pool.status()[0]!.connected, 10_000, "the pool to see the relay go");
      // Published while the relay is down: sent once it is back (the new relay starts with an empty database).
      pool.publish(signNodeEvent({ kind: 10021, created_at: now(), tags: [["metric", "bytes"]], content: "" }, s));
      back = await startRelay({ port });
      await until(() => pool.acknowledged("10021").length === 1, 20_000, "the pending event to be acknowledged");
      // The subscription was sent again: a new event on the new relay reaches it.
      const direct = await Relay.connect(back.url);
      try {
        await direct.publish(signNodeEvent({ kind: 1, created_at: now(), tags: [], content: "after restart" }, s));
      } finally {
        direct.close();
      }
      await until(() => seen.includes("after restart"), 10_000, "the event through the renewed subscription");
    } finally {
      pool.close();
      await back?.stop();
    }
  }, 120_000);
});
