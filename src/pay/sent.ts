// Sent tokens until someone claims them: the pending list, NUT-07 checks, and taking back a token nobody redeemed.
import { CheckStateEnum } from "@cashu/cashu-ts";
import { OpPendingError, OpStateError, PayError, TokenError } from "./errors.ts";
import { fromStored, sumStored, toStored, type OpRecord, type StoredProof } from "./store.ts";
import type { PayWallet } from "./wallet.ts";

/** What {@link reclaim} found and did. */
export interface ReclaimResult {
  op: OpRecord;
  /** `claimed`: the receiver redeemed the token, nothing came back; `reclaimed`: its value is back in the wallet. */
  outcome: "claimed" | "reclaimed";
  /** Sats credited back (after the mint's redeem fee). */
  credited: number;
}

/**
 * Tokens this wallet made that nobody is known to have claimed, oldest first (at most `limit`). A send whose reply the
 * caller never received (crash, disconnect, timeout) shows up here, so that its value is never stranded.
 */
export function listPending(wallet: PayWallet, limit = 1000): OpRecord[] {
  if (!Number.isSafeInteger(limit) || limit <= 0) throw new RangeError("limit must be a positive integer");
  return wallet.store.pendingSends(limit);
}

async function sentProofs(wallet: PayWallet, op: OpRecord): Promise<StoredProof[]> {
  if (op.sentProofs) return op.sentProofs;
  // Records written before sentProofs existed: decode the token itself.
  const w = await wallet.cashu(op.mint);
  return w.decodeToken(op.token!).proofs.map(toStored);
}

function settle(wallet: PayWallet, op: OpRecord, claim: "claimed" | "reclaimed", reclaimed?: number): OpRecord {
  return wallet.commit(Object.assign(op, { claim, ...(reclaimed !== undefined ? { reclaimed } : {}) }), () => wallet.store.unmarkSent(op.id));
}

/** Marks a pending send as claimed without asking the mint (a paid peer served the request it paid for). */
export function markClaimed(wallet: PayWallet, opId: string): void {
  const op = wallet.getOp(opId);
  if (op?.kind === "send" && op.claim === "unclaimed") settle(wallet, op, "claimed");
}

/**
 * Takes back the token of send `opId` unless its receiver redeemed it: a NUT-07 check first; proofs the mint reports
 * spent were claimed (the send is marked done), unspent ones are redeemed at the mint back into the wallet. A token
 * whose proofs are pending at the mint (a redemption under way) is left alone: try again later.
 * @throws OpStateError when `opId` is not a send that handed out a token; OpPendingError while proofs are pending.
 */
export async function reclaim(wallet: PayWallet, opId: string): Promise<ReclaimResult> {
  if (typeof opId !== "string" || !opId.startsWith("send-") || opId.length > 64) throw new OpStateError(String(opId), `not a send operation id: ${String(opId)}`);
  return wallet.exclusive(opId, async () => {
    const op = wallet.getOp(opId);
    if (!op || op.kind !== "send") throw new OpStateError(opId, `no send operation ${opId}`);
    if (op.state !== "done" || !op.token) throw new OpStateError(opId, `send ${opId} is ${op.state}: it handed out no token`);
    if (op.claim === "claimed") return { op, outcome: "claimed", credited: 0 };
    if (op.claim === "reclaimed") return { op, outcome: "reclaimed", credited: op.reclaimed ?? 0 };
    const proofs = await sentProofs(wallet, op);
    const unspentOf = async () => {
      const st = await wallet.proofStates(op.mint, op.id, proofs);
      if (st.some((s) => s === CheckStateEnum.PENDING)) throw new OpPendingError(op.id, op.state, `the proofs of ${op.id} are pending at ${op.mint} (a redemption is under way); try again later`);
      return proofs.filter((_, i) => st[i] === CheckStateEnum.UNSPENT);
    };
    const unspent = await unspentOf();
    if (unspent.length === 0) return { op: settle(wallet, op, "claimed"), outcome: "claimed", credited: 0 };
    let credited: number;
    try {
      credited = (await wallet.redeem(op.mint, unspent.map(fromStored), { reclaimOf: op.id, replay: true, ...(op.ctx ? { ctx: op.ctx } : {}) })).credited;
    } catch (e) {
      // The receiver redeemed it between our check and our swap: claimed after all.
      if (e instanceof TokenError && e.code === "already-spent" && (await unspentOf()).length === 0) return { op: settle(wallet, op, "claimed"), outcome: "claimed", credited: 0 };
      if (e instanceof TokenError) throw new PayError("reclaim-failed", `could not take back ${op.id} (${sumStored(unspent)} sat): ${e.message}`, { cause: e });
      throw e;
    }
    return { op: settle(wallet, op, "reclaimed", credited), outcome: "reclaimed", credited };
  });
}

/**
 * NUT-07 check of every pending token (at most `limit`): sends whose proofs are all spent are marked claimed and leave
 * the list. Mints that cannot be asked are reported; nothing is redeemed.
 */
export async function checkPending(wallet: PayWallet, limit = 1000): Promise<{ claimed: string[]; unreachable: string[] }> {
  const claimed: string[] = [];
  const unreachable = new Set<string>();
  for (const op of listPending(wallet, limit)) {
    if (unreachable.has(op.mint)) continue;
    try {
      const st = await wallet.proofStates(op.mint, op.id, await sentProofs(wallet, op));
      if (st.length === 0 || !st.every((s) => s === CheckStateEnum.SPENT)) continue;
    } catch (e) {
      if (e instanceof PayError) {
        unreachable.add(op.mint);
        continue;
      }
      throw e;
    }
    try {
      await wallet.exclusive(op.id, async () => {
        const cur = wallet.getOp(op.id);
        if (cur?.claim === "unclaimed") settle(wallet, cur, "claimed");
      });
      claimed.push(op.id);
    } catch (e) {
      // A reclaim of the same send is running: it settles it.
      if (!(e instanceof OpPendingError)) throw e;
    }
  }
  return { claimed, unreachable: [...unreachable] };
}
