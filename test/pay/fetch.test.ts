// Auto-pay fetcher against real mints: direct pay, cross-mint swap under the fee cap, and every fallback to origin.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { startGatedServer, tempWallet, type GatedServer, type TempDb } from "./helpers.ts";
import { fetchPaid } from "../../src/pay/fetch.ts";
import { PayCounters } from "../../src/pay/counters.ts";
import { MiB } from "../../src/pay/pricing.ts";
import type { PayWallet } from "../../src/pay/wallet.ts";

let mints: TestMint[] = [];
let A = "";
let B = "";
const dbs: TempDb[] = [];
const servers: GatedServer[] = [];
const blob = randomBytes(4 * MiB);
let origin: GatedServer;

async function client(trust: string[], fund: Record<string, number>): Promise<PayWallet> {
  const { wallet, db } = await tempWallet(trust);
  dbs.push(db);
  for (const [m, n] of Object.entries(fund)) await wallet.mint(m, n);
  return wallet;
}

async function peer(accept: string[], pricePerMiB = 2): Promise<GatedServer> {
  const s = await startGatedServer({ accept, blob, pricePerMiB });
  servers.push(s);
  return s;
}

// The first run on a machine installs nutshell into the cache (pip): allow minutes, not the default hook timeout.
beforeAll(async () => {
  mints = await startMints(2);
  A = mints[0]!.url;
  B = mints[1]!.url;
  origin = await startGatedServer({ accept: [], blob, enabled: false });
  servers.push(origin);
}, 300_000);

afterAll(async () => {
  for (const s of servers) await s.close();
  for (const d of dbs) await d.close();
  await stopMints(mints);
});

describe("fetchPaid (real mints)", () => {
  it("pays a peer on a mint it holds, within the caps", async () => {
    const p = await peer([A]);
    const w = await client([A], { [A]: 50 });
    const counters = new PayCounters();
    const r = await fetchPaid(p.url, { wallet: w, budget: 20, maxPricePerMiB: 5, maxSwapFee: 0, origin: origin.url, counters });
    expect(r.source).toBe("peer");
    expect(Buffer.from(await r.response.arrayBuffer()).equals(blob)).toBe(true);
    expect(r.paid).toBe(8);
    expect(w.balance(A)).toBe(50 - 8);
    expect(p.wallet.balance(A)).toBe(8);
    expect(r.decisions.map((d) => d.outcome)).toEqual(["paid"]);
    expect(counters.fetch.get({ outcome: "paid", reason: "within-caps" })).toBe(1);
    expect(w.ledger.list().filter((e) => e.direction === "out")).toMatchObject([{ kind: "payment", amount: 8, mint: A, service: "content-download" }]);
  });

  it("cross-mint: a client holding only mint A pays a node that accepts only mint B, swapping under the fee cap", async () => {
    const p = await peer([B]);
    const w = await client([A, B], { [A]: 100 });
    const r = await fetchPaid(p.url, { wallet: w, budget: 30, maxPricePerMiB: 5, maxSwapFee: 10, origin: origin.url });
    expect(r.source).toBe("peer");
    expect(Buffer.from(await r.response.arrayBuffer()).equals(blob)).toBe(true);
    expect(r.decisions.map((d) => d.outcome)).toEqual(["swapped", "paid"]);
    expect(p.wallet.balance(B)).toBe(8);
    const spentA = 100 - w.balance(A);
    expect(spentA - 8).toBeLessThanOrEqual(10);
    expect(w.balance(B) ?? 0).toBe(0);
    const swap = w.listOps({ kind: "swap" });
    expect(swap.map((o) => o.state)).toEqual(["done"]);
  });

  it("cross-mint with a fee cap too low falls back to origin and spends nothing", async () => {
    const p = await peer([B]);
    const w = await client([A, B], { [A]: 100 });
    const counters = new PayCounters();
    const r = await fetchPaid(p.url, { wallet: w, budget: 30, maxPricePerMiB: 5, maxSwapFee: 1, origin: origin.url, counters });
    expect(r.source).toBe("origin");
    expect(Buffer.from(await r.response.arrayBuffer()).equals(blob)).toBe(true);
    expect(r.decisions).toMatchObject([{ outcome: "origin", reason: "swap-fee-cap" }]);
    expect(w.balances()).toEqual({ [A]: 100 });
    expect(p.wallet.balances()).toEqual({});
    expect(w.listOps({ kind: "swap" }).map((o) => o.state)).toEqual(["aborted"]);
    expect(counters.fetch.get({ outcome: "origin", reason: "swap-fee-cap" })).toBe(1);
  });

  it("over budget, too expensive, untrusted payee mint: origin, nothing spent", async () => {
    const p = await peer([A], 50);
    const w = await client([A], { [A]: 300 });
    const over = await fetchPaid(p.url, { wallet: w, budget: 100, maxPricePerMiB: 1000, maxSwapFee: 0, origin: origin.url });
    expect(over.decisions).toMatchObject([{ outcome: "origin", reason: "over-budget" }]);
    await over.response.arrayBuffer();
    const pricey = await fetchPaid(p.url, { wallet: w, budget: 1000, maxPricePerMiB: 10, maxSwapFee: 0, origin: origin.url });
    expect(pricey.decisions).toMatchObject([{ outcome: "origin", reason: "too-expensive" }]);
    await pricey.response.arrayBuffer();
    const q = await peer([B]);
    const untrusting = await client([A], {});
    await untrusting.trustMint(A);
    const nb = await fetchPaid(q.url, { wallet: untrusting, budget: 100, maxPricePerMiB: 10, maxSwapFee: 10, origin: origin.url });
    expect(nb.decisions).toMatchObject([{ outcome: "origin", reason: "no-acceptable-mint" }]);
    await nb.response.arrayBuffer();
    expect(w.balance(A)).toBe(300);
    await expect(fetchPaid(p.url, { wallet: w, budget: 1, maxPricePerMiB: 1, maxSwapFee: 0 })).rejects.toMatchObject({ code: "over-budget" });
  });

  it("a peer that refuses the token after quoting: the token is reclaimed and the origin serves", async () => {
    const p = await peer([A]);
    const w = await client([A], { [A]: 50 });
    let calls = 0;
    // The peer's operator untrusts mint A between the 402 and the paid retry: a real refusal (400 wrong-mint).
    const f: typeof fetch = async (input, init) => {
      if (calls++ === 1) await p.wallet.untrustMint(A);
      return fetch(input, init);
    };
    const r = await fetchPaid(p.url, { wallet: w, budget: 20, maxPricePerMiB: 5, maxSwapFee: 0, origin: origin.url, fetch: f });
    expect(r.source).toBe("origin");
    expect(r.decisions).toMatchObject([{ outcome: "origin", reason: "payment-refused", detail: { reason: "wrong-mint" } }]);
    expect(Buffer.from(await r.response.arrayBuffer()).equals(blob)).toBe(true);
    expect(w.balance(A)).toBe(50);
    expect(p.wallet.balances()).toEqual({});
  });

  it("buys a session once and reuses it for later fetches until it runs out", async () => {
    const p = await peer([A]);
    const w = await client([A], { [A]: 50 });
    const opts = { wallet: w, budget: 30, maxPricePerMiB: 5, maxSwapFee: 0, origin: origin.url };
    const first = await fetchPaid(p.url, { ...opts, sessionBytes: 2 * blob.length });
    await first.response.arrayBuffer();
    expect(first.paid).toBe(16);
    expect(first.session).toBeTruthy();
    const second = await fetchPaid(p.url, { ...opts, session: first.session! });
    expect(Buffer.from(await second.response.arrayBuffer()).equals(blob)).toBe(true);
    expect(second).toMatchObject({ paid: 0, source: "peer", session: first.session, decisions: [{ outcome: "free", reason: "session" }] });
    const third = await fetchPaid(p.url, { ...opts, session: first.session! });
    await third.response.arrayBuffer();
    expect(third.decisions.map((d) => d.outcome)).toEqual(["paid"]);
    expect(w.balance(A)).toBe(50 - 16 - 8);
    expect(p.wallet.balance(A)).toBe(24);
  });
});
