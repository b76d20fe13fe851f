// Cashu wallet on cashu-ts: proofs per mint in LMDB, trust list, and crash-safe mint/melt/send/receive state machines.
import { createHash, randomUUID } from "node:crypto";
import type { RootDatabase } from "lmdb";
import {
  Amount,
  CheckStateEnum,
  MeltQuoteState,
  MintQuoteState,
  OutputData,
  Wallet as CashuWallet,
  getEncodedToken,
  getTokenMetadata,
  normalizeMintUrl,
  type MeltQuoteBolt11Response,
  type MintQuoteBolt11Response,
  type OutputDataLike,
  type Proof,
  type Token,
} from "@cashu/cashu-ts";
import {
  InsufficientFundsError,
  MintCallError,
  OpPendingError,
  OpStateError,
  PayError,
  TokenError,
  UntrustedMintError,
} from "./errors.ts";
import { crashPoint } from "./fault.ts";
import { Ledger } from "./ledger.ts";
import {
  FINAL_STATES,
  WalletStore,
  fromStored,
  sumStored,
  toStored,
  type MintRow,
  type OpKind,
  type OpRecord,
  type PayContext,
  type StoredOutput,
  type StoredProof,
} from "./store.ts";

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

/** Result of a send: the token and what it cost. */
export interface SendResult {
  opId: string;
  mint: string;
  token: string;
  amount: number;
  fee: number;
}

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

function toOutputs(list: readonly OutputDataLike[] | undefined): StoredOutput[] {
  return (list ?? []).map((o) => OutputData.serialize(o));
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
 * The identity of a set of proofs: sha256 over their sorted secrets (32 hex chars). The same proofs give the same key
 * whatever the token's encoding, so it names a token's redemption and the session a token paid for.
 */
export function tokenKey(secrets: readonly string[]): string {
  return createHash("sha256").update([...secrets].sort().join("\n")).digest("hex").slice(0, 32);
}

function receiveResult(op: OpRecord): ReceiveResult {
  return { opId: op.id, mint: op.mint, amount: op.amount, fee: op.fee ?? 0, credited: op.credited ?? 0 };
}

/** A proof as sent to a mint: without the DLEQ proof. */
function wireProof(p: StoredProof): Proof {
  return { id: p.id, amount: Amount.from(p.amount), secret: p.secret, C: p.C };
}

function positiveInt(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

/**
 * The node's Cashu wallet. Every operation that touches a mint is an {@link OpRecord} written to LMDB before each
 * network call that can move value, so {@link PayWallet.resume} finishes or unwinds it after a crash: inputs are
 * checked with NUT-07, outputs the mint already signed are recovered with NUT-09 restore from the stored
 * blinded messages, and quote ids make sure nothing is paid or claimed twice.
 */
export class PayWallet {
  readonly store: WalletStore;
  readonly ledger: Ledger;
  readonly unit: string;
  readonly log: PayLogger;
  private readonly quoteWaitMs: number;
  private readonly maxTokenAmount: number;
  private readonly maxTokenProofs: number;
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

  private requireTrusted(url: string): string {
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
  private claim(opId: string): () => void {
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
  private async withMintLock<T>(mint: string, fn: () => Promise<T>): Promise<T> {
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

  private readyProofs(mint: string): StoredProof[] {
    return this.store.proofRows(mint).filter((r) => r.state === "ready").map((r) => r.proof);
  }

  /** Writes the op and reserves its inputs in one transaction, after checking they are still spendable. */
  private reserveFor(op: OpRecord, inputs: readonly StoredProof[]): void {
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
  private async restoreOutputs(w: CashuWallet, mint: string, opId: string, outputs: readonly StoredOutput[]): Promise<Proof[]> {
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
  private async states(w: CashuWallet, mint: string, opId: string | undefined, proofs: readonly StoredProof[]): Promise<string[]> {
    const st = await this.call(mint, "check proof states", opId, () => w.checkProofsStates(proofs.map(fromStored)));
    return st.map((s) => s.state);
  }

  // ---- mint ---------------------------------------------------------------------------------------------------------------------

  /** Asks the mint for a bolt11 mint quote and records it (state `quoted`); pay the invoice, then call {@link completeMint}. */
  async createMintQuote(url: string, amount: number): Promise<OpRecord> {
    positiveInt("amount", amount);
    const mint = this.requireTrusted(url);
    const w = await this.cashu(mint);
    // A crash before the record is written loses only an unpaid quote, never value.
    const q: MintQuoteBolt11Response = await this.call(mint, "mint quote", undefined, () => w.createMintQuoteBolt11(amount));
    const op = this.newOp("mint", mint, amount, "quoted", {
      mintQuote: { mint, quote: q.quote, request: q.request, amount, expiry: q.expiry ?? null },
    });
    this.commit(op);
    crashPoint("mint", "quoted");
    return op;
  }

  /** Claims the proofs of a paid mint quote (waits up to `quoteWaitMs` for payment). Safe to call again after a crash. */
  async completeMint(opId: string): Promise<OpRecord> {
    return this.exclusive(opId, async () => {
      const op = this.getOp(opId);
      if (!op || op.kind !== "mint") throw new OpStateError(opId, `no mint operation ${opId}`);
      if (FINAL_STATES.has(op.state)) return op;
      await this.runMintPhase(op, "mint", "done");
      return op;
    });
  }

  /** Quote, wait for payment (FakeWallet/Lightning), and claim: the whole mint flow. */
  async mint(url: string, amount: number): Promise<OpRecord> {
    const op = await this.createMintQuote(url, amount);
    return this.completeMint(op.id);
  }

  /**
   * Mint phase shared by mint and swap: waits for the quote to be paid, stores outputs, asks for signatures, credits
   * the proofs and moves the op to `finalState`. Resumable at every step.
   */
  async runMintPhase(op: OpRecord, crashOp: string, finalState: string, waitMs = this.quoteWaitMs): Promise<void> {
    const mq = op.mintQuote;
    if (!mq) throw new OpStateError(op.id, `operation ${op.id} has no mint quote`);
    const w = await this.cashu(mq.mint);
    if (!op.mintOutputs) {
      const deadline = Date.now() + waitMs;
      let q = await this.call(mq.mint, "check mint quote", op.id, () => w.checkMintQuoteBolt11(mq.quote));
      while (q.state === MintQuoteState.UNPAID && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        q = await this.call(mq.mint, "check mint quote", op.id, () => w.checkMintQuoteBolt11(mq.quote));
      }
      if (q.state === MintQuoteState.UNPAID) {
        if (mq.expiry !== null && mq.expiry > 0 && mq.expiry * 1000 < Date.now() && op.kind === "mint") {
          // Expired unpaid: nothing was paid, nothing to claim.
          this.commit(Object.assign(op, { state: "aborted", error: `mint quote ${mq.quote} expired unpaid` }));
          throw new OpStateError(op.id, `mint quote ${mq.quote} at ${mq.mint} expired unpaid`);
        }
        throw new OpPendingError(op.id, op.state, `mint quote ${mq.quote} at ${mq.mint} is not paid yet`);
      }
      if (q.state === MintQuoteState.ISSUED) {
        // We never sent outputs for this quote, so someone else claimed it.
        this.commit(Object.assign(op, { state: "failed", error: `mint quote ${mq.quote} was issued to other outputs` }));
        throw new OpStateError(op.id, `mint quote ${mq.quote} at ${mq.mint} was already issued`);
      }
      const preview = await w.prepareMint("bolt11", mq.amount, q);
      op.mintOutputs = toOutputs(preview.outputData);
      op.state = "minting";
      this.commit(op);
      crashPoint(crashOp, "mint-outputs-saved");
    }
    const od = op.mintOutputs.map((o) => OutputData.deserialize(o));
    let proofs: Proof[];
    try {
      const res = await this.call(mq.mint, "mint", op.id, () =>
        w.mint.mintBolt11({ quote: mq.quote, outputs: od.map((o) => o.blindedMessage) }),
      );
      if (res.signatures.length !== od.length) throw new Error(`mint returned ${res.signatures.length} signatures for ${od.length} outputs`);
      proofs = od.map((o, i) => o.toProof(res.signatures[i]!, w.getKeyset(res.signatures[i]!.id)));
      crashPoint(crashOp, "mint-sent");
    } catch (e) {
      // Maybe the mint signed before we crashed or lost the answer: the quote is ISSUED, our outputs are restorable.
      const q = await this.call(mq.mint, "check mint quote", op.id, () => w.checkMintQuoteBolt11(mq.quote));
      if (q.state !== MintQuoteState.ISSUED) throw e;
      proofs = await this.restoreOutputs(w, mq.mint, op.id, op.mintOutputs);
      if (proofs.length === 0) {
        this.commit(Object.assign(op, { state: "failed", error: `quote ${mq.quote} issued, but not to our outputs` }));
        throw new OpStateError(op.id, `mint quote ${mq.quote} at ${mq.mint} was issued to other outputs`);
      }
    }
    const stored = proofs.map(toStored);
    const credited = sumStored(stored);
    this.commit(Object.assign(op, { state: finalState, credited: (op.credited ?? 0) + credited }), () => {
      this.store.addReady(mq.mint, stored);
      this.ledger.recordSync({ time: Date.now(), direction: "in", kind: op.kind, amount: credited, mint: mq.mint, opId: op.id, ...op.ctx });
    });
    this.log.info({ op: op.id, mint: mq.mint, amount: credited }, "minted");
    crashPoint(crashOp, "minted");
  }

  // ---- melt ---------------------------------------------------------------------------------------------------------------------

  /** Asks the mint for a melt quote for a bolt11 invoice and records it (state `quoted`). */
  async createMeltQuote(url: string, invoice: string, kind: OpKind = "melt", extra: Partial<OpRecord> = {}): Promise<OpRecord> {
    if (typeof invoice !== "string" || invoice.length === 0 || invoice.length > 8192) throw new TypeError("invoice must be a bolt11 string");
    const mint = mintUrl(url);
    const w = await this.cashu(mint);
    const q: MeltQuoteBolt11Response = await this.call(mint, "melt quote", undefined, () => w.createMeltQuoteBolt11(invoice));
    const amount = Amount.from(q.amount).toNumber();
    const op = this.newOp(kind, mint, amount, "quoted", {
      ...extra,
      meltQuote: { mint, quote: q.quote, request: invoice, amount, feeReserve: Amount.from(q.fee_reserve).toNumber() },
    });
    this.commit(op);
    crashPoint(kind, "melt-quoted");
    return op;
  }

  /** Pays a melt quote from the wallet. Safe to call again after a crash: a quote is never paid twice. */
  async completeMelt(opId: string): Promise<OpRecord> {
    return this.exclusive(opId, async () => {
      const op = this.getOp(opId);
      if (!op || op.kind !== "melt") throw new OpStateError(opId, `no melt operation ${opId}`);
      if (FINAL_STATES.has(op.state)) return op;
      await this.runMeltPhase(op, "melt", "done");
      return op;
    });
  }

  /** Quote and pay a bolt11 invoice; refuses when the fee reserve plus input fees exceed `maxFee`. */
  async melt(url: string, invoice: string, opts: { maxFee?: number } = {}): Promise<OpRecord> {
    const op = await this.createMeltQuote(url, invoice);
    const fee = op.meltQuote!.feeReserve;
    if (opts.maxFee !== undefined && fee > opts.maxFee) {
      this.commit(Object.assign(op, { state: "aborted", error: `fee reserve ${fee} above cap ${opts.maxFee}` }));
      throw new PayError("fee-cap", `fee reserve ${fee} sat is above the cap of ${opts.maxFee} sat`);
    }
    // The caller asked to pay: from here a restart pays it too.
    this.commit(Object.assign(op, { state: "paying" }));
    return this.completeMelt(op.id);
  }

  /**
   * Melt phase shared by melt and swap: reserves inputs, stores them with NUT-08 change outputs, pays, then settles
   * change. On resume it reads the quote state: PAID settles, UNPAID with unspent inputs retries, PENDING waits.
   * When the mint refuses the payment and the inputs are still unspent, the op moves to `refusedState`.
   */
  async runMeltPhase(op: OpRecord, crashOp: string, finalState: string, refusedState = "quoted"): Promise<void> {
    const mq = op.meltQuote;
    if (!mq) throw new OpStateError(op.id, `operation ${op.id} has no melt quote`);
    const w = await this.cashu(mq.mint);
    if (!op.meltInputs) {
      const q0 = await this.call(mq.mint, "check melt quote", op.id, () => w.checkMeltQuoteBolt11(mq.quote));
      if (q0.state !== MeltQuoteState.UNPAID) throw new OpStateError(op.id, `melt quote ${mq.quote} is ${q0.state}, expected UNPAID`);
      await this.withMintLock(mq.mint, async () => {
        const need = mq.amount + mq.feeReserve;
        const ready = this.readyProofs(mq.mint);
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
        this.reserveFor(op, op.meltInputs);
      });
      crashPoint(crashOp, "melt-prepared");
    }
    const inputs = op.meltInputs!;
    const outputs = op.meltOutputs ?? [];
    let q = await this.call(mq.mint, "check melt quote", op.id, () => w.checkMeltQuoteBolt11(mq.quote));
    if (q.state === MeltQuoteState.UNPAID) {
      const st = await this.states(w, mq.mint, op.id, inputs);
      if (st.some((s) => s === CheckStateEnum.SPENT)) {
        // Inputs gone but quote unpaid: the payment failed after spending; nothing to claim.
        this.commit(Object.assign(op, { state: "failed", error: "inputs spent but quote unpaid" }), () => this.store.drop(mq.mint, inputs));
        throw new OpStateError(op.id, `melt ${mq.quote}: inputs spent but quote unpaid`);
      }
      let refusal: unknown;
      try {
        const od = outputs.map((o) => OutputData.deserialize(o));
        q = await this.call(mq.mint, "melt", op.id, () =>
          w.mint.meltBolt11({ quote: mq.quote, inputs: inputs.map(wireProof), outputs: od.map((o) => o.blindedMessage) }),
        );
      } catch (e) {
        refusal = e;
        q = await this.call(mq.mint, "check melt quote", op.id, () => w.checkMeltQuoteBolt11(mq.quote));
      }
      if (q.state === MeltQuoteState.UNPAID) {
        // The mint refused, or the Lightning payment failed: if the inputs are still unspent nothing was paid, so
        // release them; `refusedState` says what happens next (a melt keeps its quote for another try, a swap aborts).
        const after = await this.states(w, mq.mint, op.id, inputs);
        const why = refusal instanceof Error ? refusal.message : "the Lightning payment failed";
        if (after.every((s) => s === CheckStateEnum.UNSPENT)) {
          this.commit(Object.assign(op, { state: refusedState, meltInputs: undefined, meltOutputs: undefined, error: why }), () => this.store.release(mq.mint, inputs));
          throw new PayError("payment-failed", `melt ${mq.quote} at ${mq.mint} was not paid: ${why}`, { cause: refusal });
        }
        if (refusal) throw refusal;
        throw new OpPendingError(op.id, op.state, `melt quote ${mq.quote} at ${mq.mint} is unpaid while its inputs are pending`);
      }
    }
    crashPoint(crashOp, "melt-sent");
    if (q.state === MeltQuoteState.PENDING) throw new OpPendingError(op.id, op.state, `melt quote ${mq.quote} at ${mq.mint} is pending`);
    if (q.state !== MeltQuoteState.PAID) throw new OpStateError(op.id, `melt quote ${mq.quote} in unexpected state ${q.state}`);
    const change = (await this.restoreOutputs(w, mq.mint, op.id, outputs)).map(toStored);
    const changeSum = sumStored(change);
    const spent = sumStored(inputs) - changeSum;
    this.commit(Object.assign(op, { state: finalState, fee: (op.fee ?? 0) + (spent - mq.amount), preimage: q.payment_preimage ?? null }), () => {
      this.store.drop(mq.mint, inputs);
      this.store.addReady(mq.mint, change);
      this.ledger.recordSync({ time: Date.now(), direction: "out", kind: op.kind, amount: spent, mint: mq.mint, opId: op.id, ...op.ctx });
    });
    this.log.info({ op: op.id, mint: mq.mint, amount: mq.amount, spent }, "melted");
    crashPoint(crashOp, "melted");
  }

  // ---- send -----------------------------------------------------------------------------------------------------------------------

  /**
   * Makes a token worth exactly `amount` after the receiver's redeem fee (fees included), from `mint` or the mint with
   * the largest balance. Uses an exact set of proofs when one exists, else splits at the mint (a persisted swap).
   * The token stays on the pending list (see sent.ts) until it is found claimed or is reclaimed. When `signal` is
   * aborted before anything is reserved nothing happens; when it is aborted while the token is being made, nobody
   * can have received it, so its proofs go straight back to the wallet and the call fails with the abort reason.
   */
  async send(amount: number, opts: { mint?: string; ctx?: PayContext; signal?: AbortSignal } = {}): Promise<SendResult> {
    positiveInt("amount", amount);
    opts.signal?.throwIfAborted();
    let mint: string;
    if (opts.mint) mint = mintUrl(opts.mint);
    else {
      const bal = Object.entries(this.balances()).sort((a, b) => b[1] - a[1]);
      if (!bal[0]) throw new InsufficientFundsError("(any mint)", amount, 0);
      mint = bal[0][0];
    }
    const w = await this.cashu(mint);
    const op = this.newOp("send", mint, amount, "swapping", opts.ctx ? { ctx: opts.ctx } : {});
    let release: (() => void) | undefined;
    const exact = await this.withMintLock(mint, async () => {
      opts.signal?.throwIfAborted();
      const ready = this.readyProofs(mint);
      const available = sumStored(ready);
      // Exact offline match: proofs summing to amount + the receiver's fee for them.
      try {
        const { send } = w.selectProofsToSend(ready.map(fromStored), amount, true, true);
        const sel = send.map(toStored);
        if (sel.length > 0 && sumStored(sel) === amount + Amount.from(w.getFeesForProofs(send)).toNumber()) {
          op.swapInputs = sel;
          op.state = "exact";
          this.reserveFor(op, sel);
          release = this.claim(op.id);
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
      this.reserveFor(op, op.swapInputs);
      // Claimed in the same turn as the commit, so that a background resume never drives this send too.
      release = this.claim(op.id);
      return undefined;
    });
    try {
      crashPoint("send", "prepared");
      if (exact) this.finishExactSend(op);
      else {
        const outputs = [...op.sendOutputs!, ...op.keepOutputs!];
        const proofs = (await this.swapOrRestore(w, op, op.swapInputs!, outputs))!;
        if (proofs.length !== outputs.length) {
          this.keepInterruptedSplit(op, proofs, `the mint restored ${proofs.length} of ${outputs.length} outputs`);
          throw new PayError("partial-restore", `send ${op.id}: the mint restored only ${proofs.length} of ${outputs.length} outputs; what it restored is back in the wallet`);
        }
        this.finishSwapSend(op, proofs);
      }
    } finally {
      release?.();
    }
    if (opts.signal?.aborted) {
      // The caller is gone and the token was never handed out: nobody else knows these secrets.
      this.unsend(op);
      opts.signal.throwIfAborted();
    }
    return this.sendResult(op);
  }

  private finishExactSend(op: OpRecord): void {
    const sendProofs = op.swapInputs!;
    const token = getEncodedToken({ mint: op.mint, unit: this.unit, proofs: sendProofs.map(fromStored) });
    this.commit(Object.assign(op, { state: "done", token, fee: 0, sentProofs: sendProofs, claim: "unclaimed" as const }), () => {
      this.store.drop(op.mint, sendProofs);
      this.store.markSent(op);
      this.ledger.recordSync({ time: Date.now(), direction: "out", kind: op.ctx?.service ? "payment" : "send", amount: sumStored(sendProofs), mint: op.mint, opId: op.id, ...op.ctx });
    });
    crashPoint("send", "done");
  }

  private finishSwapSend(op: OpRecord, proofs: Proof[]): void {
    const inputs = op.swapInputs!;
    const sendSecrets = new Set((op.sendOutputs ?? []).map((o) => new TextDecoder().decode(OutputData.deserialize(o).secret)));
    const sendProofs = proofs.filter((p) => sendSecrets.has(p.secret)).map(toStored);
    const keepProofs = proofs.filter((p) => !sendSecrets.has(p.secret)).map(toStored);
    const token = getEncodedToken({ mint: op.mint, unit: this.unit, proofs: sendProofs.map(fromStored) });
    const fee = sumStored(inputs) - sumStored(proofs.map(toStored));
    this.commit(Object.assign(op, { state: "done", token, fee, sentProofs: sendProofs, claim: "unclaimed" as const }), () => {
      this.store.drop(op.mint, inputs);
      this.store.addReady(op.mint, keepProofs);
      this.store.markSent(op);
      this.ledger.recordSync({ time: Date.now(), direction: "out", kind: op.ctx?.service ? "payment" : "send", amount: sumStored(sendProofs), mint: op.mint, opId: op.id, ...op.ctx });
      if (fee > 0) this.ledger.recordSync({ time: Date.now(), direction: "out", kind: "fee", amount: fee, mint: op.mint, opId: op.id });
    });
    crashPoint("send", "done");
  }

  /**
   * A split that finished at the mint but whose token was never handed out (interrupted, or only partly restored):
   * every output the mint signed goes back to the wallet, the inputs are dropped, and the op ends `aborted`.
   */
  private keepInterruptedSplit(op: OpRecord, proofs: Proof[], why: string): void {
    const inputs = op.swapInputs!;
    const back = proofs.map(toStored);
    const fee = sumStored(inputs) - sumStored(back);
    this.commit(Object.assign(op, { state: "aborted", fee, error: `${why}; no token was handed out, the value is back in the wallet` }), () => {
      this.store.drop(op.mint, inputs);
      this.store.addReady(op.mint, back);
      if (fee > 0) this.ledger.recordSync({ time: Date.now(), direction: "out", kind: "fee", amount: fee, mint: op.mint, opId: op.id });
    });
    this.log.warn({ op: op.id, mint: op.mint, kept: sumStored(back), fee }, `send interrupted: ${why}`);
  }

  /** Takes back a token this process made but never handed out: its proofs return as spendable, no mint call. */
  private unsend(op: OpRecord): void {
    const proofs = op.sentProofs ?? [];
    this.commit(Object.assign(op, { claim: "reclaimed" as const, reclaimed: sumStored(proofs), error: "the caller went away before the token was handed out" }), () => {
      this.store.addReady(op.mint, proofs);
      this.store.unmarkSent(op.id);
      this.ledger.recordSync({ time: Date.now(), direction: "in", kind: "reclaim", amount: sumStored(proofs), mint: op.mint, opId: op.id });
    });
  }

  private sendResult(op: OpRecord): SendResult {
    return { opId: op.id, mint: op.mint, token: op.token!, amount: op.amount, fee: op.fee ?? 0 };
  }

  /**
   * Swaps `inputs` for `outputs` at the mint, or, if a previous attempt already did, restores the signatures (NUT-09).
   * With `resuming`, it first checks the inputs (NUT-07) and returns undefined when they were never spent, so the
   * caller decides between retrying and unwinding. Inputs spent by someone else fail the op with `already-spent`.
   * After a restore the answer may hold fewer proofs than `outputs` (the mint signed only some): callers keep them.
   */
  private async swapOrRestore(w: CashuWallet, op: OpRecord, inputs: StoredProof[], outputs: StoredOutput[], opts: { resuming?: boolean } = {}): Promise<Proof[] | undefined> {
    const od = outputs.map((o) => OutputData.deserialize(o));
    if (opts.resuming) {
      const st = await this.states(w, op.mint, op.id, inputs);
      if (st.every((s) => s === CheckStateEnum.UNSPENT)) return undefined;
      if (st.some((s) => s === CheckStateEnum.PENDING)) throw new OpPendingError(op.id, op.state, "inputs are pending at the mint");
      const restored = await this.restoreOutputs(w, op.mint, op.id, outputs);
      if (restored.length === 0) {
        // Inputs were spent, but not by our swap.
        this.commit(Object.assign(op, { state: "failed", error: "inputs spent elsewhere" }), () => this.store.drop(op.mint, inputs));
        throw new TokenError("already-spent", "token already spent");
      }
      // A partial restore is still value: the caller keeps what came back (fewer proofs than outputs).
      if (restored.length < od.length) this.log.warn({ op: op.id, mint: op.mint, restored: restored.length, outputs: od.length }, "NUT-09 restore returned only part of the outputs");
      return restored;
    }
    try {
      const res = await this.call(op.mint, "swap", op.id, () =>
        w.mint.swap({ inputs: inputs.map(wireProof), outputs: od.map((o) => o.blindedMessage) }),
      );
      if (res.signatures.length !== od.length) throw new Error(`mint returned ${res.signatures.length} signatures for ${od.length} outputs`);
      const proofs = od.map((o, i) => o.toProof(res.signatures[i]!, w.getKeyset(res.signatures[i]!.id)));
      crashPoint(op.kind, "swap-sent");
      return proofs;
    } catch (e) {
      // Find out what happened before deciding.
      const st = await this.states(w, op.mint, op.id, inputs);
      if (st.every((s) => s === CheckStateEnum.UNSPENT)) {
        this.commit(Object.assign(op, { state: "failed", error: (e as Error).message }), () => this.store.release(op.mint, inputs));
        throw e;
      }
      return this.swapOrRestore(w, op, inputs, outputs, { resuming: true });
    }
  }

  // ---- receive --------------------------------------------------------------------------------------------------------------------

  /**
   * Reads a token's mint, unit, amount and {@link tokenKey} without touching the network; throws TokenError on garbage.
   */
  inspectToken(token: string): { mint: string; unit: string; amount: number; key: string } {
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
  async receive(token: string, opts: { expect?: ReceiveExpectation; ctx?: PayContext; replay?: boolean } = {}): Promise<ReceiveResult> {
    const meta = this.inspectToken(token);
    const allowed = opts.expect?.mints?.map(mintUrl);
    if (allowed ? !allowed.includes(meta.mint) : !this.isTrusted(meta.mint)) throw new TokenError("untrusted-mint", `mint ${meta.mint} is not accepted`);
    if (!this.isTrusted(meta.mint)) throw new TokenError("untrusted-mint", `mint ${meta.mint} is not trusted`);
    if (meta.unit !== this.unit) throw new TokenError("wrong-unit", `token unit ${meta.unit} is not ${this.unit}`);
    if (meta.amount <= 0) throw new TokenError("bad-token", "token is empty");
    if (meta.amount > this.maxTokenAmount) throw new TokenError("token-too-large", `token amount ${meta.amount} above ${this.maxTokenAmount}`);
    const w = await this.cashu(meta.mint);
    let decoded: Token;
    try {
      decoded = w.decodeToken(token);
    } catch (e) {
      throw new TokenError("bad-token", `cannot decode token: ${(e as Error).message}`, { cause: e });
    }
    if (decoded.proofs.length === 0 || decoded.proofs.length > this.maxTokenProofs) throw new TokenError("bad-token", `token must hold 1..${this.maxTokenProofs} proofs`);
    for (const p of decoded.proofs) {
      if (typeof p.secret !== "string" || p.secret.length > 1024 || typeof p.C !== "string" || p.C.length > 200) throw new TokenError("bad-token", "malformed proof");
      let ks;
      try {
        ks = w.getKeyset(p.id);
      } catch {
        throw new TokenError("wrong-unit", `proof keyset ${p.id} is not a keyset of ${meta.mint}`);
      }
      if (ks.unit !== this.unit) throw new TokenError("wrong-unit", `proof keyset ${p.id} is a ${ks.unit} keyset, not ${this.unit}`);
    }
    const fee = Amount.from(w.getFeesForProofs(decoded.proofs)).toNumber();
    const credited = meta.amount - fee;
    if (opts.expect?.minCredited !== undefined && credited < opts.expect.minCredited) {
      throw new TokenError("underpaid", `token is worth ${credited} sat after the ${fee} sat fee, ${opts.expect.minCredited} sat required`);
    }
    if (credited <= 0) throw new TokenError("underpaid", `token does not cover its redeem fee of ${fee} sat`);
    return this.redeem(meta.mint, decoded.proofs, { ...(opts.ctx ? { ctx: opts.ctx } : {}), ...(opts.replay ? { replay: true } : {}) });
  }

  /**
   * Swaps proofs someone handed us (a received token, or our own unclaimed token taken back) for fresh ones at their
   * mint. The op id is derived from the proofs ({@link tokenKey}), so the same proofs are never redeemed twice by this
   * wallet: presenting them again is refused, or with `replay` answered with the first redemption's result (finishing
   * it first when it is still in flight). `reclaimOf` names the send whose token this takes back (ledger kind "reclaim").
   */
  async redeem(mint: string, proofs: readonly Proof[], opts: { ctx?: PayContext; replay?: boolean; reclaimOf?: string } = {}): Promise<ReceiveResult> {
    const w = await this.cashu(mint);
    const inputs = proofs.map(toStored);
    const amount = sumStored(inputs);
    const fee = Amount.from(w.getFeesForProofs([...proofs])).toNumber();
    const id = `receive-${tokenKey(inputs.map((p) => p.secret))}`;
    const seen = this.redemptionOf(id.slice("receive-".length));
    if (seen) {
      if (!opts.replay) throw new TokenError("already-spent", "token was already presented to this node");
      return receiveResult(await this.replayRedeem(seen));
    }
    const op = this.newOp("receive", mint, amount, "swapping", { id, swapInputs: inputs, fee, ...(opts.ctx ? { ctx: opts.ctx } : {}), ...(opts.reclaimOf ? { reclaimOf: opts.reclaimOf } : {}) });
    let preview;
    try {
      preview = await w.prepareSwapToReceive(proofs.map((p) => ({ ...p })));
    } catch (e) {
      throw new TokenError("bad-token", `token rejected: ${(e as Error).message}`, { cause: e });
    }
    op.keepOutputs = toOutputs(preview.keepOutputs);
    const fresh = this.store.root.transactionSync(() => {
      if (this.store.ops.get(id)) return false;
      this.store.putOp(op);
      return true;
    });
    if (!fresh) {
      if (!opts.replay) throw new TokenError("already-spent", "token was already presented to this node");
      return receiveResult(await this.replayRedeem(this.store.ops.get(id)!));
    }
    crashPoint("receive", "swap-prepared");
    return receiveResult(await this.exclusive(op.id, () => this.runReceiveSwap(op)));
  }

  /** The redemption of the proofs with this {@link tokenKey}, if this wallet ever started one. */
  redemptionOf(key: string): OpRecord | undefined {
    return this.store.ops.get(`receive-${key}`);
  }

  /** The outcome of an earlier redemption of the same proofs: done as is, in flight finished now, failed refused. */
  private async replayRedeem(seen: OpRecord): Promise<OpRecord> {
    if (seen.state === "done") return seen;
    if (FINAL_STATES.has(seen.state)) throw new TokenError("already-spent", `token was already presented to this node (${seen.error ?? seen.state})`);
    return this.exclusive(seen.id, async () => {
      const cur = this.getOp(seen.id) ?? seen;
      return cur.state === "done" ? cur : this.runReceiveSwap(cur, true);
    });
  }

  private async runReceiveSwap(op: OpRecord, resuming = false): Promise<OpRecord> {
    const w = await this.cashu(op.mint);
    const inputs = op.swapInputs!;
    let proofs: Proof[] | undefined;
    try {
      proofs = await this.swapOrRestore(w, op, inputs, op.keepOutputs ?? [], { resuming });
      // Resuming and the swap never happened: do it now.
      if (!proofs) proofs = await this.swapOrRestore(w, op, inputs, op.keepOutputs ?? []);
    } catch (e) {
      // Mint unreachable: keep the op in flight so resume() finishes it; the payer is told to retry later.
      if (e instanceof MintCallError && !FINAL_STATES.has(this.getOp(op.id)?.state ?? "")) throw e;
      // A refused token moved no value: drop its record, so that junk tokens cannot fill the disk.
      this.store.root.transactionSync(() => this.store.deleteOp(op.id));
      if (e instanceof TokenError) throw e;
      const msg = (e as Error).message;
      throw new TokenError(/spent|pending/i.test(msg) ? "already-spent" : "redeem-failed", `mint refused the token: ${msg}`, { cause: e });
    }
    const stored = proofs!.map(toStored);
    const credited = sumStored(stored);
    this.commit(Object.assign(op, { state: "done", credited, fee: op.amount - credited }), () => {
      this.store.addReady(op.mint, stored);
      this.ledger.recordSync({ time: Date.now(), direction: "in", kind: op.reclaimOf ? "reclaim" : op.ctx?.service ? "payment" : "receive", amount: credited, mint: op.mint, opId: op.id, ...op.ctx });
    });
    this.log.info({ op: op.id, mint: op.mint, credited }, "received");
    crashPoint("receive", "done");
    return op;
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
          const proofs = await this.swapOrRestore(w, op, op.swapInputs!, [...(op.sendOutputs ?? []), ...(op.keepOutputs ?? [])], { resuming: true });
          // Interrupted before the swap: unwind.
          if (!proofs) this.commit(Object.assign(op, { state: "failed", error: "interrupted before the swap; inputs released" }), () => this.store.release(op.mint, op.swapInputs!));
          else this.keepInterruptedSplit(op, proofs, "interrupted after the split");
        }
        return op;
      case "receive":
        if (op.state === "swapping") await this.runReceiveSwap(op, true);
        return op;
      default: {
        const fn = this.resumers.get(op.kind);
        if (!fn) throw new OpStateError(op.id, `no resume handler for ${op.kind}`);
        return fn(op);
      }
    }
  }
}
