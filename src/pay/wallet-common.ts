// Helpers shared by the wallet's flows: mint URL normalization, stored <-> wire conversions, and the crash-safe swap-or-restore.
import { Amount, CheckStateEnum, OutputData, normalizeMintUrl, type OutputDataLike, type Proof, type Wallet as CashuWallet } from "@cashu/cashu-ts";
import { OpPendingError, TokenError } from "./errors.ts";
import { crashPoint } from "./fault.ts";
import type { OpRecord, StoredOutput, StoredProof } from "./store.ts";
import type { PayWallet } from "./wallet.ts";

/** Normalizes a mint URL, rejecting anything that is not http(s). */
export function mintUrl(url: string): string {
  if (typeof url !== "string" || url.length === 0 || url.length > 2048) throw new TypeError("mint URL must be a non-empty string");
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`not a URL: ${url}`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new TypeError(`mint URL must be http(s): ${url}`);
  return normalizeMintUrl(url);
}

/** Output data (blinded messages and their secrets) in the form an operation record stores. */
export function toOutputs(list: readonly OutputDataLike[] | undefined): StoredOutput[] {
  return (list ?? []).map((o) => OutputData.serialize(o));
}

/** A proof as sent to a mint: without the DLEQ proof. */
export function wireProof(p: StoredProof): Proof {
  return { id: p.id, amount: Amount.from(p.amount), secret: p.secret, C: p.C };
}

/** Throws a RangeError unless `v` is a positive safe integer. */
export function positiveInt(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

/**
 * Swaps `inputs` for `outputs` at the mint, or, if a previous attempt already did, restores the signatures (NUT-09).
 * With `resuming`, it first checks the inputs (NUT-07) and returns undefined when they were never spent, so the
 * caller decides between retrying and unwinding. Inputs spent by someone else fail the op with `already-spent`.
 * After a restore the answer may hold fewer proofs than `outputs` (the mint signed only some): callers keep them.
 */
export async function swapOrRestore(wallet: PayWallet, w: CashuWallet, op: OpRecord, inputs: StoredProof[], outputs: StoredOutput[], opts: { resuming?: boolean } = {}): Promise<Proof[] | undefined> {
  const od = outputs.map((o) => OutputData.deserialize(o));
  if (opts.resuming) {
    const st = await wallet.states(w, op.mint, op.id, inputs);
    if (st.every((s) => s === CheckStateEnum.UNSPENT)) return undefined;
    if (st.some((s) => s === CheckStateEnum.PENDING)) throw new OpPendingError(op.id, op.state, "inputs are pending at the mint");
    const restored = await wallet.restoreOutputs(w, op.mint, op.id, outputs);
    if (restored.length === 0) {
      // Inputs were spent, but not by our swap.
      wallet.commit(Object.assign(op, { state: "failed", error: "inputs spent elsewhere" }), () => wallet.store.drop(op.mint, inputs));
      throw new TokenError("already-spent", "token already spent");
    }
    // A partial restore is still value: the caller keeps what came back (fewer proofs than outputs).
    if (restored.length < od.length) wallet.log.warn({ op: op.id, mint: op.mint, restored: restored.length, outputs: od.length }, "NUT-09 restore returned only part of the outputs");
    return restored;
  }
  try {
    const res = await wallet.call(op.mint, "swap", op.id, () =>
      w.mint.swap({ inputs: inputs.map(wireProof), outputs: od.map((o) => o.blindedMessage) }),
    );
    if (res.signatures.length !== od.length) throw new Error(`mint returned ${res.signatures.length} signatures for ${od.length} outputs`);
    const proofs = od.map((o, i) => o.toProof(res.signatures[i]!, w.getKeyset(res.signatures[i]!.id)));
    crashPoint(op.kind, "swap-sent");
    return proofs;
  } catch (e) {
    // Find out what happened before deciding.
    const st = await wallet.states(w, op.mint, op.id, inputs);
    if (st.every((s) => s === CheckStateEnum.UNSPENT)) {
      wallet.commit(Object.assign(op, { state: "failed", error: (e as Error).message }), () => wallet.store.release(op.mint, inputs));
      throw e;
    }
    return swapOrRestore(wallet, w, op, inputs, outputs, { resuming: true });
  }
}
