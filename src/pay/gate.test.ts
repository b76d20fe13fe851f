// Gate, pricing and session logic without a mint: free rules, allowance, 402 contents, sessions, metering, persistence.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { decodePaymentRequest } from "@cashu/cashu-ts";
import { open, type RootDatabase } from "lmdb";
import { PayCounters } from "./counters.ts";
import { Gate, type GateRequest } from "./gate.ts";
import { MiB, Pricing, pricingConfig } from "./pricing.ts";
import { SessionStore } from "./session.ts";
import { PayWallet } from "./wallet.ts";

const MINT = "http://127.0.0.1:3338";
const PEER = "ab".repeat(32);
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function tempRoot(): { root: RootDatabase; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "slowdrip-gate-"));
  const root = open({ path: join(dir, "db") });
  cleanups.push(async () => {
    await root.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { root, dir };
}

async function gate(pricing: ConstructorParameters<typeof Pricing>[0], now?: () => number) {
  const { root } = tempRoot();
  const wallet = await PayWallet.open({ db: root, trustedMints: [MINT] });
  const sessions = new SessionStore(root, { ttlMs: 3_600_000, ...(now ? { now } : {}) });
  cleanups.push(() => sessions.stop());
  const counters = new PayCounters();
  return { gate: new Gate({ pricing: new Pricing(pricing), wallet, sessions, counters, ...(now ? { now } : {}) }), sessions, counters };
}

const req = (r: Partial<GateRequest> = {}): GateRequest => ({ service: "content-download", path: "/blobs/x", client: "10.0.0.1", bytes: MiB, ...r });

describe("pricing", () => {
  it("prices per MiB rounding up, at least 1 sat, and allotments rounding down", () => {
    const p = new Pricing({ contentDownload: 3, liveView: 2 });
    expect(p.price("content-download", 0)).toBe(0);
    expect(p.price("content-download", 1)).toBe(1);
    expect(p.price("content-download", MiB)).toBe(3);
    expect(p.price("content-download", 10 * MiB + 1)).toBe(31);
    expect(p.allotment("content-download", 3)).toBe(MiB);
    expect(p.allotment("content-download", 31)).toBeGreaterThanOrEqual(10 * MiB + 1);
    expect(p.price("live-view", 60_000)).toBe(2);
    expect(p.price("live-view", 90_000)).toBe(3);
    expect(p.allotment("live-view", 4)).toBe(120_000);
    expect(() => p.price("content-download", -1)).toThrow(RangeError);
  });

  it("rejects bad config values by name", () => {
    expect(() => pricingConfig({ contentDownload: -1 })).toThrow(/pay.pricing.content_download/);
    expect(() => pricingConfig({ freePeers: ["xyz"] })).toThrow(/pay.free_peers/);
    expect(() => pricingConfig({ freePaths: ["live/"] })).toThrow(/pay.free_paths/);
    expect(() => pricingConfig({ sessionDefault: 10, sessionMax: 5 })).toThrow(/session_default/);
  });
});

describe("gate decisions", () => {
  it("is free when disabled, at zero price, on free paths and for free peers", async () => {
    expect((await (await gate({ enabled: false })).gate.decide(req())).kind).toBe("free");
    expect(await (await gate({ enabled: true, contentDownload: 0 })).gate.decide(req())).toMatchObject({ kind: "free", reason: "zero-price" });
    const g = (await gate({ enabled: true, freePaths: ["/blobs/free"], freePeers: [PEER] })).gate;
    expect(await g.decide(req({ path: "/blobs/free/1" }))).toMatchObject({ kind: "free", reason: "free-path" });
    expect(await g.decide(req({ peer: PEER }))).toMatchObject({ kind: "free", reason: "free-peer" });
    expect(await g.decide(req({ peer: "cd".repeat(32) }))).toMatchObject({ kind: "payment-required" });
  });

  it("answers 402 with a NUT-18 request naming amount, unit and the trusted mints", async () => {
    const { gate: g, counters } = await gate({ enabled: true, contentDownload: 2 });
    const d = await g.decide(req({ bytes: 8 * MiB }));
    if (d.kind !== "payment-required") throw new Error(`expected 402, got ${d.kind}`);
    expect(d).toMatchObject({ amount: 16, unit: "sat", mints: [MINT], allotment: 8 * MiB });
    const pr = decodePaymentRequest(d.request);
    expect(d.request.startsWith("creqA")).toBe(true);
    expect([pr.amount?.toNumber(), pr.unit, pr.mints, pr.singleUse]).toEqual([16, "sat", [MINT], true]);
    expect(counters.paymentRequired.get({ service: "content-download" })).toBe(1);
    // A session request raises the amount to the allotment asked for.
    const s = await g.decide(req({ bytes: MiB, sessionRequest: String(10 * MiB) }));
    expect(s).toMatchObject({ kind: "payment-required", amount: 20 });
    const def = await g.decide(req({ bytes: MiB, sessionRequest: "" }));
    expect(def).toMatchObject({ kind: "payment-required", amount: 2 * 64 });
  });

  it("rejects malformed input with reasons, before touching any mint", async () => {
    const { gate: g } = await gate({ enabled: true, headerMax: 1024 });
    const cases: Array<[string, Partial<GateRequest>, string]> = [
      ["oversized X-Cashu", { cashu: "cashuB" + "x".repeat(2000) }, "header-too-large"],
      ["not a token", { cashu: "hello" }, "bad-token"],
      ["garbage token", { cashu: "cashuBxyz" }, "bad-token"],
      ["bad session id", { session: "../../etc" }, "bad-session"],
      ["bad session request", { sessionRequest: "lots" }, "bad-session-request"],
      ["negative bytes", { bytes: -1 }, "bad-range"],
    ];
    for (const [name, r, reason] of cases) {
      const d = await g.decide(req(r));
      expect(d.kind, name).toBe("bad-request");
      expect((d as { reason: string }).reason, name).toBe(reason);
    }
    // An unknown (well-formed) session is not an error: it needs payment.
    expect(await g.decide(req({ session: "A".repeat(32) }))).toMatchObject({ kind: "payment-required", reason: "session-exhausted" });
  });

  it("gives each client a daily free allowance, metered by bytes actually sent", async () => {
    let t = Date.UTC(2026, 10, 21, 12);
    const { gate: g } = await gate({ enabled: true, freeAllowance: 3 * MiB }, () => t);
    const a = await g.decide(req({ bytes: 2 * MiB }));
    expect(a).toMatchObject({ kind: "free", reason: "free-allowance" });
    expect((await g.decide(req({ bytes: 2 * MiB }))).kind).toBe("payment-required");
    // Only 1 MiB of the 2 MiB went out: the rest comes back.
    g.settle((a as { ticket: Parameters<Gate["settle"]>[0] }).ticket, MiB);
    expect((await g.decide(req({ bytes: 2 * MiB }))).kind).toBe("free");
    expect((await g.decide(req({ bytes: 2 * MiB, client: "10.0.0.2" }))).kind).toBe("free");
    t += 86_400_000;
    expect((await g.decide(req({ bytes: 3 * MiB }))).kind).toBe("free");
  });
});

describe("sessions", () => {
  it("reserve, settle refunds unsent bytes, exhaustion, and reload from LMDB", async () => {
    const { root } = tempRoot();
    const s1 = new SessionStore(root, { ttlMs: 3_600_000, flushMs: 5 });
    const s = s1.open({ service: "content-download", unit: "byte", client: "c", mint: MINT, paid: 10, total: 10 * MiB });
    expect(s1.reserve(s.id, 4 * MiB)).toBe(true);
    s1.settle(s.id, 4 * MiB, MiB);
    expect(s1.get(s.id)?.left).toBe(9 * MiB);
    expect(s1.reserve(s.id, 10 * MiB)).toBe(false);
    expect(s1.reserve(s.id, 9 * MiB)).toBe(true);
    s1.settle(s.id, 9 * MiB, 9 * MiB);
    expect(s1.get(s.id)).toBeUndefined();
    const t = s1.open({ service: "content-download", unit: "byte", client: "c", mint: MINT, paid: 1, total: MiB });
    s1.reserve(t.id, 1000);
    await s1.stop();
    const s2 = new SessionStore(root, { ttlMs: 3_600_000 });
    expect(s2.get(t.id)?.left).toBe(MiB - 1000);
    expect(s2.get(s.id)).toBeUndefined();
    expect(s2.count()).toBe(1);
    expect(s2.list()[0]).toMatchObject({ idPrefix: t.id.slice(0, 6), paid: 1 });
    await s2.stop();
  });

  it("live-view sessions are bought in minutes and last that long", async () => {
    let now = 1_000_000;
    const { root } = tempRoot();
    const st = new SessionStore(root, { ttlMs: 3_600_000, now: () => now });
    const s = st.open({ service: "live-view", unit: "ms", client: "c", mint: MINT, paid: 2, total: 120_000 });
    expect(st.reserve(s.id, 5 * MiB)).toBe(true);
    now += 119_000;
    expect(st.reserve(s.id, 5 * MiB)).toBe(true);
    now += 2_000;
    expect(st.reserve(s.id, 1)).toBe(false);
    await st.stop();
  });

  it("a session recorded before its token is redeemed survives a restart, is unusable until activated, and activates once", async () => {
    let now = 1_000_000;
    const { root } = tempRoot();
    const s1 = new SessionStore(root, { ttlMs: 3_600_000, now: () => now });
    const r = s1.openRedeeming({ service: "content-download", unit: "byte", client: "c", mint: MINT, tokenKey: "k1" });
    // Written synchronously: a new store on the same environment (a restarted node) finds it by the token's key.
    const s2 = new SessionStore(root, { ttlMs: 3_600_000, now: () => now });
    const found = s2.byToken("k1");
    expect(found).toMatchObject({ id: r.id, redeeming: true, paid: 0 });
    expect(s2.get(r.id)).toBeUndefined();
    expect(s2.reserve(r.id, 1)).toBe(false);
    expect(s2.count()).toBe(0);
    expect(s2.list()).toEqual([]);
    const active = s2.activate(r.id, { paid: 2, total: 2 * MiB })!;
    expect(active).toMatchObject({ paid: 2, total: 2 * MiB, left: 2 * MiB });
    expect(active.redeeming).toBeUndefined();
    expect(s2.reserve(r.id, MiB)).toBe(true);
    // Activating again (a second retry racing the first) does not refill it.
    expect(s2.activate(r.id, { paid: 2, total: 2 * MiB })?.left).toBe(MiB);
    expect(s2.byToken("k1")?.id).toBe(r.id);
    expect(s2.list()[0]).not.toHaveProperty("tokenKey");
    // A redemption that never finishes is kept only as long as an idle session.
    s2.openRedeeming({ service: "content-download", unit: "byte", client: "c", mint: MINT, tokenKey: "k2" });
    now += 3_600_001;
    expect(s2.byToken("k2")).toBeUndefined();
    s2.close(r.id);
    expect(s2.byToken("k1")).toBeUndefined();
    await s1.stop();
    await s2.stop();
  });
});
