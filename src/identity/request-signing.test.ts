// Signed requests: valid signatures verify once; tampering, clock skew, replays and malformed headers are refused by reason.
import { describe, expect, it } from "vitest";
import { identityFromSecret } from "./identity.ts";
import { randomSecret } from "./ed25519.ts";
import { NonceCache, SIG_HEADERS, SignatureError, signRequest, verifyRequest } from "./request-signing.ts";

const id = identityFromSecret(randomSecret());
const parts = { method: "POST", path: "/slowdrip.v1.NodeService/GetStatus", body: new Uint8Array([1, 2, 3]) };
const getter = (h: Record<string, string>) => (n: string) => h[n];
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
    const h = signRequest(parts, id.secretKey, id.nodeId);
    expect(verifyRequest(getter(h), parts, new NonceCache())).toBe(id.nodeId);
  });
  it("refuses a replay of the same request", () => {
    const cache = new NonceCache();
    const h = signRequest(parts, id.secretKey, id.nodeId);
    verifyRequest(getter(h), parts, cache);
    expect(reason(() => verifyRequest(getter(h), parts, cache))).toBe("replayed");
  });
  it.each([
    ["another body", { ...parts, body: new Uint8Array([1, 2, 4]) }],
    ["another path", { ...parts, path: "/slowdrip.v1.NodeService/GetIdentity" }],
    ["another method", { ...parts, method: "GET" }],
    ["no body", { method: parts.method, path: parts.path }],
  ])("refuses a signature over %s", (_n, other) => {
    const h = signRequest(parts, id.secretKey, id.nodeId);
    expect(reason(() => verifyRequest(getter(h), other, new NonceCache()))).toBe("bad-signature");
  });
  it("refuses a signature by another key under this node id", () => {
    const other = identityFromSecret(randomSecret());
    const h = signRequest(parts, other.secretKey, id.nodeId);
    expect(reason(() => verifyRequest(getter(h), parts, new NonceCache()))).toBe("bad-signature");
  });
  it("refuses times outside ±60 s", () => {
    const now = Date.now();
    expect(reason(() => verifyRequest(getter(signRequest(parts, id.secretKey, id.nodeId, now - 61_000)), parts, new NonceCache(), now))).toBe("expired");
    expect(reason(() => verifyRequest(getter(signRequest(parts, id.secretKey, id.nodeId, now + 61_000)), parts, new NonceCache(), now))).toBe("expired");
    expect(verifyRequest(getter(signRequest(parts, id.secretKey, id.nodeId, now - 59_000)), parts, new NonceCache(), now)).toBe(id.nodeId);
  });
  it.each([
    [SIG_HEADERS.node, "XYZ"],
    [SIG_HEADERS.time, "yesterday"],
    [SIG_HEADERS.nonce, "short"],
    [SIG_HEADERS.signature, "00"],
  ])("refuses a malformed %s", (name, value) => {
    const h = { ...signRequest(parts, id.secretKey, id.nodeId), [name]: value };
    expect(reason(() => verifyRequest(getter(h), parts, new NonceCache()))).toBe("malformed");
  });
  it("refuses a request missing a header", () => {
    const h: Record<string, string> = signRequest(parts, id.secretKey, id.nodeId);
    delete h[SIG_HEADERS.nonce];
    expect(reason(() => verifyRequest(getter(h), parts, new NonceCache()))).toBe("missing");
  });
  it("the replay cache is bounded: when full of live nonces it refuses with busy", () => {
    const cache = new NonceCache(3);
    const now = Date.now();
    for (let i = 0; i < 3; i++) verifyRequest(getter(signRequest(parts, id.secretKey, id.nodeId, now)), parts, cache, now);
    expect(reason(() => verifyRequest(getter(signRequest(parts, id.secretKey, id.nodeId, now)), parts, cache, now))).toBe("busy");
    // Once the entries expire there is room again.
    const later = now + 121_000;
    expect(verifyRequest(getter(signRequest(parts, id.secretKey, id.nodeId, later)), parts, cache, later)).toBe(id.nodeId);
    expect(cache.size).toBe(1);
  });
});
