// Cross-mint swap: mint A melts to pay mint B's mint-quote invoice, then B mints; a persisted, resumable state machine.
import { Amount } from "@cashu/cashu-ts";
import { FeeCapError, InsufficientFundsError, OpStateError, UntrustedMintError } from "./errors.ts";
import { crashPoint } from "./fault.ts";
import { FINAL_STATES, fromStored, type OpRecord, type PayContext } from "./store.ts";
import { liquidityOf } from "./liquidity.ts";
import { mintUrl, type PayWallet } from "./wallet.ts";

/** Options for {@link swapMints}. */
export interface SwapOptions {
  /** Mint the value leaves (we hold proofs there). */
  from: string;
  /** Mint the value arrives at; must be trusted. */
  to: string;
  /** Amount to arrive at `to`, in sats. */
  amount: number;
  /** Largest total fee (Lightning fee reserve + input fees at `from`) accepted; checked before paying. */
  maxFee: number;
  ctx?: PayContext;
}

/**
 * States: `new` -> `mint-quoted` (B's quote kept) -> `melt-quoted` (A's quote kept, fee cap checked) -> `melting`
 * (inputs and change outputs kept) -> `melted` -> `minting` (outputs kept) -> `done`; or `aborted` when the fee cap
 * or funds refuse before anything was paid. Every state is written before the network call that follows it.
 */
export async function swapMints(wallet: PayWallet, opts: SwapOptions): Promise<OpRecord> {
  if (!Number.isSafeInteger(opts.amount) || opts.amount <= 0) throw new RangeError("amount must be a positive integer");
  if (!Number.isSafeInteger(opts.maxFee) || opts.maxFee < 0) throw new RangeError("maxFee must be a non-negative integer");
  const from = mintUrl(opts.from);
  const to = mintUrl(opts.to);
  if (from === to) throw new RangeError("from and to are the same mint");
  if (!wallet.isTrusted(to)) throw new UntrustedMintError(to);
  // Cheap pre-check: the fee can never be below zero, so amount itself must be there.
  if (wallet.balance(from) < opts.amount) throw new InsufficientFundsError(from, opts.amount, wallet.balance(from));
  const op = wallet.newOp("swap", from, opts.amount, "new", { toMint: to, maxFee: opts.maxFee, ...(opts.ctx ? { ctx: opts.ctx } : {}) });
  wallet.commit(op);
  const started = performance.now();
  const record = (ok: boolean, fee?: number) =>
    liquidityOf(wallet)
      .record(from, to, { ok, latencyMs: performance.now() - started, ...(fee !== undefined ? { fee } : {}) })
      .catch((err: unknown) => wallet.log.warn({ err: (err as Error).message }, "swap: could not record the pair's outcome"));
  try {
    // Claimed in the same turn as the commit: the background resume sees the record as running and leaves it alone.
    const done = await wallet.exclusive(op.id, () => runSwap(wallet, op));
    await record(done.state === "done", done.fee ?? 0);
    return done;
  } catch (err) {
    // The liquidity cache remembers the pair failed (fee over the cap, a melt or mint refused, a mint unreachable).
    await record(false);
    throw err;
  }
}

/** Drives a swap from whatever state it is in to `done` (or `aborted`). Used by {@link swapMints} and on resume. */
export async function runSwap(wallet: PayWallet, op: OpRecord): Promise<OpRecord> {
  if (op.kind !== "swap") throw new OpStateError(op.id, `${op.id} is not a swap`);
  const to = op.toMint!;
  const from = op.mint;
  if (op.state === "new") {
    const b = await wallet.cashu(to);
    const q = await wallet.call(to, "mint quote", op.id, () => b.createMintQuoteBolt11(op.amount));
    op.mintQuote = { mint: to, quote: q.quote, request: q.request, amount: op.amount, expiry: q.expiry ?? null };
    op.state = "mint-quoted";
    wallet.commit(op);
    crashPoint("swap", "mint-quoted");
  }
  if (op.state === "mint-quoted") {
    const a = await wallet.cashu(from);
    const mq = await wallet.call(from, "melt quote", op.id, () => a.createMeltQuoteBolt11(op.mintQuote!.request));
    const amount = Amount.from(mq.amount).toNumber();
    op.meltQuote = { mint: from, quote: mq.quote, request: op.mintQuote!.request, amount, feeReserve: Amount.from(mq.fee_reserve).toNumber() };
    op.state = "melt-quoted";
    wallet.commit(op);
    crashPoint("swap", "melt-quoted");
  }
  if (op.state === "melt-quoted") {
    const fee = estimateFee(wallet, op, await wallet.cashu(from));
    if (fee > op.maxFee!) {
      wallet.commit(Object.assign(op, { state: "aborted", error: `fee ${fee} sat above cap ${op.maxFee} sat` }));
      throw new FeeCapError(fee, op.maxFee!);
    }
  }
  if (op.state === "melt-quoted" || op.state === "melting") {
    try {
      await wallet.runMeltPhase(op, "swap", "melted", "aborted");
    } catch (e) {
      if (e instanceof InsufficientFundsError && !op.meltInputs) wallet.commit(Object.assign(op, { state: "aborted", error: e.message }));
      throw e;
    }
  }
  if (op.state === "melted" || op.state === "minting") await wallet.runMintPhase(op, "swap", "done");
  if (!FINAL_STATES.has(op.state)) throw new OpStateError(op.id, `swap ${op.id} stopped in state ${op.state}`);
  return op;
}

/** Lightning fee reserve plus the input fees of the proofs that would be spent at `from`. */
function estimateFee(wallet: PayWallet, op: OpRecord, w: Awaited<ReturnType<PayWallet["cashu"]>>): number {
  const mq = op.meltQuote!;
  const need = mq.amount + mq.feeReserve;
  const ready = wallet.store.proofRows(op.mint).filter((r) => r.state === "ready").map((r) => fromStored(r.proof));
  let inFee = 0;
  try {
    const { send } = w.selectProofsToSend(ready, need, true);
    inFee = Amount.from(w.getFeesForProofs(send)).toNumber();
  } catch {
    // not enough funds: the melt phase reports it
  }
  return mq.feeReserve + inFee;
}

/** Lets `wallet.resume()` finish interrupted swaps. */
export function registerSwap(wallet: PayWallet): void {
  wallet.registerResumer("swap", (op) => runSwap(wallet, op));
}
