// Unit tests of the MediaMTX HTTP-hook auth decision.
import { describe, expect, it } from "vitest";
import { publicKeyOf } from "../identity/ed25519.ts";
import { issueToken } from "./jwt.ts";
import { AuthInputError, decideAuth, parseAuthRequest, type AuthRequest } from "./auth.ts";

const secret = new Uint8Array(32).fill(3);
const pub = publicKeyOf(secret);
const now = 1_800_000_000;
const policy = { trustedKeys: [pub], openReadPaths: ["open", "~^public/"], now };
const token = (action: "publish" | "read", path: string, o: { now?: number; ttl?: number } = {}) =>
  issueToken({ secretKey: secret, issuer: "n", permissions: [{ action, path }], ttlSeconds: o.ttl ?? 60, now: o.now ?? now });

const req = (o: Partial<AuthRequest>): AuthRequest => ({
  user: "", password: "", token: "", ip: "127.0.0.1", action: "publish", path: "cam", protocol: "rtmp", id: "", query: "", userAgent: "", ...o,
});

describe("decideAuth", () => {
  it("decides every case with a reason", () => {
    const cases: [string, AuthRequest, boolean, number, RegExp][] = [
      ["publish token in token field", req({ token: token("publish", "cam") }), true, 200, /covers publish/],
      ["publish token in query", req({ query: `token=${token("publish", "cam")}` }), true, 200, /covers publish/],
      ["publish token as password", req({ user: "x", password: token("publish", "cam") }), true, 200, /covers/],
      ["no token", req({}), false, 401, /no token/],
      ["no token rtsp read", req({ action: "read", protocol: "rtsp" }), false, 401, /no token/],
      ["expired", req({ token: token("publish", "cam", { now: now - 1000, ttl: 60 }) }), false, 403, /expired/],
      ["other path", req({ token: token("publish", "other") }), false, 403, /does not cover publish on 'cam'/],
      ["read token used to publish", req({ token: token("read", "cam") }), false, 403, /does not cover publish/],
      ["read with read token", req({ action: "read", protocol: "hls", token: token("read", "cam") }), true, 200, /covers read/],
      ["open path read", req({ action: "read", path: "open" }), true, 200, /open for reading/],
      ["open regex path read", req({ action: "read", path: "public/x" }), true, 200, /open/],
      ["open path publish", req({ action: "publish", path: "open" }), false, 401, /no token/],
      ["garbage token", req({ token: "abc" }), false, 403, /malformed/],
      ["api action", req({ action: "api" }), false, 403, /not granted/],
    ];
    for (const [name, r, allow, status, reason] of cases) {
      const d = decideAuth(r, policy);
      expect(d.allow, name).toBe(allow);
      expect(d.status, name).toBe(status);
      expect(d.reason, name).toMatch(reason);
    }
  });

  it("parses MediaMTX bodies and bounds them", () => {
    const body = JSON.stringify({ user: "", password: "", token: "t", ip: "127.0.0.1", action: "read", path: "p", protocol: "rtsp", id: null, query: "", userAgent: "ffmpeg" });
    expect(parseAuthRequest(body)).toMatchObject({ token: "t", action: "read", path: "p", protocol: "rtsp", id: "" });
    const bad: [string, string][] = [
      ["not json", "{"],
      ["array", "[]"],
      ["number field", JSON.stringify({ action: "read", path: 5 })],
      ["unknown action", JSON.stringify({ action: "delete" })],
      ["long path", JSON.stringify({ action: "read", path: "p".repeat(300) })],
      ["huge body", JSON.stringify({ action: "read", x: "y".repeat(20_000) })],
    ];
    for (const [name, b] of bad) expect(() => parseAuthRequest(b), name).toThrow(AuthInputError);
  });
});
