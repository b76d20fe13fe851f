// Lightning in and out of the wallet: bolt11 mint quotes and minting, melt quotes and melting, as resumable phases.
import {
  Amount,
  CheckStateEnum,
  MeltQuoteState,
  MintQuoteState,
  OutputData,
  type MeltQuoteBolt11Response,
  type MintQuoteBolt11Response,
  type Proof,
} from "@cashu/cashu-ts";
import { InsufficientFundsError, OpPendingError, OpStateError, PayError } from "./errors.ts";
import { crashPoint } from "./fault.ts";
import { FINAL_STATES, fromStored, sumStored, toStored, type OpKind, type OpRecord } from "./store.ts";
import { mintUrl, positiveInt, toOutputs, wireProof } from "./wallet-common.ts";
import type { PayWallet } from "./wallet.ts";

// ---- mint ---------------------------------------------------------------------------------------------------------------------

/** Asks the mint for a bolt11 mint quote and records it (state `quoted`); pay the invoice, then call {@link completeMint}. */
export async function createMintQuote(wallet: PayWallet, url: string, amount: number): Promise<OpRecord> {
  positiveInt("amount", amount);
  const mint = wallet.requireTrusted(url);
  const w = await wallet.cashu(mint);
  // A crash before the record is written loses only an unpaid quote, never value.
  const q: MintQuoteBolt11Response = await wallet.call(mint, "mint quote", undefined, () => w.createMintQuoteBolt11(amount));
  const op = wallet.newOp("mint", mint, amount, "quoted", {
    mintQuote: { mint, quote: q.quote, request: q.request, amount, expiry: q.expiry ?? null },
  });
  wallet.commit(op);
  crashPoint("mint", "quoted");
  return op;
}

/** Claims the proofs of a paid mint quote (waits up to `quoteWaitMs` for payment). Safe to call again after a crash. */
export async function completeMint(wallet: PayWallet, opId: string): Promise<OpRecord> {
  return wallet.exclusive(opId, async () => {
    const op = wallet.getOp(opId);
    if (!op || op.kind !== "mint") throw new OpStateError(opId, `no mint operation ${opId}`);
    if (FINAL_STATES.has(op.state)) return op;
    await runMintPhase(wallet, op, "mint", "done");
    return op;
  });
}

/** Quote, wait for payment (FakeWallet/Lightning), and claim: the whole mint flow. */
export async function mint(wallet: PayWallet, url: string, amount: number): Promise<OpRecord> {
  const op = await createMintQuote(wallet, url, amount);
  return completeMint(wallet, op.id);
}

/**
 * Mint phase shared by mint and swap: waits for the quote to be paid, stores outputs, asks for signatures, credits
 * the proofs and moves the op to `finalState`. Resumable at every step.
 */
export async function runMintPhase(wallet: PayWallet, op: OpRecord, crashOp: string, finalState: string, waitMs = wallet.quoteWaitMs): Promise<void> {
  const mq = op.mintQuote;
  if (!mq) throw new OpStateError(op.id, `operation ${op.id} has no mint quote`);
  const w = await wallet.cashu(mq.mint);
  if (!op.mintOutputs) {
    const deadline = Date.now() + waitMs;
    let q = await wallet.call(mq.mint, "check mint quote", op.id, () => w.checkMintQuoteBolt11(mq.quote));
    while (q.state === MintQuoteState.UNPAID && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      q = await wallet.call(mq.mint, "check mint quote", op.id, () => w.checkMintQuoteBolt11(mq.quote));
    }
    if (q.state === MintQuoteState.UNPAID) {
      if (mq.expiry !== null && mq.expiry > 0 && mq.expiry * 1000 < Date.now() && op.kind === "mint") {
        // Expired unpaid: nothing was paid, nothing to claim.
        wallet.commit(Object.assign(op, { state: "aborted", error: `mint quote ${mq.quote} expired unpaid` }));
        throw new OpStateError(op.id, `mint quote ${mq.quote} at ${mq.mint} expired unpaid`);
      }
      throw new OpPendingError(op.id, op.state, `mint quote ${mq.quote} at ${mq.mint} is not paid yet`);
    }
    if (q.state === MintQuoteState.ISSUED) {
      // We never sent outputs for this quote, so someone else claimed it.
      wallet.commit(Object.assign(op, { state: "failed", error: `mint quote ${mq.quote} was issued to other outputs` }));
      throw new OpStateError(op.id, `mint quote ${mq.quote} at ${mq.mint} was already issued`);
    }
    const preview = await w.prepareMint("bolt11", mq.amount, q);
    op.mintOutputs = toOutputs(preview.outputData);
    op.state = "minting";
    wallet.commit(op);
    crashPoint(crashOp, "mint-outputs-saved");
  }
  const od = op.mintOutputs.map((o) => OutputData.deserialize(o));
  let proofs: Proof[];
  try {
    const res = await wallet.call(mq.mint, "mint", op.id, () =>
      w.mint.mintBolt11({ quote: mq.quote, outputs: od.map((o) => o.blindedMessage) }),
    );
    if (res.signatures.length !== od.length) throw new Error(`mint returned ${res.signatures.length} signatures for ${od.length} outputs`);
    proofs = od.map((o, i) => o.toProof(res.signatures[i]!, w.getKeyset(res.signatures[i]!.id)));
    crashPoint(crashOp, "mint-sent");
  } catch (e) {
    // Maybe the mint signed before we crashed or lost the answer: the quote is ISSUED, our outputs are restorable.
    const q = await wallet.call(mq.mint, "check mint quote", op.id, () => w.checkMintQuoteBolt11(mq.quote));
    if (q.state !== MintQuoteState.ISSUED) throw e;
    proofs = await wallet.restoreOutputs(w, mq.mint, op.id, op.mintOutputs);
    if (proofs.length === 0) {
      wallet.commit(Object.assign(op, { state: "failed", error: `quote ${mq.quote} issued, but not to our outputs` }));
      throw new OpStateError(op.id, `mint quote ${mq.quote} at ${mq.mint} was issued to other outputs`);
    }
  }
  const stored = proofs.map(toStored);
  const credited = sumStored(stored);
  wallet.commit(Object.assign(op, { state: finalState, credited: (op.credited ?? 0) + credited }), () => {
    wallet.store.addReady(mq.mint, stored);
    wallet.ledger.recordSync({ time: Date.now(), direction: "in", kind: op.kind, amount: credited, mint: mq.mint, opId: op.id, ...op.ctx });
  });
  wallet.log.info({ op: op.id, mint: mq.mint, amount: credited }, "minted");
  crashPoint(crashOp, "minted");
}

// ---- melt ---------------------------------------------------------------------------------------------------------------------

/** Asks the mint for a melt quote for a bolt11 invoice and records it (state `quoted`). */
export async function createMeltQuote(wallet: PayWallet, url: string, invoice: string, kind: OpKind = "melt", extra: Partial<OpRecord> = {}): Promise<OpRecord> {
  if (typeof invoice !== "string" || invoice.length === 0 || invoice.length > 8192) throw new TypeError("invoice must be a bolt11 string");
  const mint = mintUrl(url);
  const w = await wallet.cashu(mint);
  const q: MeltQuoteBolt11Response = await wallet.call(mint, "melt quote", undefined, () => w.createMeltQuoteBolt11(invoice));
  const amount = Amount.from(q.amount).toNumber();
  const op = wallet.newOp(kind, mint, amount, "quoted", {
    ...extra,
    meltQuote: { mint, quote: q.quote, request: invoice, amount, feeReserve: Amount.from(q.fee_reserve).toNumber() },
  });
  wallet.commit(op);
  crashPoint(kind, "melt-quoted");
  return op;
}

/** Pays a melt quote from the wallet. Safe to call again after a crash: a quote is never paid twice. */
export async function completeMelt(wallet: PayWallet, opId: string): Promise<OpRecord> {
  return wallet.exclusive(opId, async () => {
    const op = wallet.getOp(opId);
    if (!op || op.kind !== "melt") throw new OpStateError(opId, `no melt operation ${opId}`);
    if (FINAL_STATES.has(op.state)) return op;
    await runMeltPhase(wallet, op, "melt", "done");
    return op;
  });
}

/** Quote and pay a bolt11 invoice; refuses when the fee reserve plus input fees exceed `maxFee`. */
export async function melt(wallet: PayWallet, url: string, invoice: string, opts: { maxFee?: number } = {}): Promise<OpRecord> {
  const op = await createMeltQuote(wallet, url, invoice);
  const fee = op.meltQuote!.feeReserve;
  if (opts.maxFee !== undefined && fee > opts.maxFee) {
    wallet.commit(Object.assign(op, { state: "aborted", error: `fee reserve ${fee} above cap ${opts.maxFee}` }));
    throw new PayError("fee-cap", `fee reserve ${fee} sat is above the cap of ${opts.maxFee} sat`);
  }
  // The caller asked to pay: from here a restart pays it too.
  wallet.commit(Object.assign(op, { state: "paying" }));
  return completeMelt(wallet, op.id);
}

/**
 * Melt phase shared by melt and swap: reserves inputs, stores them with NUT-08 change outputs, pays, then settles
 * change. On resume it reads the quote state: PAID settles, UNPAID with unspent inputs retries, PENDING waits.
 * When the mint refuses the payment and the inputs are still unspent, the op moves to `refusedState`.
 */
export async function runMeltPhase(wallet: PayWallet, op: OpRecord, crashOp: string, finalState: string, refusedState = "quoted"): Promise<void> {
  const mq = op.meltQuote;
  if (!mq) throw new OpStateError(op.id, `operation ${op.id} has no melt quote`);
  const w = await wallet.cashu(mq.mint);
  if (!op.meltInputs) {
    const q0 = await wallet.call(mq.mint, "check melt quote", op.id, () => w.checkMeltQuoteBolt11(mq.quote));
    if (q0.state !== MeltQuoteState.UNPAID) throw new OpStateError(op.id, `melt quote ${mq.quote} is ${q0.state}, expected UNPAID`);
    await wallet.withMintLock(mq.mint, async () => {
      const need = mq.amount + mq.feeReserve;
      const ready = wallet.readyProofs(mq.mint);
      const available = sumStored(ready);
      let sel: Proof[];
      try {
        sel = w.selectProofsToSend(ready.map(fromStored), need, true).send;
      } catch {
        sel = [];
      }
      const inFee = Amount.from(w.getFeesForProofs(sel)).toNumber();
      if (sel.length === 0 || sumStored(sel.map(toStored)) < need + inFee) throw new InsufficientFundsError(mq.mint, need + inFee, available);
      const preview = await w.prepareMelt("bolt11", q0, sel);
      op.meltInputs = sel.map(toStored);
      op.meltOutputs = toOutputs(preview.outputData);
      op.state = "melting";
      wallet.reserveFor(op, op.meltInputs);
    });
    crashPoint(crashOp, "melt-prepared");
  }
  const inputs = op.meltInputs!;
  const outputs = op.meltOutputs ?? [];
  let q = await wallet.call(mq.mint, "check melt quote", op.id, () => w.checkMeltQuoteBolt11(mq.quote));
  if (q.state === MeltQuoteState.UNPAID) {
    const st = await wallet.states(w, mq.mint, op.id, inputs);
    if (st.some((s) => s === CheckStateEnum.SPENT)) {
      // Inputs gone but quote unpaid: the payment failed after spending; nothing to claim.
      wallet.commit(Object.assign(op, { state: "failed", error: "inputs spent but quote unpaid" }), () => wallet.store.drop(mq.mint, inputs));
      throw new OpStateError(op.id, `melt ${mq.quote}: inputs spent but quote unpaid`);
    }
    let refusal: unknown;
    try {
      const od = outputs.map((o) => OutputData.deserialize(o));
      q = await wallet.call(mq.mint, "melt", op.id, () =>
        w.mint.meltBolt11({ quote: mq.quote, inputs: inputs.map(wireProof), outputs: od.map((o) => o.blindedMessage) }),
      );
    } catch (e) {
      refusal = e;
      q = await wallet.call(mq.mint, "check melt quote", op.id, () => w.checkMeltQuoteBolt11(mq.quote));
    }
    if (q.state === MeltQuoteState.UNPAID) {
      // The mint refused, or the Lightning payment failed: if the inputs are still unspent nothing was paid, so
      // release them; `refusedState` says what happens next (a melt keeps its quote for another try, a swap aborts).
      const after = await wallet.states(w, mq.mint, op.id, inputs);
      const why = refusal instanceof Error ? refusal.message : "the Lightning payment failed";
      if (after.every((s) => s === CheckStateEnum.UNSPENT)) {
        wallet.commit(Object.assign(op, { state: refusedState, meltInputs: undefined, meltOutputs: undefined, error: why }), () => wallet.store.release(mq.mint, inputs));
        throw new PayError("payment-failed", `melt ${mq.quote} at ${mq.mint} was not paid: ${why}`, { cause: refusal });
      }
      if (refusal) throw refusal;
      throw new OpPendingError(op.id, op.state, `melt quote ${mq.quote} at ${mq.mint} is unpaid while its inputs are pending`);
    }
  }
  crashPoint(crashOp, "melt-sent");
  if (q.state === MeltQuoteState.PENDING) throw new OpPendingError(op.id, op.state, `melt quote ${mq.quote} at ${mq.mint} is pending`);
  if (q.state !== MeltQuoteState.PAID) throw new OpStateError(op.id, `melt quote ${mq.quote} in unexpected state ${q.state}`);
  const change = (await wallet.restoreOutputs(w, mq.mint, op.id, outputs)).map(toStored);
  const changeSum = sumStored(change);
  const spent = sumStored(inputs) - changeSum;
  wallet.commit(Object.assign(op, { state: finalState, fee: (op.fee ?? 0) + (spent - mq.amount), preimage: q.payment_preimage ?? null }), () => {
    wallet.store.drop(mq.mint, inputs);
    wallet.store.addReady(mq.mint, change);
    wallet.ledger.recordSync({ time: Date.now(), direction: "out", kind: op.kind, amount: spent, mint: mq.mint, opId: op.id, ...op.ctx });
  });
  wallet.log.info({ op: op.id, mint: mq.mint, amount: mq.amount, spent }, "melted");
  crashPoint(crashOp, "melted");
}
