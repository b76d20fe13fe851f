// Wallet against real nutshell mints: mint, send, receive, melt, double spend, trust list, fees.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Wallet as CashuWallet } from "@cashu/cashu-ts";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { tempWallet, type TempDb } from "./helpers.ts";
import type { PayWallet } from "../../src/pay/wallet.ts";
import { OpPendingError, PayError, TokenError, UntrustedMintError } from "../../src/pay/errors.ts";
import { registerSwap, swapMints } from "../../src/pay/swap.ts";

let mints: TestMint[] = [];
let feeMints: TestMint[] = [];
let failing: TestMint[] = [];
let slow: TestMint[] = [];
const dbs: TempDb[] = [];
let A = "";
let B = "";
let F = "";
let X = "";
let P = "";

async function wallet(trust: string[]): Promise<PayWallet> {
  const { wallet, db } = await tempWallet(trust);
  dbs.push(db);
  return wallet;
}

// The first run on a machine installs nutshell into the cache (pip): allow minutes, not the default hook timeout.
beforeAll(async () => {
  [mints, feeMints, failing, slow] = await Promise.all([
    startMints(2),
    startMints(1, { feePpk: 100 }),
    // A mint whose Lightning payments fail: melts are refused by the real mint.
    startMints(1, { fakeWallet: { FAKEWALLET_PAY_INVOICE_STATE: "FAILED", FAKEWALLET_PAYMENT_STATE: "FAILED" } }),
    // A mint whose Lightning payments stay pending at first and settle when checked later.
    startMints(1, { fakeWallet: { FAKEWALLET_PAY_INVOICE_STATE: "PENDING" } }),
  ]);
  A = mints[0]!.url;
  B = mints[1]!.url;
  F = feeMints[0]!.url;
  X = failing[0]!.url;
  P = slow[0]!.url;
}, 300_000);

afterAll(async () => {
  for (const d of dbs) await d.close();
  await stopMints([...mints, ...feeMints, ...failing, ...slow]);
});

describe("wallet (real nutshell mints)", () => {
  it("mints after the quote is paid, and keeps proofs per mint", async () => {
    const w = await wallet([A, B]);
    const op = await w.mint(A, 100);
    expect(op.state).toBe("done");
    expect(op.mintQuote?.quote).toBeTruthy();
    await w.mint(B, 7);
    expect(w.balances()).toEqual({ [A]: 100, [B]: 7 });
    const led = w.ledger.list();
    expect(led.map((e) => [e.direction, e.kind, e.amount, e.mint])).toEqual([
      ["in", "mint", 100, A],
      ["in", "mint", 7, B],
    ]);
    expect(await w.checkProofs(A)).toEqual({ unspent: 100, pending: 0, spent: 0 });
  });

  it("refuses to mint at an untrusted mint", async () => {
    const w = await wallet([A]);
    await expect(w.mint(B, 5)).rejects.toBeInstanceOf(UntrustedMintError);
  });

  it("sends an exact amount and the receiver redeems it at the mint", async () => {
    const alice = await wallet([A]);
    const bob = await wallet([A]);
    await alice.mint(A, 64);
    const s = await alice.send(21, { mint: A });
    expect(s.token.startsWith("cashuB")).toBe(true);
    expect(alice.balance(A)).toBe(64 - 21);
    const r = await bob.receive(s.token);
    expect(r).toMatchObject({ mint: A, amount: 21, fee: 0, credited: 21 });
    expect(bob.balance(A)).toBe(21);
    // The redeemed proofs are fresh: the old token is spent at the mint.
    const carol = await wallet([A]);
    await expect(carol.receive(s.token)).rejects.toMatchObject({ code: "already-spent" });
    expect(carol.balance(A)).toBe(0);
    // A refused token leaves no record behind (junk tokens cannot fill the disk).
    expect(carol.listOps()).toEqual([]);
    // The same token presented again to the same wallet is refused before the mint is asked.
    await expect(bob.receive(s.token)).rejects.toMatchObject({ code: "already-spent" });
    expect(bob.balance(A)).toBe(21);
  });

  it("refuses tokens from untrusted mints, in other units, and garbage", async () => {
    const alice = await wallet([A, B]);
    await alice.mint(B, 10);
    const t = (await alice.send(4, { mint: B })).token;
    const bob = await wallet([A]);
    await expect(bob.receive(t)).rejects.toMatchObject({ code: "untrusted-mint" });
    await expect(bob.receive("cashuBgarbage")).rejects.toBeInstanceOf(TokenError);
    await expect(bob.receive("hello")).rejects.toMatchObject({ code: "bad-token" });
    await expect(bob.receive(t, { expect: { mints: [A] } })).rejects.toMatchObject({ code: "untrusted-mint" });
    expect(bob.balances()).toEqual({});
  });

  it("melts: pays another mint's invoice, balance falls by amount plus fee, change comes back", async () => {
    const w = await wallet([A, B]);
    await w.mint(A, 200);
    const q = await new CashuWallet(B).createMintQuoteBolt11(50).catch(async () => {
      const cw = new CashuWallet(B);
      await cw.loadMint();
      return cw.createMintQuoteBolt11(50);
    });
    const op = await w.melt(A, q.request);
    expect(op.state).toBe("done");
    const spent = 200 - w.balance(A);
    expect(spent).toBe(50 + (op.fee ?? 0));
    expect(op.fee).toBeLessThanOrEqual(op.meltQuote!.feeReserve);
    const out = w.ledger.list().filter((e) => e.direction === "out");
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ kind: "melt", amount: spent, mint: A });
  });

  it("with input fees, send includes the receiver's fee so the receiver nets the exact amount", async () => {
    const alice = await wallet([F]);
    const bob = await wallet([F]);
    await alice.mint(F, 100);
    const s = await alice.send(10, { mint: F });
    const r = await bob.receive(s.token, { expect: { minCredited: 10 } });
    expect(r.credited).toBe(10);
    expect(r.fee).toBeGreaterThan(0);
    expect(bob.balance(F)).toBe(10);
    // Alice paid the token plus her own split fee.
    expect(100 - alice.balance(F)).toBe(r.amount + s.fee);
  });

  it("refuses an underpaying token and leaves balances unchanged", async () => {
    const alice = await wallet([A]);
    const bob = await wallet([A]);
    await alice.mint(A, 20);
    const s = await alice.send(5, { mint: A });
    await expect(bob.receive(s.token, { expect: { minCredited: 6 } })).rejects.toMatchObject({ code: "underpaid" });
    expect(bob.balance(A)).toBe(0);
    // Not redeemed: still spendable by someone else.
    const carol = await wallet([A]);
    expect((await carol.receive(s.token)).credited).toBe(5);
  });

  it("a melt whose Lightning payment fails keeps the value; a swap through it is aborted, not stuck", async () => {
    const w = await wallet([X, B]);
    registerSwap(w);
    await w.mint(X, 100);
    const cw = new CashuWallet(B);
    await cw.loadMint();
    const q = await cw.createMintQuoteBolt11(20);
    await expect(w.melt(X, q.request)).rejects.toBeInstanceOf(PayError);
    expect(w.balance(X)).toBe(100);
    expect(w.reservedBalances()).toEqual({});
    const melt = w.listOps({ kind: "melt" })[0]!;
    expect(melt.state).toBe("quoted");
    await expect(swapMints(w, { from: X, to: B, amount: 20, maxFee: 10 })).rejects.toBeInstanceOf(PayError);
    expect(w.listOps({ kind: "swap" }).map((o) => o.state)).toEqual(["aborted"]);
    expect(w.balances()).toEqual({ [X]: 100 });
    expect(w.listOps({ unfinished: true }).map((o) => o.kind)).toEqual(["melt"]);
    expect(w.ledger.list().filter((e) => e.direction === "out")).toEqual([]);
  });

  it("a melt left pending by Lightning is kept in flight and settled by resume, with its change", async () => {
    const w = await wallet([P, B]);
    await w.mint(P, 100);
    const cw = new CashuWallet(B);
    await cw.loadMint();
    const q = await cw.createMintQuoteBolt11(20);
    await expect(w.melt(P, q.request)).rejects.toBeInstanceOf(OpPendingError);
    const op = w.listOps({ kind: "melt" })[0]!;
    expect(op.state).toBe("melting");
    expect(w.reservedBalances()[P]).toBeGreaterThanOrEqual(22);
    const done = await w.resume();
    expect(done.map((o) => [o.kind, o.state])).toEqual([["melt", "done"]]);
    expect(w.reservedBalances()).toEqual({});
    const spent = 100 - w.balance(P);
    expect(spent).toBeGreaterThanOrEqual(20);
    expect(spent).toBeLessThanOrEqual(22);
    expect(w.ledger.list().filter((e) => e.direction === "out")).toMatchObject([{ kind: "melt", amount: spent, mint: P }]);
  });

  it("checkProofs drops proofs the mint reports spent (e.g. after restoring an old copy of the wallet)", async () => {
    const live = await wallet([A]);
    await live.mint(A, 30);
    // An old copy holds the same proofs...
    const copy = await wallet([A]);
    const rows = live.store.allProofRows();
    copy.store.root.transactionSync(() => copy.store.addReady(A, rows.map((r) => r.proof)));
    expect(copy.balance(A)).toBe(30);
    // ...which the live wallet then spends.
    const t = await live.send(30, { mint: A });
    const bob = await wallet([A]);
    await bob.receive(t.token);
    expect(await copy.checkProofs(A)).toMatchObject({ spent: 30 });
    expect(copy.balance(A)).toBe(0);
    expect(await live.checkProofs(A)).toEqual({ unspent: 0, pending: 0, spent: 0 });
  });
});
