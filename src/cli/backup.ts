// `slowdrip backup` and `slowdrip restore`: archive and restore the node identity and the wallet (optionally encrypted).
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import type { RootDatabase } from "lmdb";
import { CliError, type CliIO, type Command } from "./command.ts";
import { BackupError, OPTIONAL_IDENTITY_FILES, applyBackup, createBackup, isSealedArchive, readBackup } from "../identity/backup.ts";
import { KEYPAIR_FILE, readIdentity } from "../identity/identity.ts";
import { SealError, passphraseFromFile } from "../identity/seal.ts";
import { configFlagOptions, loadFromFlags } from "../config/flags.ts";
import { PayWallet } from "../pay/wallet.ts";
import { WalletBackupError, exportWallet, importWallet, parseSnapshot, spentInSnapshot, summarize, walletHoldsValue, type SnapshotSummary } from "../pay/wallet-backup.ts";
import { dbPath, openWalletDb, openWalletDbReadOnly } from "../pay/wallet-db.ts";
import { currentProcess, isRunning, type ProcessIdentity } from "../store/owner.ts";

function dataDirFrom(values: Record<string, unknown>, env: NodeJS.ProcessEnv, cwd: string): string {
  return resolve(cwd, loadFromFlags(values, env, cwd).config["node.data_dir"]);
}

function readPassphrase(file: string | undefined, io: CliIO): string | undefined {
  if (file === undefined) return undefined;
  try {
    return passphraseFromFile(readFileSync(resolve(io.cwd, file), "utf8"));
  } catch (err) {
    throw new CliError(`--passphrase-file ${file}: ${(err as Error).message}`, 2, { cause: err });
  }
}

function walletLine(s: SnapshotSummary): string {
  return `wallet: ${s.sats} sat spendable in ${s.proofs} proofs, ${s.reserved} sat in ${s.openOps} open operations, ${s.pendingSends} unclaimed sent tokens`;
}

/** Runs `fn`, turning the domain errors of archives and wallet snapshots into one-line CLI errors. */
async function cliErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof BackupError || err instanceof WalletBackupError || err instanceof SealError) throw new CliError(err.message, 1, { cause: err });
    throw err;
  }
}

export const backupCommand: Command = {
  name: "backup",
  usage: [
    "usage: slowdrip backup [--data-dir DIR] [--output FILE|DIR] [--passphrase-file FILE]",
    "",
    `Archives DIR/keypair, DIR/admin.token (and ${OPTIONAL_IDENTITY_FILES.map((f) => `DIR/${f}`).join(", ")} when present) and the wallet:`,
    "its proofs, unfinished operations and sent tokens nobody has claimed yet, with a checksummed manifest.",
    "It can run while the node runs. Without --output the archive is written to the current directory, mode 0600.",
    "With --passphrase-file the archive is encrypted (scrypt + XChaCha20-Poly1305) with the passphrase in FILE",
    "(its first line). Without it the archive is plain: whoever reads it has the node's key and can spend its ecash.",
  ].join("\n"),
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...configFlagOptions, output: { type: "string", short: "o" }, "passphrase-file": { type: "string" } },
      allowPositionals: true,
    });
    if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"`, 2);
    const dataDir = dataDirFrom(values, io.env, io.cwd);
    const passphrase = readPassphrase(values["passphrase-file"], io);
    const output = values.output ? resolve(io.cwd, values.output) : io.cwd;
    let snapshot;
    const root = await openWalletDbReadOnly(dataDir);
    try {
      snapshot = root ? exportWallet(root) : undefined;
    } finally {
      await root?.close();
    }
    const wallet = snapshot ? Buffer.from(`${JSON.stringify(snapshot)}\n`) : undefined;
    const made = await cliErrors(() => createBackup(dataDir, { output, ...(wallet ? { wallet } : {}), ...(passphrase !== undefined ? { passphrase } : {}) }));
    io.stdout.write(`${made.path}\nnode id ${made.nodeId}\n${snapshot ? walletLine(summarize(snapshot)) : "wallet: none in this data dir"}\n`);
    if (!made.sealed) {
      io.stderr.write(
        `warning: ${made.path} is not encrypted: it holds the node's private key${snapshot ? " and the wallet's ecash, which is bearer money: whoever reads it can spend it" : ""}. ` +
          "It was written with mode 0600; keep it offline, or make it with --passphrase-file FILE.\n",
      );
    }
    return 0;
  },
};

/** The blob store's ownership record (src/store/lmdb.ts): sub-database "state", key "owner" names the one process using the data dir. */
const OWNER_DB = "state";
const OWNER_KEY = "owner";

/** The running node that owns the data dir, if any (read only). */
function runningOwner(root: RootDatabase): ProcessIdentity | undefined {
  const owner = root.openDB<ProcessIdentity | undefined, string>({ name: OWNER_DB }).get(OWNER_KEY);
  const me = currentProcess();
  return owner && owner.pid !== me.pid && isRunning(owner) ? owner : undefined;
}

function ownedError(owner: ProcessIdentity, dataDir: string): CliError {
  return new CliError(`a node (process ${owner.pid}) is running on ${dataDir}; stop it first (systemctl stop slowdrip), then restore. Nothing was changed.`);
}

/**
 * Takes the data dir's ownership record for this restore, refusing when a running node holds it: a node started while
 * we write is refused in turn, since it checks the same record. Returns a check (for inside the write transaction)
 * and the release.
 */
function claimDataDir(root: RootDatabase, dataDir: string): { stillMine: () => void; release: () => Promise<void> } {
  const me = currentProcess();
  const state = root.openDB<ProcessIdentity | undefined, string>({ name: OWNER_DB });
  root.transactionSync(() => {
    const owner = runningOwner(root);
    if (owner) throw ownedError(owner, dataDir);
    state.putSync(OWNER_KEY, me);
  });
  return {
    stillMine() {
      const owner = state.get(OWNER_KEY);
      if (owner && (owner.pid !== me.pid || owner.start !== me.start)) throw ownedError(owner, dataDir);
    },
    async release() {
      await root.transaction(() => {
        const owner = state.get(OWNER_KEY);
        if (owner && owner.pid === me.pid && owner.start === me.start) state.remove(OWNER_KEY);
      });
    },
  };
}

export const restoreCommand: Command = {
  name: "restore",
  usage: [
    "usage: slowdrip restore FILE [--data-dir DIR] [--passphrase-file FILE] [--merge] [--yes]",
    "",
    "Verifies the whole archive first (an encrypted one needs --passphrase-file); a damaged archive or a wrong",
    "passphrase is refused and nothing is changed. Refused while a node is running on DIR: stop it first.",
    "If DIR already holds an identity, warns and waits 5 seconds before overwriting (skip with --yes).",
    "The wallet is put back in one transaction, and only into a wallet that holds nothing; --merge adds the",
    "backup's proofs to a wallet that holds some, after asking the mints (NUT-07) which of them are already spent.",
  ].join("\n"),
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...configFlagOptions, yes: { type: "boolean", short: "y" }, merge: { type: "boolean" }, "passphrase-file": { type: "string" } },
      allowPositionals: true,
    });
    if (positionals.length !== 1) throw new CliError("expected exactly one archive FILE", 2);
    const file = resolve(io.cwd, positionals[0]!);
    const dataDir = dataDirFrom(values, io.env, io.cwd);
    const passphrase = readPassphrase(values["passphrase-file"], io);
    if (passphrase === undefined && isSealedArchive(file)) throw new CliError(`${file} is encrypted: give its passphrase with --passphrase-file FILE`, 2);
    const backup = await cliErrors(() => readBackup(file, passphrase !== undefined ? { passphrase } : {}));
    const snapshot = backup.wallet ? await cliErrors(async () => parseSnapshot(backup.wallet!)) : undefined;

    // Everything that can refuse runs before anything is written.
    const root = snapshot || existsSync(dbPath(dataDir)) ? await openWalletDb(dataDir) : undefined;
    let claim: ReturnType<typeof claimDataDir> | undefined;
    try {
      const owner = root ? runningOwner(root) : undefined;
      if (owner) throw ownedError(owner, dataDir);
      if (root && snapshot && !values.merge && walletHoldsValue(root)) {
        throw new CliError(`the wallet in ${dataDir} is not empty; restore with --merge to add the backup's proofs to it. Nothing was changed.`);
      }
      if (existsSync(join(dataDir, KEYPAIR_FILE))) {
        let current = "unreadable";
        try {
          current = readIdentity(dataDir).nodeId;
        } catch {
          // An unreadable current keypair is replaced like any other.
        }
        io.stderr.write(`warning: overwriting the identity in ${dataDir} (node id ${current}) with node id ${backup.nodeId} from ${file}\n`);
        if (!values.yes) {
          io.stderr.write("waiting 5 seconds; press Ctrl-C to cancel (use --yes to skip)\n");
          await sleep(5000);
        }
      }
      claim = root ? claimDataDir(root, dataDir) : undefined;
      let walletMsg = "";
      if (root && snapshot) {
        let skip: ReadonlySet<string> | undefined;
        if (values.merge) {
          const wallet = await PayWallet.open({ db: root });
          const checked = await spentInSnapshot(wallet, snapshot);
          for (const m of checked.unreachable) io.stderr.write(`warning: could not ask ${m} which proofs are spent; its proofs are added unchecked (run 'slowdrip wallet balance --check' later)\n`);
          skip = checked.spent;
        }
        const r = await cliErrors(async () => importWallet(root, snapshot, { merge: values.merge ?? false, ...(skip ? { skip } : {}), guard: claim!.stillMine }));
        walletMsg = `${values.merge ? "merged" : "restored"} wallet: ${r.sats} sat spendable in ${r.proofs} proofs, ${r.ops} operations${r.droppedSpent ? `; left out ${r.droppedSpent} sat the mints report spent` : ""}\n`;
      }
      applyBackup(backup, dataDir);
      io.stdout.write(`restored node id ${backup.nodeId} into ${dataDir}\n${walletMsg}`);
      return 0;
    } finally {
      await claim?.release();
      await root?.close();
    }
  },
};
