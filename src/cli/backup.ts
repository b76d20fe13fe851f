// `slowdrip backup` and `slowdrip restore`: archive and restore the node identity.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { CliError, type Command } from "./command.ts";
import { applyBackup, createBackup, readBackup } from "../identity/backup.ts";
import { KEYPAIR_FILE, readIdentity } from "../identity/identity.ts";
import { configFlagOptions, loadFromFlags } from "../config/flags.ts";

function dataDirFrom(values: Record<string, unknown>, env: NodeJS.ProcessEnv, cwd: string): string {
  return resolve(cwd, loadFromFlags(values, env, cwd).config["node.data_dir"]);
}

export const backupCommand: Command = {
  name: "backup",
  summary: "write the node identity to slowdrip-backup-<UTC timestamp>.tar.gz",
  usage: [
    "usage: slowdrip backup [--data-dir DIR] [--output FILE|DIR]",
    "",
    "Archives DIR/keypair and DIR/admin.token with a checksummed manifest. Without --output the archive is",
    "written to the current directory. Keep it secret: it holds the node's private key.",
  ].join("\n"),
  async run(argv, io) {
    const { values, positionals } = parseArgs({ args: argv, options: { ...configFlagOptions, output: { type: "string", short: "o" } }, allowPositionals: true });
    if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"`, 2);
    const dataDir = dataDirFrom(values, io.env, io.cwd);
    const output = values.output ? resolve(io.cwd, values.output) : io.cwd;
    const { path, nodeId } = await createBackup(dataDir, output);
    io.stdout.write(`${path}\nnode id ${nodeId}\n`);
    return 0;
  },
};

export const restoreCommand: Command = {
  name: "restore",
  summary: "restore the node identity from a backup archive",
  usage: [
    "usage: slowdrip restore FILE [--data-dir DIR] [--yes]",
    "",
    "Verifies the whole archive first; a damaged archive is refused and nothing is changed.",
    "If DIR already holds an identity, warns and waits 5 seconds before overwriting (skip with --yes).",
    "Stop the node before restoring.",
  ].join("\n"),
  async run(argv, io) {
    const { values, positionals } = parseArgs({ args: argv, options: { ...configFlagOptions, yes: { type: "boolean", short: "y" } }, allowPositionals: true });
    if (positionals.length !== 1) throw new CliError("expected exactly one archive FILE", 2);
    const file = resolve(io.cwd, positionals[0]!);
    const dataDir = dataDirFrom(values, io.env, io.cwd);
    const backup = await readBackup(file);
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
    applyBackup(backup, dataDir);
    io.stdout.write(`restored node id ${backup.nodeId} into ${dataDir}\n`);
    return 0;
  },
};
