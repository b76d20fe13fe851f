// The wallet in a backup: a snapshot of proofs, open operations, unclaimed sent tokens and the trust list, and its restore.
import { CheckStateEnum } from "@cashu/cashu-ts";
import type { Database, RootDatabase } from "lmdb";
import { FINAL_STATES, WalletStore, sumStored, type MintRow, type OpRecord, type ProofRow } from "./store.ts";
import type { PayWallet } from "./wallet.ts";

/** What `slowdrip backup` keeps of the wallet (JSON, inside the archive as `wallet.json`). */
export interface WalletSnapshot {
  format: "slowdrip-wallet-v1";
  /** The trust list. */
  mints: MintRow[];
  /** Every proof: spendable (`ready`) or held by an unfinished operation (`reserved`). */
  proofs: ProofRow[];
  /** Unfinished operations (resumed after a restore) and sends whose token nobody is known to have claimed. */
  ops: OpRecord[];
}

/** Counts of a snapshot, for messages and the archive manifest. */
export interface SnapshotSummary {
  proofs: number;
  /** Sats in spendable proofs. */
  sats: number;
  /** Sats held by unfinished operations. */
  reserved: number;
  openOps: number;
  pendingSends: number;
}

/** A wallet snapshot that cannot be used, or a restore that is refused; nothing was changed. */
export class WalletBackupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WalletBackupError";
  }
}

const LIMITS = { mints: 10_000, proofs: 1_000_000, ops: 100_000 } as const;

const isStr = (v: unknown, max = 4096): v is string => typeof v === "string" && v.length > 0 && v.length <= max;
const isAmount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** A sub-database of an environment that may lack it (read-only opens return nothing for a missing name). */
function maybeDb<V, K extends import("lmdb").Key>(root: RootDatabase, name: string): Database<V, K> | undefined {
  try {
    return (root.openDB<V, K>({ name }) as Database<V, K> | undefined) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads the wallet out of an (open, possibly read-only and in use by a running node) LMDB environment. All reads run
 * synchronously in one turn, so they see one snapshot. Returns undefined when the environment holds no wallet.
 */
export function exportWallet(root: RootDatabase): WalletSnapshot | undefined {
  const proofsDb = maybeDb<ProofRow, [string, string]>(root, "pay.proofs");
  const opsDb = maybeDb<OpRecord, string>(root, "pay.ops");
  const mintsDb = maybeDb<MintRow, string>(root, "pay.mints");
  if (!proofsDb && !opsDb && !mintsDb) return undefined;
  const openDb = maybeDb<number, string>(root, "pay.ops.open");
  const sentDb = maybeDb<number, string>(root, "pay.sent");
  const mints = mintsDb ? [...mintsDb.getRange({})].map((e) => e.value) : [];
  const proofs = proofsDb ? [...proofsDb.getRange({})].map((e) => e.value) : [];
  const ids = new Set<string>();
  for (const db of [openDb, sentDb]) if (db) for (const { key } of db.getRange({})) ids.add(key);
  const ops: OpRecord[] = [];
  for (const id of ids) {
    const op = opsDb?.get(id);
    if (op && (!FINAL_STATES.has(op.state) || (op.kind === "send" && op.claim === "unclaimed"))) ops.push(op);
  }
  ops.sort((a, b) => a.createdAt - b.createdAt);
  return { format: "slowdrip-wallet-v1", mints, proofs, ops };
}

/** Counts of a snapshot. */
export function summarize(s: WalletSnapshot): SnapshotSummary {
  const ready = s.proofs.filter((r) => r.state === "ready").map((r) => r.proof);
  const reserved = s.proofs.filter((r) => r.state === "reserved").map((r) => r.proof);
  return {
    proofs: s.proofs.length,
    sats: sumStored(ready),
    reserved: sumStored(reserved),
    openOps: s.ops.filter((o) => !FINAL_STATES.has(o.state)).length,
    pendingSends: s.ops.filter((o) => o.kind === "send" && o.claim === "unclaimed").length,
  };
}

/**
 * Parses and checks `wallet.json` from an archive: its shape, types and sizes, so that nothing malformed reaches the
 * database. @throws WalletBackupError naming what is wrong.
 */
export function parseSnapshot(bytes: Uint8Array): WalletSnapshot {
  let doc: Partial<WalletSnapshot>;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString("utf8")) as Partial<WalletSnapshot>;
  } catch (err) {
    throw new WalletBackupError("wallet.json is not JSON", { cause: err });
  }
  if (doc?.format !== "slowdrip-wallet-v1" || !Array.isArray(doc.mints) || !Array.isArray(doc.proofs) || !Array.isArray(doc.ops)) {
    throw new WalletBackupError("wallet.json is not a slowdrip wallet snapshot");
  }
  if (doc.mints.length > LIMITS.mints || doc.proofs.length > LIMITS.proofs || doc.ops.length > LIMITS.ops) throw new WalletBackupError("wallet.json holds more records than a wallet can");
  doc.mints.forEach((m, i) => {
    if (!isStr(m?.url, 2048) || typeof m.trusted !== "boolean" || !isAmount(m.addedAt)) throw new WalletBackupError(`wallet.json: mint ${i} is malformed`);
  });
  doc.proofs.forEach((r, i) => {
    const p = r?.proof;
    const ok = isStr(r?.mint, 2048) && (r.state === "ready" || (r.state === "reserved" && isStr(r.opId, 128))) && isStr(p?.id, 128) && isAmount(p?.amount) && isStr(p?.secret, 1024) && isStr(p?.C, 200);
    if (!ok) throw new WalletBackupError(`wallet.json: proof ${i} is malformed`);
  });
  const kinds = new Set(["mint", "melt", "send", "receive", "swap"]);
  doc.ops.forEach((o, i) => {
    const ok = isStr(o?.id, 128) && kinds.has(o.kind) && isStr(o.state, 64) && isStr(o.mint, 2048) && isAmount(o.amount) && isAmount(o.createdAt) && isAmount(o.updatedAt);
    if (!ok) throw new WalletBackupError(`wallet.json: operation ${i} is malformed`);
  });
  return doc as WalletSnapshot;
}

/** True when the wallet in `root` holds value: any proof, unfinished operation or unclaimed sent token. */
export function walletHoldsValue(root: RootDatabase): boolean {
  const store = new WalletStore(root);
  for (const _ of store.proofs.getKeys({ limit: 1 })) return true;
  if (store.unfinishedOps().length > 0) return true;
  return store.pendingSends(1).length > 0;
}

/**
 * NUT-07 check of the snapshot's spendable proofs (what `--merge` adds): returns the keys (`mint\nsecret`) of proofs
 * the mints report spent, and the mints that could not be asked (their proofs are added unchecked).
 */
export async function spentInSnapshot(wallet: PayWallet, s: WalletSnapshot): Promise<{ spent: Set<string>; unreachable: string[] }> {
  const spent = new Set<string>();
  const unreachable: string[] = [];
  const byMint = new Map<string, ProofRow[]>();
  for (const r of s.proofs) if (r.state === "ready") byMint.set(r.mint, [...(byMint.get(r.mint) ?? []), r]);
  for (const [mint, rows] of byMint) {
    let st: string[];
    try {
      st = await wallet.proofStates(mint, undefined, rows.map((r) => r.proof));
    } catch {
      unreachable.push(mint);
      continue;
    }
    st.forEach((x, i) => {
      if (x === CheckStateEnum.SPENT) spent.add(`${mint}\n${rows[i]!.proof.secret}`);
    });
  }
  return { spent, unreachable };
}

/** What {@link importWallet} wrote. */
export interface ImportResult {
  proofs: number;
  sats: number;
  ops: number;
  /** Spendable proofs left out because the mint reports them spent. */
  droppedSpent: number;
}

/**
 * Writes a snapshot into the wallet of `root` in one LMDB transaction: all of it or nothing. Without `merge` the
 * wallet must hold no value; with `merge` records already present are kept, and proofs in `skip` (spent at the mint)
 * are left out. `guard` runs inside the transaction first (the caller's ownership check).
 */
export function importWallet(root: RootDatabase, s: WalletSnapshot, opts: { merge?: boolean; skip?: ReadonlySet<string>; guard?: () => void } = {}): ImportResult {
  const store = new WalletStore(root);
  const out: ImportResult = { proofs: 0, sats: 0, ops: 0, droppedSpent: 0 };
  root.transactionSync(() => {
    opts.guard?.();
    if (!opts.merge && walletHoldsValue(root)) throw new WalletBackupError("the wallet here is not empty; restore with --merge to add the backup's proofs to it");
    for (const m of s.mints) if (!store.mints.get(m.url)) store.mints.putSync(m.url, m);
    for (const r of s.proofs) {
      if (store.proofs.get([r.mint, r.proof.secret])) continue;
      if (opts.skip?.has(`${r.mint}\n${r.proof.secret}`)) {
        out.droppedSpent += r.proof.amount;
        continue;
      }
      store.proofs.putSync([r.mint, r.proof.secret], r);
      out.proofs++;
      if (r.state === "ready") out.sats += r.proof.amount;
    }
    for (const op of s.ops) {
      if (store.ops.get(op.id)) continue;
      store.putOp(op);
      if (op.kind === "send" && op.claim === "unclaimed") store.markSent(op);
      out.ops++;
    }
  });
  return out;
}
