// LMDB records of the wallet: proofs per mint, persisted operations, and the mint trust list.
import type { Database, RootDatabase } from "lmdb";
import { Amount, type Proof, type ProofLike } from "@cashu/cashu-ts";

/** A proof as stored: plain JSON-safe fields, amount as a number of base units. */
export interface StoredProof {
  id: string;
  amount: number;
  secret: string;
  C: string;
  dleq?: { e: string; s: string; r?: string };
}

/** A proof row: spendable (`ready`) or held by an in-flight operation (`reserved`). */
export interface ProofRow {
  mint: string;
  proof: StoredProof;
  state: "ready" | "reserved";
  opId?: string;
}

/** Context of a payment, recorded in the ledger. */
export interface PayContext {
  peer?: string;
  service?: string;
  bytes?: number;
}

/** A mint quote kept by an operation. */
export interface MintQuoteRec {
  mint: string;
  quote: string;
  request: string;
  amount: number;
  expiry: number | null;
}

/** A melt quote kept by an operation. */
export interface MeltQuoteRec {
  mint: string;
  quote: string;
  request: string;
  amount: number;
  feeReserve: number;
}

/** Blinded outputs with their secrets and blinding factors (cashu-ts SerializedOutputData shape). */
export interface StoredOutput {
  blindedMessage: { amount: string; B_: string; id: string };
  blindingFactor: string;
  secret: string;
  ephemeralE?: string;
}

/** Kinds of persisted operations. */
export type OpKind = "mint" | "melt" | "send" | "receive" | "swap";

/**
 * One mint-touching operation. It is written before every network call that can move value,
 * with everything needed to finish or recover it (quote ids, inputs, blinded outputs and secrets).
 */
export interface OpRecord {
  id: string;
  kind: OpKind;
  /** Kind-specific state; `done`, `failed` and `aborted` are final. */
  state: string;
  mint: string;
  amount: number;
  createdAt: number;
  updatedAt: number;
  error?: string;
  ctx?: PayContext;
  /** Mint (issue) phase: quote, and the outputs once the quote is paid. */
  mintQuote?: MintQuoteRec;
  mintOutputs?: StoredOutput[];
  /** Melt phase: quote, inputs, NUT-08 change outputs. */
  meltQuote?: MeltQuoteRec;
  meltInputs?: StoredProof[];
  meltOutputs?: StoredOutput[];
  preimage?: string | null;
  /** Swap at one mint (send split / receive redeem): inputs and outputs. */
  swapInputs?: StoredProof[];
  sendOutputs?: StoredOutput[];
  keepOutputs?: StoredOutput[];
  /** send: the token handed out. */
  token?: string;
  /** Net value credited to the wallet by this operation. */
  credited?: number;
  /** Fees paid (input fees, Lightning fees). */
  fee?: number;
  /** swap: destination mint and fee cap. */
  toMint?: string;
  maxFee?: number;
  /** send (done): the proofs in the token, and whether the receiver claimed it or we took it back. */
  sentProofs?: StoredProof[];
  claim?: "unclaimed" | "claimed" | "reclaimed";
  /** send: sats that came back to the wallet when the token was reclaimed. */
  reclaimed?: number;
  /** receive: the send whose own token this redemption takes back. */
  reclaimOf?: string;
}

/** Final states: nothing more to do. */
export const FINAL_STATES: ReadonlySet<string> = new Set(["done", "failed", "aborted"]);

/** A trust-list entry. */
export interface MintRow {
  url: string;
  trusted: boolean;
  addedAt: number;
}

/** Converts a cashu-ts proof into its stored form. */
export function toStored(p: ProofLike): StoredProof {
  const out: StoredProof = { id: p.id, amount: Amount.from(p.amount).toNumber(), secret: p.secret, C: p.C };
  if (p.dleq) out.dleq = { e: p.dleq.e, s: p.dleq.s, ...(p.dleq.r ? { r: p.dleq.r } : {}) };
  return out;
}

/** Converts a stored proof back to the cashu-ts shape. */
export function fromStored(p: StoredProof): Proof {
  return { id: p.id, amount: Amount.from(p.amount), secret: p.secret, C: p.C, ...(p.dleq ? { dleq: { ...p.dleq } } : {}) };
}

/** Sum of proof amounts. */
export function sumStored(ps: readonly StoredProof[]): number {
  let s = 0;
  for (const p of ps) s += p.amount;
  return s;
}

/** The wallet's named sub-databases inside the node's LMDB environment. */
export class WalletStore {
  readonly root: RootDatabase;
  readonly proofs: Database<ProofRow, [string, string]>;
  readonly ops: Database<OpRecord, string>;
  readonly mints: Database<MintRow, string>;
  /** Ids of unfinished operations, so that resume never scans the whole history. */
  readonly openOps: Database<number, string>;
  /** Ids of sends whose token nobody is known to have claimed yet (the pending list). */
  readonly sent: Database<number, string>;

  constructor(root: RootDatabase) {
    this.root = root;
    this.proofs = root.openDB<ProofRow, [string, string]>({ name: "pay.proofs" });
    this.ops = root.openDB<OpRecord, string>({ name: "pay.ops" });
    this.mints = root.openDB<MintRow, string>({ name: "pay.mints" });
    this.openOps = root.openDB<number, string>({ name: "pay.ops.open" });
    this.sent = root.openDB<number, string>({ name: "pay.sent" });
  }

  /** Every proof row of one mint. */
  proofRows(mint: string): ProofRow[] {
    const rows: ProofRow[] = [];
    for (const { value } of this.proofs.getRange({ start: [mint], end: [mint + "\u0001"] })) rows.push(value);
    return rows.filter((r) => r.mint === mint);
  }

  /** Every proof row. */
  allProofRows(): ProofRow[] {
    const rows: ProofRow[] = [];
    for (const { value } of this.proofs.getRange({})) rows.push(value);
    return rows;
  }

  /** Adds spendable proofs (inside a transaction). */
  addReady(mint: string, proofs: readonly StoredProof[]): void {
    for (const p of proofs) this.proofs.putSync([mint, p.secret], { mint, proof: p, state: "ready" });
  }

  /** Marks proofs as held by an operation (inside a transaction). */
  reserve(mint: string, proofs: readonly StoredProof[], opId: string): void {
    for (const p of proofs) this.proofs.putSync([mint, p.secret], { mint, proof: p, state: "reserved", opId });
  }

  /** Returns held proofs to the spendable set (inside a transaction). */
  release(mint: string, proofs: readonly StoredProof[]): void {
    for (const p of proofs) {
      if (this.proofs.get([mint, p.secret])) this.proofs.putSync([mint, p.secret], { mint, proof: p, state: "ready" });
    }
  }

  /** Deletes spent proofs (inside a transaction). */
  drop(mint: string, proofs: readonly StoredProof[]): void {
    for (const p of proofs) this.proofs.removeSync([mint, p.secret]);
  }

  /** Writes an operation record and its open-index entry (inside a transaction). */
  putOp(op: OpRecord): void {
    this.ops.putSync(op.id, op);
    if (FINAL_STATES.has(op.state)) this.openOps.removeSync(op.id);
    else this.openOps.putSync(op.id, op.createdAt);
  }

  /** Deletes an operation record that holds no value (inside a transaction). */
  deleteOp(id: string): void {
    this.ops.removeSync(id);
    this.openOps.removeSync(id);
  }

  /** Puts a finished send on the pending list (inside a transaction). */
  markSent(op: OpRecord): void {
    this.sent.putSync(op.id, op.createdAt);
  }

  /** Takes a send off the pending list (inside a transaction). */
  unmarkSent(id: string): void {
    this.sent.removeSync(id);
  }

  /** Sends on the pending list, oldest first, at most `limit`. */
  pendingSends(limit = Infinity): OpRecord[] {
    const out: OpRecord[] = [];
    for (const { key } of this.sent.getRange({})) {
      const op = this.ops.get(key);
      if (op && op.kind === "send" && op.claim === "unclaimed") out.push(op);
    }
    return out.sort((a, b) => a.createdAt - b.createdAt).slice(0, limit);
  }

  /** Unfinished operations. */
  unfinishedOps(): OpRecord[] {
    const out: OpRecord[] = [];
    for (const { key } of this.openOps.getRange({})) {
      const op = this.ops.get(key);
      if (op && !FINAL_STATES.has(op.state)) out.push(op);
    }
    return out;
  }
}
