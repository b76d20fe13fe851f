// Wallet against real nutshell mints: mint, send, receive, melt, double spend, trust list, fees.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Amount, OutputData, Wallet as CashuWallet } from "@cashu/cashu-ts";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { tempWallet, type TempDb } from "./helpers.ts";
import type { PayWallet } from "../../src/pay/wallet.ts";
import { OpPendingError, PayError, TokenError, UntrustedMintError } from "../../src/pay/errors.ts";
import { registerSwap, swapMints } from "../../src/pay/swap.ts";
import { checkPending, listPending, reclaim } from "../../src/pay/sent.ts";
import { tokenKey } from "../../src/pay/wallet.ts";

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

  it("a swap in flight while the background resume fires is driven once: pays once, under the fee cap", async () => {
    const w = await wallet([A, B]);
    registerSwap(w);
    await w.mint(A, 100);
    const swap = swapMints(w, { from: A, to: B, amount: 30, maxFee: 10 });
    // What the node's 60 s timer does, fired at every step of the swap until it settles.
    const resumes: Promise<unknown>[] = [];
    let settled = false;
    void swap.finally(() => (settled = true)).catch(() => undefined);
    while (!settled) {
      resumes.push(w.resume());
      await new Promise((r) => setTimeout(r, 2));
    }
    const op = await swap;
    await Promise.all(resumes);
    expect(op.state).toBe("done");
    expect(w.listOps({ kind: "swap" }).map((o) => o.state)).toEqual(["done"]);
    expect(w.balance(B)).toBe(30);
    const spent = 100 - w.balance(A);
    expect(spent).toBeGreaterThanOrEqual(30);
    expect(spent).toBeLessThanOrEqual(30 + 10);
    expect(w.reservedBalances()).toEqual({});
    const swaps = w.ledger.list().filter((e) => e.kind === "swap");
    expect(swaps.map((e) => [e.direction, e.mint, e.amount])).toEqual([
      ["out", A, spent],
      ["in", B, 30],
    ]);
  });

  it("a NUT-09 restore that returns only part of the outputs keeps what it restored", async () => {
    const alice = await wallet([A]);
    await alice.mint(A, 50);
    const token = (await alice.send(17, { mint: A })).token;
    const bob = await wallet([A]);
    const cw = await bob.cashu(A);
    const proofs = cw.decodeToken(token).proofs;
    // Bob's redeem swap reached the mint but its answer was lost (done by hand here, against the real mint)...
    const keep = (await cw.prepareSwapToReceive(proofs.map((p) => ({ ...p })))).keepOutputs!;
    await cw.mint.swap({ inputs: proofs.map((p) => ({ id: p.id, amount: p.amount, secret: p.secret, C: p.C })), outputs: keep.map((o) => o.blindedMessage) });
    // ...and the record he resumes from lists one more output, which the mint never signed: the restore is partial.
    const extra = OutputData.createSingleRandomData(Amount.from(1), cw.getKeyset().id);
    const op = bob.newOp("receive", A, 17, "swapping", {
      id: `receive-${tokenKey(proofs.map((p) => p.secret))}`,
      swapInputs: proofs.map((p) => ({ id: p.id, amount: Amount.from(p.amount).toNumber(), secret: p.secret, C: p.C })),
      keepOutputs: [...keep, extra].map((o) => OutputData.serialize(o)),
      fee: 0,
    });
    bob.commit(op);
    const [resumed] = await bob.resume();
    expect(resumed).toMatchObject({ state: "done", credited: 17 });
    expect(bob.balance(A)).toBe(17);
    expect(await bob.checkProofs(A)).toEqual({ unspent: 17, pending: 0, spent: 0 });
    expect(bob.ledger.list().map((e) => [e.direction, e.kind, e.amount])).toEqual([["in", "receive", 17]]);
  });

  it("sent tokens stay pending until claimed: reclaim takes back an unclaimed one and marks a claimed one done", async () => {
    const alice = await wallet([A]);
    const bob = await wallet([A]);
    await alice.mint(A, 64);
    const s1 = await alice.send(10, { mint: A });
    const s2 = await alice.send(5, { mint: A });
    expect(listPending(alice).map((o) => [o.id, o.token, o.amount])).toEqual([
      [s1.opId, s1.token, 10],
      [s2.opId, s2.token, 5],
    ]);
    expect(alice.balance(A)).toBe(64 - 15);
    await bob.receive(s2.token);
    // A NUT-07 check finds s2 claimed; s1 stays pending.
    expect(await checkPending(alice)).toEqual({ claimed: [s2.opId], unreachable: [] });
    expect(listPending(alice).map((o) => o.id)).toEqual([s1.opId]);
    const r1 = await reclaim(alice, s1.opId);
    expect(r1).toMatchObject({ outcome: "reclaimed", credited: 10 });
    expect(await reclaim(alice, s2.opId)).toMatchObject({ outcome: "claimed", credited: 0 });
    // Again: nothing changes.
    expect(await reclaim(alice, s1.opId)).toMatchObject({ outcome: "reclaimed", credited: 10 });
    expect(alice.balance(A)).toBe(64 - 5);
    expect(listPending(alice)).toEqual([]);
    expect(alice.getOp(s1.opId)).toMatchObject({ state: "done", claim: "reclaimed", reclaimed: 10 });
    expect(alice.getOp(s2.opId)).toMatchObject({ state: "done", claim: "claimed" });
    // The reclaimed token is dead at the mint; the reclaimed value is spendable.
    await expect(bob.receive(s1.token)).rejects.toMatchObject({ code: "already-spent" });
    expect(await alice.checkProofs(A)).toEqual({ unspent: 59, pending: 0, spent: 0 });
    expect(alice.ledger.list().filter((e) => e.kind === "reclaim").map((e) => [e.direction, e.amount])).toEqual([["in", 10]]);
    await expect(reclaim(alice, "send-nope")).rejects.toMatchObject({ code: "op-state" });
    await expect(reclaim(alice, alice.listOps({ kind: "mint" })[0]!.id)).rejects.toMatchObject({ code: "op-state" });
  });

  it("send honours its signal: aborted before, nothing happens; aborted while the token is made, the value comes back", async () => {
    const w = await wallet([A]);
    await w.mint(A, 64);
    await expect(w.send(10, { mint: A, signal: AbortSignal.abort(new Error("gone")) })).rejects.toThrow("gone");
    expect(w.listOps({ kind: "send" })).toEqual([]);
    // Abort once the inputs are reserved, while the split is at the mint.
    const ac = new AbortController();
    const sending = w.send(10, { mint: A, signal: ac.signal });
    while ((w.reservedBalances()[A] ?? 0) === 0) await new Promise((r) => setImmediate(r));
    ac.abort(new Error("caller went away"));
    await expect(sending).rejects.toThrow("caller went away");
    expect(w.balance(A)).toBe(64);
    expect(w.reservedBalances()).toEqual({});
    expect(listPending(w)).toEqual([]);
    expect(w.listOps({ kind: "send" })).toMatchObject([{ state: "done", claim: "reclaimed", reclaimed: 10 }]);
    expect(await w.checkProofs(A)).toEqual({ unspent: 64, pending: 0, spent: 0 });
  });
});
