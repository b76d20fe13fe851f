// Signed requests: valid signatures verify once; tampering, another target, clock skew, replays, malformed headers and
// floods of self-made keys are refused by reason, while privileged signers keep working.
import { describe, expect, it } from "vitest";
import { identityFromSecret } from "./identity.ts";
import { randomSecret } from "./ed25519.ts";
import { NonceCache, SIG_HEADERS, SignatureError, StreamBodyHasher, signRequest, verifyRequest, type SignedParts } from "./request-signing.ts";

const id = identityFromSecret(randomSecret());
const self = identityFromSecret(randomSecret()).nodeId;
const ctx = { self, address: "127.0.0.1" };
const parts = { method: "POST", path: "/slowdrip.v1.NodeService/GetStatus", body: new Uint8Array([1, 2, 3]) };
const getter = (h: Record<string, string>) => (n: string) => h[n];
const signed = (p: SignedParts = parts, now?: number, who = id, target = self) => signRequest(p, who.secretKey, who.nodeId, target, now);
function reason(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof SignatureError ? e.reason : `other: ${(e as Error).message}`;
  }
  return undefined;
}

describe("request signing", () => {
  it("verifies a fresh signature and returns the signer", () => {
    expect(verifyRequest(getter(signed()), parts, new NonceCache(), ctx)).toBe(id.nodeId);
  });
  it("refuses a replay of the same request", () => {
    const cache = new NonceCache();
    const h = signed();
    verifyRequest(getter(h), parts, cache, ctx);
    expect(reason(() => verifyRequest(getter(h), parts, cache, ctx))).toBe("replayed");
  });
  it.each([
    ["another body", { ...parts, body: new Uint8Array([1, 2, 4]) }],
    ["another path", { ...parts, path: "/slowdrip.v1.NodeService/GetIdentity" }],
    ["another method", { ...parts, method: "GET" }],
    ["no body", { method: parts.method, path: parts.path }],
    ["a declared stream hash instead of the body", { method: parts.method, path: parts.path, bodyHash: "00".repeat(32) }],
  ])("refuses a signature over %s", (_n, other) => {
    expect(reason(() => verifyRequest(getter(signed()), other, new NonceCache(), ctx))).toBe("bad-signature");
  });
  it("refuses a signature by another key under this node id", () => {
    const other = identityFromSecret(randomSecret());
    const h = signRequest(parts, other.secretKey, id.nodeId, self);
    expect(reason(() => verifyRequest(getter(h), parts, new NonceCache(), ctx))).toBe("bad-signature");
  });
  it("a signature made for node A is refused by node B, naming both", () => {
    const nodeA = identityFromSecret(randomSecret()).nodeId;
    const h = signed(parts, undefined, id, nodeA);
    const cacheB = new NonceCache();
    let err: SignatureError | undefined;
    try {
      verifyRequest(getter(h), parts, cacheB, ctx);
    } catch (e) {
      err = e as SignatureError;
    }
    expect(err?.reason).toBe("wrong-target");
    expect(err?.message).toContain(nodeA);
    expect(err?.message).toContain(self);
    // Rewriting the target header to B's id breaks the signature instead.
    expect(reason(() => verifyRequest(getter({ ...h, [SIG_HEADERS.target]: self }), parts, cacheB, ctx))).toBe("bad-signature");
    expect(verifyRequest(getter(h), parts, new NonceCache(), { self: nodeA })).toBe(id.nodeId);
  });
  it("refuses times outside ±60 s", () => {
    const now = Date.now();
    expect(reason(() => verifyRequest(getter(signed(parts, now - 61_000)), parts, new NonceCache(), { ...ctx, now }))).toBe("expired");
    expect(reason(() => verifyRequest(getter(signed(parts, now + 61_000)), parts, new NonceCache(), { ...ctx, now }))).toBe("expired");
    expect(verifyRequest(getter(signed(parts, now - 59_000)), parts, new NonceCache(), { ...ctx, now })).toBe(id.nodeId);
  });
  it.each([
    [SIG_HEADERS.node, "XYZ"],
    [SIG_HEADERS.target, "ab"],
    [SIG_HEADERS.time, "yesterday"],
    [SIG_HEADERS.nonce, "short"],
    [SIG_HEADERS.signature, "00"],
  ])("refuses a malformed %s", (name, value) => {
    const h = { ...signed(), [name]: value };
    expect(reason(() => verifyRequest(getter(h), parts, new NonceCache(), ctx))).toBe("malformed");
  });
  it.each([SIG_HEADERS.nonce, SIG_HEADERS.target])("refuses a request missing %s", (name) => {
    const h: Record<string, string> = signed();
    delete h[name];
    expect(reason(() => verifyRequest(getter(h), parts, new NonceCache(), ctx))).toBe("missing");
  });
  it("a target that is not a node id cannot be signed", () => {
    expect(() => signRequest(parts, id.secretKey, id.nodeId, "node-b")).toThrow(RangeError);
  });
  it("covers a streamed body through its declared hash, framing included", () => {
    const a = new StreamBodyHasher().update(new Uint8Array([1, 2])).update(new Uint8Array([3])).digestHex();
    const b = new StreamBodyHasher().update(new Uint8Array([1])).update(new Uint8Array([2, 3])).digestHex();
    expect(a).not.toBe(b);
    const p = { method: "POST", path: "/slowdrip.v1.StorageService/Store", bodyHash: a };
    const h = signed(p);
    expect(h[SIG_HEADERS.body]).toBe(a);
    expect(verifyRequest(getter(h), p, new NonceCache(), ctx)).toBe(id.nodeId);
    expect(reason(() => verifyRequest(getter(signed(p)), { ...p, bodyHash: b }, new NonceCache(), ctx))).toBe("bad-signature");
    expect(reason(() => verifyRequest(getter(signed(p)), { ...p, bodyHash: "XYZ" }, new NonceCache(), ctx))).toBe("malformed");
  });
});

describe("the replay guard", () => {
  const key = () => identityFromSecret(randomSecret());
  it("is bounded: when full of live nonces it refuses ordinary signers with busy, until they expire", () => {
    const cache = new NonceCache({ maxEntries: 3 });
    const now = Date.now();
    for (let i = 0; i < 3; i++) verifyRequest(getter(signed(parts, now, key())), parts, cache, { ...ctx, now });
    expect(reason(() => verifyRequest(getter(signed(parts, now)), parts, cache, { ...ctx, now }))).toBe("busy");
    const later = now + 121_000;
    expect(verifyRequest(getter(signed(parts, later)), parts, cache, { ...ctx, now: later })).toBe(id.nodeId);
    expect(cache.size).toBe(1);
  });
  it("a flood of self-made keys does not lock out privileged signers (operators, free peers)", () => {
    const operator = key();
    const cache = new NonceCache({ maxEntries: 50, privilegedEntries: 10, perAddress: 1000 });
    cache.addPrivileged((n) => n === operator.nodeId);
    const now = Date.now();
    let busy = 0;
    for (let i = 0; i < 80; i++) {
      const r = reason(() => verifyRequest(getter(signed(parts, now, key())), parts, cache, { ...ctx, address: `10.0.${i}.1`, now }));
      if (r === "busy") busy++;
    }
    expect(busy).toBe(30);
    for (let i = 0; i < 5; i++) expect(verifyRequest(getter(signed(parts, now, operator)), parts, cache, { ...ctx, now })).toBe(operator.nodeId);
  });
  it("a signer that becomes privileged between two requests (a new cluster member) cannot replay its earlier nonce", () => {
    const members = new Set<string>();
    const cache = new NonceCache();
    cache.addPrivileged((n) => members.has(n));
    const h = signed();
    verifyRequest(getter(h), parts, cache, ctx);
    members.add(id.nodeId);
    expect(reason(() => verifyRequest(getter(h), parts, cache, ctx))).toBe("replayed");
    const h2 = signed();
    verifyRequest(getter(h2), parts, cache, ctx);
    members.delete(id.nodeId);
    expect(reason(() => verifyRequest(getter(h2), parts, cache, ctx))).toBe("replayed");
  });
  it("bounds the nonces of one key and of one address", () => {
    const cache = new NonceCache({ perKey: 4, perAddress: 6 });
    const now = Date.now();
    for (let i = 0; i < 4; i++) verifyRequest(getter(signed(parts, now)), parts, cache, { ...ctx, address: `10.1.0.${i}`, now });
    expect(reason(() => verifyRequest(getter(signed(parts, now)), parts, cache, { ...ctx, address: "10.1.0.9", now }))).toBe("busy");
    for (let i = 0; i < 6; i++) verifyRequest(getter(signed(parts, now, key())), parts, cache, { ...ctx, address: "10.2.0.1", now });
    expect(reason(() => verifyRequest(getter(signed(parts, now, key())), parts, cache, { ...ctx, address: "10.2.0.1", now }))).toBe("busy");
    expect(verifyRequest(getter(signed(parts, now, key())), parts, cache, { ...ctx, address: "10.2.0.2", now })).toMatch(/^[0-9a-f]{64}$/);
  });
  it("limits the rate of signature checks per address before verifying (bad signatures cost the sender, not the node)", () => {
    const cache = new NonceCache({ attemptsPerSecond: 10 });
    const now = Date.now();
    const bad = { ...signed(parts, now), [SIG_HEADERS.signature]: "ab".repeat(64) };
    const reasons = Array.from({ length: 25 }, () => reason(() => verifyRequest(getter({ ...bad, [SIG_HEADERS.nonce]: crypto.randomUUID().replace(/-/g, "") }), parts, cache, { ...ctx, address: "10.3.0.1", now })));
    expect(reasons.filter((r) => r === "bad-signature")).toHaveLength(20);
    expect(reasons.filter((r) => r === "rate-limited")).toHaveLength(5);
    // Another address is unaffected, and the bucket refills with time.
    expect(verifyRequest(getter(signed(parts, now)), parts, cache, { ...ctx, address: "10.3.0.2", now })).toBe(id.nodeId);
    expect(verifyRequest(getter(signed(parts, now + 1000)), parts, cache, { ...ctx, address: "10.3.0.1", now: now + 1000 })).toBe(id.nodeId);
  });
  it("expires entries from the front in order, so 200,000 adds over eight hours stay bounded by what is live", () => {
    const cache = new NonceCache({ maxEntries: 1000, perKey: 1_000_000, perAddress: 1_000_000 });
    const t0 = Date.now();
    for (let i = 0; i < 200_000; i++) cache.add(id.nodeId, i.toString(16).padStart(16, "0"), "a", t0 + i * 150);
    expect(cache.size).toBeLessThanOrEqual(1000);
  });
});
