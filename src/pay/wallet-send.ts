// Sending: a token worth an exact amount, from an exact set of proofs or a persisted split at the mint.
import { Amount, OutputData, getEncodedToken, type Proof } from "@cashu/cashu-ts";
import { InsufficientFundsError, PayError } from "./errors.ts";
import { crashPoint } from "./fault.ts";
import { fromStored, sumStored, toStored, type OpRecord, type PayContext } from "./store.ts";
import { mintUrl, positiveInt, swapOrRestore, toOutputs } from "./wallet-common.ts";
import type { PayWallet } from "./wallet.ts";

/** Result of a send: the token and what it cost. */
export interface SendResult {
  opId: string;
  mint: string;
  token: string;
  amount: number;
  fee: number;
}

/**
 * Makes a token worth exactly `amount` after the receiver's redeem fee (fees included), from `mint` or the mint with
 * the largest balance. Uses an exact set of proofs when one exists, else splits at the mint (a persisted swap).
 * The token stays on the pending list (see sent.ts) until it is found claimed or is reclaimed. When `signal` is
 * aborted before anything is reserved nothing happens; when it is aborted while the token is being made, nobody
 * can have received it, so its proofs go straight back to the wallet and the call fails with the abort reason.
 */
export async function send(wallet: PayWallet, amount: number, opts: { mint?: string; ctx?: PayContext; signal?: AbortSignal } = {}): Promise<SendResult> {
  positiveInt("amount", amount);
  opts.signal?.throwIfAborted();
  let mint: string;
  if (opts.mint) mint = mintUrl(opts.mint);
  else {
    const bal = Object.entries(wallet.balances()).sort((a, b) => b[1] - a[1]);
    if (!bal[0]) throw new InsufficientFundsError("(any mint)", amount, 0);
    mint = bal[0][0];
  }
  const w = await wallet.cashu(mint);
  const op = wallet.newOp("send", mint, amount, "swapping", opts.ctx ? { ctx: opts.ctx } : {});
  let release: (() => void) | undefined;
  const exact = await wallet.withMintLock(mint, async () => {
    opts.signal?.throwIfAborted();
    const ready = wallet.readyProofs(mint);
    const available = sumStored(ready);
    // Exact offline match: proofs summing to amount + the receiver's fee for them.
    try {
      const { send } = w.selectProofsToSend(ready.map(fromStored), amount, true, true);
      const sel = send.map(toStored);
      if (sel.length > 0 && sumStored(sel) === amount + Amount.from(w.getFeesForProofs(send)).toNumber()) {
        op.swapInputs = sel;
        op.state = "exact";
        wallet.reserveFor(op, sel);
        release = wallet.claim(op.id);
        return sel;
      }
    } catch {
      // no exact match: swap below
    }
    let preview;
    try {
      preview = await w.prepareSwapToSend(amount, ready.map(fromStored), { includeFees: true });
    } catch {
      throw new InsufficientFundsError(mint, amount, available);
    }
    opts.signal?.throwIfAborted();
    op.swapInputs = preview.inputs.map(toStored);
    op.sendOutputs = toOutputs(preview.sendOutputs);
    op.keepOutputs = toOutputs(preview.keepOutputs);
    wallet.reserveFor(op, op.swapInputs);
    // Claimed in the same turn as the commit, so that a background resume never drives this send too.
    release = wallet.claim(op.id);
    return undefined;
  });
  try {
    crashPoint("send", "prepared");
    if (exact) finishExactSend(wallet, op);
    else {
      const outputs = [...op.sendOutputs!, ...op.keepOutputs!];
      const proofs = (await swapOrRestore(wallet, w, op, op.swapInputs!, outputs))!;
      if (proofs.length !== outputs.length) {
        keepInterruptedSplit(wallet, op, proofs, `the mint restored ${proofs.length} of ${outputs.length} outputs`);
        throw new PayError("partial-restore", `send ${op.id}: the mint restored only ${proofs.length} of ${outputs.length} outputs; what it restored is back in the wallet`);
      }
      finishSwapSend(wallet, op, proofs);
    }
  } finally {
    release?.();
  }
  if (opts.signal?.aborted) {
    // The caller is gone and the token was never handed out: nobody else knows these secrets.
    unsend(wallet, op);
    opts.signal.throwIfAborted();
  }
  return sendResult(op);
}

function finishExactSend(wallet: PayWallet, op: OpRecord): void {
  const sendProofs = op.swapInputs!;
  const token = getEncodedToken({ mint: op.mint, unit: wallet.unit, proofs: sendProofs.map(fromStored) });
  wallet.commit(Object.assign(op, { state: "done", token, fee: 0, sentProofs: sendProofs, claim: "unclaimed" as const }), () => {
    wallet.store.drop(op.mint, sendProofs);
    wallet.store.markSent(op);
    wallet.ledger.recordSync({ time: Date.now(), direction: "out", kind: op.ctx?.service ? "payment" : "send", amount: sumStored(sendProofs), mint: op.mint, opId: op.id, ...op.ctx });
  });
  crashPoint("send", "done");
}

function finishSwapSend(wallet: PayWallet, op: OpRecord, proofs: Proof[]): void {
  const inputs = op.swapInputs!;
  const sendSecrets = new Set((op.sendOutputs ?? []).map((o) => new TextDecoder().decode(OutputData.deserialize(o).secret)));
  const sendProofs = proofs.filter((p) => sendSecrets.has(p.secret)).map(toStored);
  const keepProofs = proofs.filter((p) => !sendSecrets.has(p.secret)).map(toStored);
  const token = getEncodedToken({ mint: op.mint, unit: wallet.unit, proofs: sendProofs.map(fromStored) });
  const fee = sumStored(inputs) - sumStored(proofs.map(toStored));
  wallet.commit(Object.assign(op, { state: "done", token, fee, sentProofs: sendProofs, claim: "unclaimed" as const }), () => {
    wallet.store.drop(op.mint, inputs);
    wallet.store.addReady(op.mint, keepProofs);
    wallet.store.markSent(op);
    wallet.ledger.recordSync({ time: Date.now(), direction: "out", kind: op.ctx?.service ? "payment" : "send", amount: sumStored(sendProofs), mint: op.mint, opId: op.id, ...op.ctx });
    if (fee > 0) wallet.ledger.recordSync({ time: Date.now(), direction: "out", kind: "fee", amount: fee, mint: op.mint, opId: op.id });
  });
  crashPoint("send", "done");
}

/**
 * A split that finished at the mint but whose token was never handed out (interrupted, or only partly restored):
 * every output the mint signed goes back to the wallet, the inputs are dropped, and the op ends `aborted`.
 */
export function keepInterruptedSplit(wallet: PayWallet, op: OpRecord, proofs: Proof[], why: string): void {
  const inputs = op.swapInputs!;
  const back = proofs.map(toStored);
  const fee = sumStored(inputs) - sumStored(back);
  wallet.commit(Object.assign(op, { state: "aborted", fee, error: `${why}; no token was handed out, the value is back in the wallet` }), () => {
    wallet.store.drop(op.mint, inputs);
    wallet.store.addReady(op.mint, back);
    if (fee > 0) wallet.ledger.recordSync({ time: Date.now(), direction: "out", kind: "fee", amount: fee, mint: op.mint, opId: op.id });
  });
  wallet.log.warn({ op: op.id, mint: op.mint, kept: sumStored(back), fee }, `send interrupted: ${why}`);
}

/** Takes back a token this process made but never handed out: its proofs return as spendable, no mint call. */
function unsend(wallet: PayWallet, op: OpRecord): void {
  const proofs = op.sentProofs ?? [];
  wallet.commit(Object.assign(op, { claim: "reclaimed" as const, reclaimed: sumStored(proofs), error: "the caller went away before the token was handed out" }), () => {
    wallet.store.addReady(op.mint, proofs);
    wallet.store.unmarkSent(op.id);
    wallet.ledger.recordSync({ time: Date.now(), direction: "in", kind: "reclaim", amount: sumStored(proofs), mint: op.mint, opId: op.id });
  });
}

function sendResult(op: OpRecord): SendResult {
  return { opId: op.id, mint: op.mint, token: op.token!, amount: op.amount, fee: op.fee ?? 0 };
}
