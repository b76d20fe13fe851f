// Shared helpers of the payment tests: temp LMDB roots and wallets funded at real test mints.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open, type RootDatabase } from "lmdb";
import { PayWallet, type PayWalletOptions } from "../../src/pay/wallet.ts";

/** A temporary LMDB root that is removed by `close()`. */
export interface TempDb {
  dir: string;
  root: RootDatabase;
  close(): Promise<void>;
}

/** Opens a fresh LMDB environment in a temp dir (or in `dir` when given, to reopen after a crash). */
export function tempDb(dir?: string): TempDb {
  const d = dir ?? mkdtempSync(join(tmpdir(), "slowdrip-pay-"));
  const root = open({ path: join(d, "db") });
  return {
    dir: d,
    root,
    async close() {
      await root.close();
      if (!dir) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** Opens a wallet on a fresh temp DB, trusting `mints`. */
export async function tempWallet(mints: readonly string[], opts: Partial<PayWalletOptions> = {}): Promise<{ wallet: PayWallet; db: TempDb }> {
  const db = tempDb();
  const wallet = await PayWallet.open({ db: db.root, trustedMints: mints, quoteWaitMs: 10_000, ...opts });
  return { wallet, db };
}
