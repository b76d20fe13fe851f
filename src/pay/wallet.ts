// Cashu wallet on cashu-ts: proofs per mint in LMDB, trust list, and crash-safe mint/melt/send/receive state machines.
import { randomUUID } from "node:crypto";
import type { RootDatabase } from "lmdb";
import { CheckStateEnum, OutputData, Wallet as CashuWallet, type Proof } from "@cashu/cashu-ts";
import { MintCallError, OpPendingError, OpStateError, PayError, UntrustedMintError } from "./errors.ts";
import { Ledger } from "./ledger.ts";
import {
  FINAL_STATES,
  WalletStore,
  fromStored,
  sumStored,
  type MintRow,
  type OpKind,
  type OpRecord,
  type PayContext,
  type StoredOutput,
  type StoredProof,
} from "./store.ts";
import { mintUrl, swapOrRestore } from "./wallet-common.ts";
import * as lightning from "./wallet-lightning.ts";
import * as receiving from "./wallet-receive.ts";
import * as sending from "./wallet-send.ts";

export { mintUrl };
export { tokenKey, type ReceiveExpectation, type ReceiveResult } from "./wallet-receive.ts";
export type { SendResult } from "./wallet-send.ts";

/** Minimal structured logger (pino-compatible). */
export interface PayLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

const silentLogger: PayLogger = { info() {}, warn() {}, debug() {} };

/** Options for {@link PayWallet.open}. */
export interface PayWalletOptions {
  /** The node's opened LMDB root; the wallet uses sub-databases named `pay.*`. */
  db: RootDatabase;
  /** Mints trusted from config; merged into the stored trust list on open. */
  trustedMints?: readonly string[];
  /** Currency unit of every keyset used (default "sat"). */
  unit?: string;
  logger?: PayLogger;
  /** How long to wait for a mint quote to be paid before reporting `pending` (default 30 s). */
  quoteWaitMs?: number;
  /** Largest token (sum of proofs) that `receive` accepts (default 10,000,000). */
  maxTokenAmount?: number;
  /** Largest number of proofs in a token that `receive` accepts (default 256). */
  maxTokenProofs?: number;
  /** Timeout for each mint HTTP request (default 20 s). */
  requestTimeoutMs?: number;
}

/** True when an error (or one of its causes) is a reset or closed pooled connection. */
export function isConnectionReset(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c && depth < 6; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (code === "UND_ERR_SOCKET" || code === "ECONNRESET" || code === "EPIPE" || code === "UND_ERR_CLOSED") return true;
    if (c instanceof Error && /other side closed/i.test(c.message)) return true;
  }
  return false;
}

/**
 * The node's Cashu wallet. Every operation that touches a mint is an {@link OpRecord} written to LMDB before each
 * network call that can move value, so {@link PayWallet.resume} finishes or unwinds it after a crash: inputs are
 * checked with NUT-07, outputs the mint already signed are recovered with NUT-09 restore from the stored
 * blinded messages, and quote ids make sure nothing is paid or claimed twice. The flows live in wallet-lightning.ts
 * (mint, melt), wallet-send.ts and wallet-receive.ts; the methods here that drive them delegate, and the building
 * blocks they share (op records, claims, the per-mint lock, reservation, NUT-07 checks, NUT-09 restore) stay here.
 */
export class PayWallet {
  readonly store: WalletStore;
  readonly ledger: Ledger;
  readonly unit: string;
  readonly log: PayLogger;
  /** Option values the flows read (see {@link PayWalletOptions}). */
  readonly quoteWaitMs: number;
  readonly maxTokenAmount: number;
  readonly maxTokenProofs: number;
  private readonly requestTimeoutMs: number;
  private readonly wallets = new Map<string, Promise<CashuWallet>>();
  private readonly resumers = new Map<OpKind, (op: OpRecord) => Promise<OpRecord>>();
  private readonly running = new Set<string>();
  private readonly locks = new Map<string, Promise<void>>();

  private constructor(opts: PayWalletOptions) {
    this.store = new WalletStore(opts.db);
    this.ledger = new Ledger(opts.db);
    this.unit = opts.unit ?? "sat";
    this.log = opts.logger ?? silentLogger;
    this.quoteWaitMs = opts.quoteWaitMs ?? 30_000;
    this.maxTokenAmount = opts.maxTokenAmount ?? 10_000_000;
    this.maxTokenProofs = opts.maxTokenProofs ?? 256;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 20_000;
  }

  /** Opens the wallet on the node's LMDB root and merges the configured trust list. Does not touch the network. */
  static async open(opts: PayWalletOptions): Promise<PayWallet> {
    if (!opts || typeof opts.db?.openDB !== "function") throw new TypeError("PayWalletOptions.db must be an opened lmdb RootDatabase");
    const w = new PayWallet(opts);
    for (const m of opts.trustedMints ?? []) await w.trustMint(m);
    return w;
  }

  /** Registers the resume handler of another operation kind (swap.ts registers "swap"). */
  registerResumer(kind: OpKind, fn: (op: OpRecord) => Promise<OpRecord>): void {
    this.resumers.set(kind, fn);
  }

  // ---- trust list -------------------------------------------------------------------------------------------------

  /** Adds a mint to the trust list. */
  async trustMint(url: string): Promise<MintRow> {
    const u = mintUrl(url);
    const row: MintRow = { url: u, trusted: true, addedAt: this.store.mints.get(u)?.addedAt ?? Date.now() };
    await this.store.mints.put(u, row);
    return row;
  }

  /** Removes a mint from the trust list (its proofs stay and can still be spent or melted). */
  async untrustMint(url: string): Promise<void> {
    const u = mintUrl(url);
    const row = this.store.mints.get(u);
    if (row) await this.store.mints.put(u, { ...row, trusted: false });
  }

  /** True when the mint is on the trust list. */
  isTrusted(url: string): boolean {
    return this.store.mints.get(mintUrl(url))?.trusted === true;
  }

  /** Known mints (trusted or not, and any mint we hold proofs on) with balances. */
  listMints(): Array<MintRow & { balance: number }> {
    const bal = this.balances();
    const rows = new Map<string, MintRow>();
    for (const { value } of this.store.mints.getRange({})) rows.set(value.url, value);
    for (const m of Object.keys(bal)) if (!rows.has(m)) rows.set(m, { url: m, trusted: false, addedAt: 0 });
    return [...rows.values()].map((r) => ({ ...r, balance: bal[r.url] ?? 0 }));
  }

  /** The normalized URL of a trusted mint. @throws UntrustedMintError when it is not on the trust list. */
  requireTrusted(url: string): string {
    const u = mintUrl(url);
    if (!this.isTrusted(u)) throw new UntrustedMintError(u);
    return u;
  }

  // ---- balances -------------------------------------------------------------------------------------------------------

  /** Spendable balance per mint (proofs held by in-flight operations are not counted). */
  balances(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.store.allProofRows()) if (r.state === "ready") out[r.mint] = (out[r.mint] ?? 0) + r.proof.amount;
    return out;
  }

  /** Spendable balance on one mint. */
  balance(url: string): number {
    const u = mintUrl(url);
    return sumStored(this.store.proofRows(u).filter((r) => r.state === "ready").map((r) => r.proof));
  }

  /** Balance held by unfinished operations per mint. */
  reservedBalances(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.store.allProofRows()) if (r.state === "reserved") out[r.mint] = (out[r.mint] ?? 0) + r.proof.amount;
    return out;
  }

  // ---- cashu-ts wallets per mint -----------------------------------------------------------------------------------------

  /** A loaded cashu-ts wallet for the mint (keysets and info fetched once per process). */
  async cashu(url: string): Promise<CashuWallet> {
    const u = mintUrl(url);
    let p = this.wallets.get(u);
    if (!p) {
      p = (async () => {
        const w = new CashuWallet(u, { unit: this.unit });
        await this.call(u, "load keysets", undefined, () => w.loadMint());
        return w;
      })();
      this.wallets.set(u, p);
      p.catch(() => this.wallets.delete(u));
    }
    return p;
  }

  /** Runs a mint call with a timeout, wrapping failures in MintCallError. */
  async call<T>(mint: string, what: string, opId: string | undefined, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          fn(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${this.requestTimeoutMs} ms`)), this.requestTimeoutMs);
          }),
        ]);
      } catch (e) {
        if (e instanceof PayError) throw e;
        // A pooled connection the mint closed while we reused it never carried the request: retry on a fresh one.
        // Every call here is safe to repeat: the operation records make a repeated swap/mint/melt resolve to its
        // first outcome (outputs already signed -> restore, quote already paid -> settle).
        if (attempt < 2 && isConnectionReset(e)) continue;
        throw new MintCallError(mint, what, opId, e);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  // ---- operations: records ----------------------------------------------------------------------------------------

  /** One operation by id. */
  getOp(id: string): OpRecord | undefined {
    return this.store.ops.get(id);
  }

  /** Operations, newest first (bounded). */
  listOps(opts: { kind?: OpKind; unfinished?: boolean; limit?: number } = {}): OpRecord[] {
    const limit = opts.limit ?? 1000;
    const out: OpRecord[] = [];
    const source = opts.unfinished ? this.store.unfinishedOps() : this.store.ops.getRange({}).map(({ value }) => value);
    for (const value of source) {
      if (opts.kind && value.kind !== opts.kind) continue;
      out.push(value);
    }
    out.sort((a, b) => b.createdAt - a.createdAt);
    return out.slice(0, limit);
  }

  /** Creates a new operation record (not yet written). */
  newOp(kind: OpKind, mint: string, amount: number, state: string, extra: Partial<OpRecord> = {}): OpRecord {
    const now = Date.now();
    return { id: `${kind}-${randomUUID()}`, kind, state, mint, amount, createdAt: now, updatedAt: now, ...extra };
  }

  /** Writes an operation record, together with optional proof and ledger changes, in one LMDB transaction. */
  commit(op: OpRecord, changes?: () => void): OpRecord {
    op.updatedAt = Date.now();
    this.store.root.transactionSync(() => {
      this.store.putOp(op);
      changes?.();
    });
    return op;
  }

  /**
   * Marks an operation as driven by the caller, synchronously (call it in the same turn as the commit that creates
   * the record, so that no resume can pick the record up in between). Returns the release function.
   * @throws OpPendingError when something in this process already drives it.
   */
  claim(opId: string): () => void {
    if (this.running.has(opId)) throw new OpPendingError(opId, this.getOp(opId)?.state ?? "?", `operation ${opId} is already running`);
    this.running.add(opId);
    return () => this.running.delete(opId);
  }

  /**
   * Runs `fn` for an operation unless it is already running in this process: one driver per operation, so that a
   * background {@link resume} never drives an operation a caller is driving (swap.ts runs every swap through this).
   */
  async exclusive<T>(opId: string, fn: () => Promise<T>): Promise<T> {
    const release = this.claim(opId);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  // ---- selection ------------------------------------------------------------------------------------------------------

  /** Serializes proof selection per mint so that two operations never pick the same proofs. */
  async withMintLock<T>(mint: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(mint) ?? Promise.resolve();
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const chained = prev.then(() => next);
    this.locks.set(mint, chained);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(mint) === chained) this.locks.delete(mint);
    }
  }

  /** The spendable proofs on a mint. */
  readyProofs(mint: string): StoredProof[] {
    return this.store.proofRows(mint).filter((r) => r.state === "ready").map((r) => r.proof);
  }

  /** Writes the op and reserves its inputs in one transaction, after checking they are still spendable. */
  reserveFor(op: OpRecord, inputs: readonly StoredProof[]): void {
    this.store.root.transactionSync(() => {
      for (const p of inputs) {
        const row = this.store.proofs.get([op.mint, p.secret]);
        if (!row || row.state !== "ready") throw new OpStateError(op.id, `proof ${p.secret.slice(0, 8)}... is no longer spendable`);
      }
      op.updatedAt = Date.now();
      this.store.putOp(op);
      this.store.reserve(op.mint, inputs, op.id);
    });
  }

  /** Recovers the proofs for stored outputs that the mint already signed (NUT-09 restore). */
  async restoreOutputs(w: CashuWallet, mint: string, opId: string, outputs: readonly StoredOutput[]): Promise<Proof[]> {
    if (outputs.length === 0) return [];
    const od = outputs.map((o) => OutputData.deserialize(o));
    const res = await this.call(mint, "restore", opId, () => w.mint.restore({ outputs: od.map((o) => o.blindedMessage) }));
    const sigByB = new Map<string, (typeof res.signatures)[number]>();
    res.outputs.forEach((o, i) => {
      const s = res.signatures[i];
      if (s) sigByB.set(o.B_, s);
    });
    const proofs: Proof[] = [];
    for (const o of od) {
      const sig = sigByB.get(o.blindedMessage.B_);
      if (sig) proofs.push(o.toProof(sig, w.getKeyset(sig.id)));
    }
    return proofs;
  }

  /** NUT-07 states (UNSPENT, PENDING, SPENT) of stored proofs at their mint, in order. */
  async proofStates(url: string, opId: string | undefined, proofs: readonly StoredProof[]): Promise<string[]> {
    const mint = mintUrl(url);
    return this.states(await this.cashu(mint), mint, opId, proofs);
  }

  /** NUT-07 states of stored proofs. */
  async states(w: CashuWallet, mint: string, opId: string | undefined, proofs: readonly StoredProof[]): Promise<string[]> {
    const st = await this.call(mint, "check proof states", opId, () => w.checkProofsStates(proofs.map(fromStored)));
    return st.map((s) => s.state);
  }

  // ---- mint and melt (wallet-lightning.ts) ---------------------------------------------------------------------------------------

  /** Asks the mint for a bolt11 mint quote and records it: see {@link lightning.createMintQuote}. */
  createMintQuote(url: string, amount: number): Promise<OpRecord> {
    return lightning.createMintQuote(this, url, amount);
  }

  /** Claims the proofs of a paid mint quote: see {@link lightning.completeMint}. */
  completeMint(opId: string): Promise<OpRecord> {
    return lightning.completeMint(this, opId);
  }

  /** The whole mint flow: see {@link lightning.mint}. */
  mint(url: string, amount: number): Promise<OpRecord> {
    return lightning.mint(this, url, amount);
  }

  /** Mint phase shared by mint and swap: see {@link lightning.runMintPhase}. */
  runMintPhase(op: OpRecord, crashOp: string, finalState: string, waitMs?: number): Promise<void> {
    return lightning.runMintPhase(this, op, crashOp, finalState, waitMs);
  }

  /** Asks the mint for a melt quote for a bolt11 invoice and records it: see {@link lightning.createMeltQuote}. */
  createMeltQuote(url: string, invoice: string, kind?: OpKind, extra?: Partial<OpRecord>): Promise<OpRecord> {
    return lightning.createMeltQuote(this, url, invoice, kind, extra);
  }

  /** Pays a melt quote from the wallet: see {@link lightning.completeMelt}. */
  completeMelt(opId: string): Promise<OpRecord> {
    return lightning.completeMelt(this, opId);
  }

  /** Quote and pay a bolt11 invoice under a fee cap: see {@link lightning.melt}. */
  melt(url: string, invoice: string, opts?: { maxFee?: number }): Promise<OpRecord> {
    return lightning.melt(this, url, invoice, opts);
  }

  /** Melt phase shared by melt and swap: see {@link lightning.runMeltPhase}. */
  runMeltPhase(op: OpRecord, crashOp: string, finalState: string, refusedState?: string): Promise<void> {
    return lightning.runMeltPhase(this, op, crashOp, finalState, refusedState);
  }

  // ---- send and receive (wallet-send.ts, wallet-receive.ts) ----------------------------------------------------------------------

  /** Makes a token worth exactly `amount` after the receiver's redeem fee: see {@link sending.send}. */
  send(amount: number, opts?: { mint?: string; ctx?: PayContext; signal?: AbortSignal }): Promise<sending.SendResult> {
    return sending.send(this, amount, opts);
  }

  /** Reads a token's mint, unit, amount and key without touching the network: see {@link receiving.inspectToken}. */
  inspectToken(token: string): { mint: string; unit: string; amount: number; key: string } {
    return receiving.inspectToken(token);
  }

  /** Redeems a token at its mint after checking it: see {@link receiving.receive}. */
  receive(token: string, opts?: { expect?: receiving.ReceiveExpectation; ctx?: PayContext; replay?: boolean }): Promise<receiving.ReceiveResult> {
    return receiving.receive(this, token, opts);
  }

  /** Swaps proofs someone handed us for fresh ones, once per set of proofs: see {@link receiving.redeem}. */
  redeem(mint: string, proofs: readonly Proof[], opts?: { ctx?: PayContext; replay?: boolean; reclaimOf?: string }): Promise<receiving.ReceiveResult> {
    return receiving.redeem(this, mint, proofs, opts);
  }

  /** The redemption of the proofs with this {@link receiving.tokenKey}, if this wallet ever started one. */
  redemptionOf(key: string): OpRecord | undefined {
    return receiving.redemptionOf(this, key);
  }

  // ---- checks and resume ------------------------------------------------------------------------------------------------------------

  /** NUT-07 check of the spendable proofs on a mint; drops proofs the mint reports spent. */
  async checkProofs(url: string): Promise<{ unspent: number; pending: number; spent: number }> {
    const mint = mintUrl(url);
    const w = await this.cashu(mint);
    const rows = this.store.proofRows(mint).filter((r) => r.state === "ready");
    const out = { unspent: 0, pending: 0, spent: 0 };
    if (rows.length === 0) return out;
    const st = await this.states(w, mint, undefined, rows.map((r) => r.proof));
    const spent: StoredProof[] = [];
    st.forEach((s, i) => {
      const p = rows[i]!.proof;
      if (s === CheckStateEnum.SPENT) {
        out.spent += p.amount;
        spent.push(p);
      } else if (s === CheckStateEnum.PENDING) out.pending += p.amount;
      else out.unspent += p.amount;
    });
    if (spent.length) this.store.root.transactionSync(() => this.store.drop(mint, spent));
    return out;
  }

  /**
   * Finishes or unwinds every unfinished operation (call at startup). Operations waiting on a payment stay
   * unfinished and are reported with their state.
   */
  async resume(): Promise<OpRecord[]> {
    const out: OpRecord[] = [];
    for (const op of this.listOps({ unfinished: true }).reverse()) {
      try {
        // The listed copy may be stale by now (another driver may have moved it on): work on the stored record.
        out.push(
          await this.exclusive(op.id, async () => {
            const cur = this.getOp(op.id) ?? op;
            return FINAL_STATES.has(cur.state) ? cur : this.resumeOne(cur);
          }),
        );
      } catch (e) {
        this.log.warn({ op: op.id, state: op.state, err: (e as Error).message }, "resume: operation not finished");
        out.push(this.getOp(op.id) ?? op);
      }
    }
    return out;
  }

  private async resumeOne(op: OpRecord): Promise<OpRecord> {
    this.log.info({ op: op.id, kind: op.kind, state: op.state }, "resuming operation");
    switch (op.kind) {
      case "mint":
        // Resume checks an unpaid quote once instead of waiting for it.
        if (op.state === "quoted" || op.state === "minting") await this.runMintPhase(op, "mint", "done", 0);
        return op;
      case "melt":
        // `quoted` waits for an explicit completeMelt; `paying` and `melting` were already under way.
        if (op.state === "paying" || op.state === "melting") await this.runMeltPhase(op, "melt", "done");
        return op;
      case "send":
        // An unfinished send never handed its token out (that happens only after `done` is committed), so resume
        // gives the value back instead of minting a token nobody will ever see.
        if (op.state === "exact") {
          this.commit(Object.assign(op, { state: "failed", error: "interrupted before the token was handed out; inputs released" }), () => this.store.release(op.mint, op.swapInputs!));
        } else if (op.state === "swapping") {
          const w = await this.cashu(op.mint);
          const proofs = await swapOrRestore(this, w, op, op.swapInputs!, [...(op.sendOutputs ?? []), ...(op.keepOutputs ?? [])], { resuming: true });
          // Interrupted before the swap: unwind.
          if (!proofs) this.commit(Object.assign(op, { state: "failed", error: "interrupted before the swap; inputs released" }), () => this.store.release(op.mint, op.swapInputs!));
          else sending.keepInterruptedSplit(this, op, proofs, "interrupted after the split");
        }
        return op;
      case "receive":
        if (op.state === "swapping") await receiving.runReceiveSwap(this, op, true);
        return op;
      default: {
        const fn = this.resumers.get(op.kind);
        if (!fn) throw new OpStateError(op.id, `no resume handler for ${op.kind}`);
        return fn(op);
      }
    }
  }
}
