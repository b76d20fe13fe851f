// BUD-11 authorization checks: both encodings, every failed check by name, bounds, and the x / server scoping rules.
import { describe, expect, it } from "vitest";
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { AUTH_KIND, MAX_AUTH_HEADER, MAX_FUTURE_SKEW_S, checkAuth, decodeAuthHeader, type AuthCheck } from "./auth.ts";
import { BlossomError } from "./errors.ts";

const sk = generateSecretKey();
const NOW = 1_800_000_000;
const X = "a".repeat(64);
const Y = "b".repeat(64);

function event(tags: string[][], o: { kind?: number; created_at?: number; content?: string } = {}): Record<string, unknown> {
  return { ...finalizeEvent({ kind: o.kind ?? AUTH_KIND, created_at: o.created_at ?? NOW - 10, content: o.content ?? "Upload Blob", tags }, sk) };
}
const header = (e: unknown, enc: BufferEncoding = "base64url") => `Nostr ${Buffer.from(JSON.stringify(e)).toString(enc)}`;
const base: AuthCheck = { verb: "upload", serverNames: ["cdn.example.com"], sha256: X, requireX: true, now: NOW };
const good = () => event([["t", "upload"], ["expiration", String(NOW + 60)], ["x", X]]);

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof BlossomError) return err.reason;
    throw err;
  }
  return "accepted";
}

describe("checkAuth", () => {
  it("accepts base64url without padding and standard base64 with or without padding", () => {
    const e = good();
    const std = Buffer.from(JSON.stringify(e)).toString("base64");
    for (const h of [header(e), `Nostr ${std}`, `Nostr ${std.replace(/=+$/, "")}`, `nostr   ${std}  `]) {
      const a = checkAuth(h, base);
      expect(a).toEqual({ pubkey: getPublicKey(sk), x: [X], expiration: NOW + 60, id: e.id });
    }
  });

  it("names each failed check", () => {
    const cases: [string, string | undefined, Partial<AuthCheck>?][] = [
      ["auth-missing", undefined],
      ["auth-missing", "  "],
      ["auth-scheme", "Bearer abc"],
      ["auth-scheme", "Nostr a b"],
      ["auth-encoding", "Nostr ab-c+d"],
      ["auth-encoding", "Nostr abcde"],
      ["auth-encoding", "Nostr ab=c"],
      ["auth-encoding", `Nostr ${Buffer.from([0xff, 0xfe, 0xfd]).toString("base64url")}`],
      ["auth-malformed", `Nostr ${Buffer.from("[1,2]").toString("base64url")}`],
      ["auth-malformed", header({ ...good(), created_at: -1 })],
      ["auth-malformed", header({ ...good(), pubkey: "XYZ" })],
      ["auth-malformed", header({ ...good(), tags: [["t"], []] })],
      ["auth-malformed", header({ ...good(), tags: Array.from({ length: 300 }, () => ["a", "b"]) })],
      ["auth-unsigned", header({ ...good(), sig: undefined })],
      ["auth-signature", header({ ...good(), content: "changed" })],
      ["auth-signature", header({ ...good(), id: "0".repeat(64) })],
      ["auth-kind", header(event([["t", "upload"], ["expiration", String(NOW + 60)], ["x", X]], { kind: 1 }))],
      ["auth-future", header(event([["t", "upload"], ["expiration", String(NOW + 9999)], ["x", X]], { created_at: NOW + MAX_FUTURE_SKEW_S + 1 }))],
      ["auth-expiration", header(event([["t", "upload"], ["x", X]]))],
      ["auth-expiration", header(event([["t", "upload"], ["expiration", "soon"], ["x", X]]))],
      ["auth-expiration", header(event([["t", "upload"], ["expiration", String(NOW + 60)], ["expiration", String(NOW + 90)], ["x", X]]))],
      ["auth-expired", header(event([["t", "upload"], ["expiration", String(NOW)], ["x", X]]))],
      ["auth-verb", header(event([["t", "delete"], ["expiration", String(NOW + 60)], ["x", X]]))],
      ["auth-verb", header(event([["expiration", String(NOW + 60)], ["x", X]]))],
      ["auth-server", header(event([["t", "upload"], ["expiration", String(NOW + 60)], ["x", X], ["server", "other.example"]]))],
      ["auth-x", header(event([["t", "upload"], ["expiration", String(NOW + 60)], ["x", Y]]))],
      ["auth-x", header(event([["t", "upload"], ["expiration", String(NOW + 60)]]))],
      ["auth-x", header(event([["t", "upload"], ["expiration", String(NOW + 60)]])), { sha256: undefined }],
      ["auth-too-large", `Nostr ${"A".repeat(MAX_AUTH_HEADER)}`],
    ];
    for (const [want, h, extra] of cases) expect(reason(() => checkAuth(h, { ...base, ...extra })), `${want}: ${String(h).slice(0, 60)}`).toBe(want);
  });

  it("scopes: server tags match case-insensitively; x is optional where the endpoint allows it; clock skew is allowed", () => {
    const withServer = event([["t", "upload"], ["expiration", String(NOW + 60)], ["x", X], ["server", "CDN.Example.com"], ["server", "b.example"]]);
    expect(reason(() => checkAuth(header(withServer), base))).toBe("accepted");
    const list = event([["t", "list"], ["expiration", String(NOW + 60)]]);
    expect(reason(() => checkAuth(header(list), { verb: "list", serverNames: [], now: NOW }))).toBe("accepted");
    const many = event([["t", "upload"], ["expiration", String(NOW + 60)], ["x", Y], ["x", X], ["x", "not-a-hash"], ["x", X]]);
    expect(checkAuth(header(many), { ...base, sha256: undefined }).x).toEqual([Y, X]);
    const skewed = event([["t", "upload"], ["expiration", String(NOW + 600)], ["x", X]], { created_at: NOW + MAX_FUTURE_SKEW_S });
    expect(reason(() => checkAuth(header(skewed), base))).toBe("accepted");
  });

  it("decodeAuthHeader returns the parsed JSON of either encoding", () => {
    expect(decodeAuthHeader(`Nostr ${Buffer.from('{"a":"é"}').toString("base64")}`)).toEqual({ a: "é" });
    expect(decodeAuthHeader(`Nostr ${Buffer.from('{"a":"é"}').toString("base64url")}`)).toEqual({ a: "é" });
  });
});
