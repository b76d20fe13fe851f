// Unit tests of EdDSA JWT issue/verify and the JWKS document.
import { describe, expect, it } from "vitest";
import { publicKeyOf } from "../identity/ed25519.ts";
import { b64url, fromB64url, issueToken, jwksDocument, keyId, permissionCovers, verifyToken, JwtError } from "./jwt.ts";

const secret = new Uint8Array(32).fill(7);
const other = new Uint8Array(32).fill(9);
const pub = publicKeyOf(secret);
const now = 1_800_000_000;

const tok = (o: Partial<Parameters<typeof issueToken>[0]> = {}) =>
  issueToken({ secretKey: secret, issuer: "node", permissions: [{ action: "publish", path: "live/a" }], ttlSeconds: 3600, now, ...o });

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof JwtError) return e.code;
    throw e;
  }
  return "ok";
}

describe("jwt", () => {
  it("issues a verifiable EdDSA token with MediaMTX permissions", () => {
    const t = tok();
    const header = JSON.parse(new TextDecoder().decode(fromB64url(t.split(".")[0]!)));
    expect(header).toEqual({ alg: "EdDSA", typ: "JWT", kid: keyId(pub) });
    const c = verifyToken(t, { trustedKeys: [pub], now: now + 10 });
    expect(c.mediamtx_permissions).toEqual([{ action: "publish", path: "live/a" }]);
    expect(c.exp - c.iat).toBe(3600);
    expect(c.iss).toBe("node");
  });

  it("refuses each kind of bad token with its own code", () => {
    const t = tok();
    const [h, c, s] = t.split(".") as [string, string, string];
    const cases: [string, () => unknown, string][] = [
      ["expired", () => verifyToken(t, { trustedKeys: [pub], now: now + 3600 + 31 }), "expired"],
      ["future iat", () => verifyToken(t, { trustedKeys: [pub], now: now - 100 }), "not-yet-valid"],
      ["unknown key", () => verifyToken(t, { trustedKeys: [publicKeyOf(other)], now }), "unknown-key"],
      ["tampered claims", () => verifyToken(`${h}.${b64url(new TextEncoder().encode(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(fromB64url(c))), exp: now + 99999 })))}.${s}`, { trustedKeys: [pub], now }), "bad-signature"],
      ["alg none", () => verifyToken(`${b64url(new TextEncoder().encode('{"alg":"none","kid":"x"}'))}.${c}.`, { trustedKeys: [pub], now }), "unsupported-alg"],
      ["two parts", () => verifyToken(`${h}.${c}`, { trustedKeys: [pub], now }), "malformed"],
      ["too long", () => verifyToken("a".repeat(5000), { trustedKeys: [pub], now }), "too-long"],
      ["wrong issuer", () => verifyToken(t, { trustedKeys: [pub], now, issuer: "other" }), "bad-issuer"],
      ["no audience where one is required", () => verifyToken(t, { trustedKeys: [pub], now, audience: "node-a" }), "bad-audience"],
      ["another node's audience", () => verifyToken(tok({ audience: "node-b" }), { trustedKeys: [pub], now, audience: "node-a" }), "bad-audience"],
      ["signed by other key with same kid", () => verifyToken(`${h}.${c}.${tok({ secretKey: other }).split(".")[2]}`, { trustedKeys: [pub], now }), "bad-signature"],
    ];
    for (const [name, f, want] of cases) expect(code(f), name).toBe(want);
  });

  it("builds a JWKS of OKP Ed25519 keys with RFC 7638 kids", () => {
    const doc = jwksDocument([pub, pub, publicKeyOf(other)]);
    expect(doc.keys).toHaveLength(2);
    expect(doc.keys[0]).toEqual({ kty: "OKP", crv: "Ed25519", x: b64url(pub), kid: keyId(pub), alg: "EdDSA", use: "sig" });
    // RFC 8037 appendix A.3 thumbprint vector.
    const x = fromB64url("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
    expect(keyId(x)).toBe("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  });

  it("matches permissions like MediaMTX: empty path, exact, ~regex", () => {
    const cases: [string, string, string, boolean][] = [
      ["", "read", "a/b", true],
      ["a/b", "read", "a/b", true],
      ["a/b", "read", "a/c", false],
      ["~^cam[0-9]$", "read", "cam3", true],
      ["~^cam[0-9]$", "read", "cam33", false],
      ["~(", "read", "x", false],
    ];
    for (const [p, a, path, want] of cases) expect(permissionCovers({ action: "read", path: p }, a, path), `${p} ${path}`).toBe(want);
    expect(permissionCovers({ action: "read", path: "" }, "publish", "x")).toBe(false);
  });
  it("accepts a token naming this node as its audience", () => {
    expect(verifyToken(tok({ audience: "node-a" }), { trustedKeys: [pub], now, audience: "node-a" }).aud).toBe("node-a");
  });
});
