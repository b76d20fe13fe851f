// Receiving: token inspection, and redemption of received proofs at their mint (once per set of proofs).
import { createHash } from "node:crypto";
import { Amount, getTokenMetadata, type Proof, type Token } from "@cashu/cashu-ts";
import { MintCallError, TokenError } from "./errors.ts";
import { crashPoint } from "./fault.ts";
import { FINAL_STATES, sumStored, toStored, type OpRecord, type PayContext } from "./store.ts";
import { mintUrl, swapOrRestore, toOutputs } from "./wallet-common.ts";
import type { PayWallet } from "./wallet.ts";

/** Result of a receive: the value credited. */
export interface ReceiveResult {
  opId: string;
  mint: string;
  /** Sum of the token's proofs. */
  amount: number;
  /** Input fee paid to the mint to redeem. */
  fee: number;
  /** Net value credited (amount - fee). */
  credited: number;
}

/** What a receiver requires of a token before redeeming it. */
export interface ReceiveExpectation {
  /** Only these mints (normalized URLs); default: the trust list. */
  mints?: readonly string[];
  /** Net value after the redeem fee must reach this. */
  minCredited?: number;
}

const MAX_TOKEN_CHARS = 64 * 1024;

/**
 * The identity of a set of proofs: sha256 over their sorted secrets (32 hex chars). The same proofs give the same key
 * whatever the token's encoding, so it names a token's redemption and the session a token paid for.
 */
export function tokenKey(secrets: readonly string[]): string {
  return createHash("sha256").update([...secrets].sort().join("\n")).digest("hex").slice(0, 32);
}

function receiveResult(op: OpRecord): ReceiveResult {
  return { opId: op.id, mint: op.mint, amount: op.amount, fee: op.fee ?? 0, credited: op.credited ?? 0 };
}

/**
 * Reads a token's mint, unit, amount and {@link tokenKey} without touching the network; throws TokenError on garbage.
 */
export function inspectToken(token: string): { mint: string; unit: string; amount: number; key: string } {
  if (typeof token !== "string" || !token.startsWith("cashu")) throw new TokenError("bad-token", "not a cashu token");
  if (token.length > MAX_TOKEN_CHARS) throw new TokenError("token-too-large", `token longer than ${MAX_TOKEN_CHARS} characters`);
  let meta;
  try {
    meta = getTokenMetadata(token);
  } catch (e) {
    throw new TokenError("bad-token", `cannot decode token: ${(e as Error).message}`, { cause: e });
  }
  let mint: string;
  try {
    mint = mintUrl(meta.mint);
  } catch {
    throw new TokenError("bad-token", "token names no valid mint URL");
  }
  const amount = Amount.from(meta.amount).toNumber();
  const secrets = (meta.incompleteProofs ?? []).map((p) => p.secret);
  if (secrets.length === 0 || secrets.some((x) => typeof x !== "string")) throw new TokenError("bad-token", "token holds no proofs");
  return { mint, unit: meta.unit ?? "sat", amount, key: tokenKey(secrets) };
}

/**
 * Redeems a token at its mint (swap for fresh proofs) so that value from others is never trusted unredeemed.
 * Refuses untrusted mints, other units, oversized or underpaying tokens, and tokens seen before (with `replay`, a
 * token seen before answers with its first redemption instead: see {@link redeem}).
 */
export async function receive(wallet: PayWallet, token: string, opts: { expect?: ReceiveExpectation; ctx?: PayContext; replay?: boolean } = {}): Promise<ReceiveResult> {
  const meta = inspectToken(token);
  const allowed = opts.expect?.mints?.map(mintUrl);
  if (allowed ? !allowed.includes(meta.mint) : !wallet.isTrusted(meta.mint)) throw new TokenError("untrusted-mint", `mint ${meta.mint} is not accepted`);
  if (!wallet.isTrusted(meta.mint)) throw new TokenError("untrusted-mint", `mint ${meta.mint} is not trusted`);
  if (meta.unit !== wallet.unit) throw new TokenError("wrong-unit", `token unit ${meta.unit} is not ${wallet.unit}`);
  if (meta.amount <= 0) throw new TokenError("bad-token", "token is empty");
  if (meta.amount > wallet.maxTokenAmount) throw new TokenError("token-too-large", `token amount ${meta.amount} above ${wallet.maxTokenAmount}`);
  const w = await wallet.cashu(meta.mint);
  let decoded: Token;
  try {
    decoded = w.decodeToken(token);
  } catch (e) {
    throw new TokenError("bad-token", `cannot decode token: ${(e as Error).message}`, { cause: e });
  }
  if (decoded.proofs.length === 0 || decoded.proofs.length > wallet.maxTokenProofs) throw new TokenError("bad-token", `token must hold 1..${wallet.maxTokenProofs} proofs`);
  for (const p of decoded.proofs) {
    if (typeof p.secret !== "string" || p.secret.length > 1024 || typeof p.C !== "string" || p.C.length > 200) throw new TokenError("bad-token", "malformed proof");
    let ks;
    try {
      ks = w.getKeyset(p.id);
    } catch {
      throw new TokenError("wrong-unit", `proof keyset ${p.id} is not a keyset of ${meta.mint}`);
    }
    if (ks.unit !== wallet.unit) throw new TokenError("wrong-unit", `proof keyset ${p.id} is a ${ks.unit} keyset, not ${wallet.unit}`);
  }
  const fee = Amount.from(w.getFeesForProofs(decoded.proofs)).toNumber();
  const credited = meta.amount - fee;
  if (opts.expect?.minCredited !== undefined && credited < opts.expect.minCredited) {
    throw new TokenError("underpaid", `token is worth ${credited} sat after the ${fee} sat fee, ${opts.expect.minCredited} sat required`);
  }
  if (credited <= 0) throw new TokenError("underpaid", `token does not cover its redeem fee of ${fee} sat`);
  return redeem(wallet, meta.mint, decoded.proofs, { ...(opts.ctx ? { ctx: opts.ctx } : {}), ...(opts.replay ? { replay: true } : {}) });
}

/**
 * Swaps proofs someone handed us (a received token, or our own unclaimed token taken back) for fresh ones at their
 * mint. The op id is derived from the proofs ({@link tokenKey}), so the same proofs are never redeemed twice by this
 * wallet: presenting them again is refused, or with `replay` answered with the first redemption's result (finishing
 * it first when it is still in flight). `reclaimOf` names the send whose token this takes back (ledger kind "reclaim").
 */
export async function redeem(wallet: PayWallet, mint: string, proofs: readonly Proof[], opts: { ctx?: PayContext; replay?: boolean; reclaimOf?: string } = {}): Promise<ReceiveResult> {
  const w = await wallet.cashu(mint);
  const inputs = proofs.map(toStored);
  const amount = sumStored(inputs);
  const fee = Amount.from(w.getFeesForProofs([...proofs])).toNumber();
  const id = `receive-${tokenKey(inputs.map((p) => p.secret))}`;
  const seen = redemptionOf(wallet, id.slice("receive-".length));
  if (seen) {
    if (!opts.replay) throw new TokenError("already-spent", "token was already presented to this node");
    return receiveResult(await replayRedeem(wallet, seen));
  }
  const op = wallet.newOp("receive", mint, amount, "swapping", { id, swapInputs: inputs, fee, ...(opts.ctx ? { ctx: opts.ctx } : {}), ...(opts.reclaimOf ? { reclaimOf: opts.reclaimOf } : {}) });
  let preview;
  try {
    preview = await w.prepareSwapToReceive(proofs.map((p) => ({ ...p })));
  } catch (e) {
    throw new TokenError("bad-token", `token rejected: ${(e as Error).message}`, { cause: e });
  }
  op.keepOutputs = toOutputs(preview.keepOutputs);
  const fresh = wallet.store.root.transactionSync(() => {
    if (wallet.store.ops.get(id)) return false;
    wallet.store.putOp(op);
    return true;
  });
  if (!fresh) {
    if (!opts.replay) throw new TokenError("already-spent", "token was already presented to this node");
    return receiveResult(await replayRedeem(wallet, wallet.store.ops.get(id)!));
  }
  crashPoint("receive", "swap-prepared");
  return receiveResult(await wallet.exclusive(op.id, () => runReceiveSwap(wallet, op)));
}

/** The redemption of the proofs with this {@link tokenKey}, if this wallet ever started one. */
export function redemptionOf(wallet: PayWallet, key: string): OpRecord | undefined {
  return wallet.store.ops.get(`receive-${key}`);
}

/** The outcome of an earlier redemption of the same proofs: done as is, in flight finished now, failed refused. */
async function replayRedeem(wallet: PayWallet, seen: OpRecord): Promise<OpRecord> {
  if (seen.state === "done") return seen;
  if (FINAL_STATES.has(seen.state)) throw new TokenError("already-spent", `token was already presented to this node (${seen.error ?? seen.state})`);
  return wallet.exclusive(seen.id, async () => {
    const cur = wallet.getOp(seen.id) ?? seen;
    return cur.state === "done" ? cur : runReceiveSwap(wallet, cur, true);
  });
}

/** Swaps a receive's inputs for its stored outputs and credits the proofs; used by {@link redeem} and on resume. */
export async function runReceiveSwap(wallet: PayWallet, op: OpRecord, resuming = false): Promise<OpRecord> {
  const w = await wallet.cashu(op.mint);
  const inputs = op.swapInputs!;
  let proofs: Proof[] | undefined;
  try {
    proofs = await swapOrRestore(wallet, w, op, inputs, op.keepOutputs ?? [], { resuming });
    // Resuming and the swap never happened: do it now.
    if (!proofs) proofs = await swapOrRestore(wallet, w, op, inputs, op.keepOutputs ?? []);
  } catch (e) {
    // Mint unreachable: keep the op in flight so resume() finishes it; the payer is told to retry later.
    if (e instanceof MintCallError && !FINAL_STATES.has(wallet.getOp(op.id)?.state ?? "")) throw e;
    // A refused token moved no value: drop its record, so that junk tokens cannot fill the disk.
    wallet.store.root.transactionSync(() => wallet.store.deleteOp(op.id));
    if (e instanceof TokenError) throw e;
    const msg = (e as Error).message;
    throw new TokenError(/spent|pending/i.test(msg) ? "already-spent" : "redeem-failed", `mint refused the token: ${msg}`, { cause: e });
  }
  const stored = proofs!.map(toStored);
  const credited = sumStored(stored);
  wallet.commit(Object.assign(op, { state: "done", credited, fee: op.amount - credited }), () => {
    wallet.store.addReady(op.mint, stored);
    wallet.ledger.recordSync({ time: Date.now(), direction: "in", kind: op.reclaimOf ? "reclaim" : op.ctx?.service ? "payment" : "receive", amount: credited, mint: op.mint, opId: op.id, ...op.ctx });
  });
  wallet.log.info({ op: op.id, mint: op.mint, credited }, "received");
  crashPoint("receive", "done");
  return op;
}
