// The command table: one line per command; each command lives in its own file.
import type { Command } from "./command.ts";
import { versionCommand } from "./version.ts";
import { updateCommand } from "./update.ts";
import { blobCommand } from "./blob.ts";
import { walletCommand } from "./wallet.ts";
import { configCommand } from "./config.ts";
import { runCommand } from "./run.ts";
import { statusCommand } from "./status.ts";
import { keygenCommand } from "./keygen.ts";
import { backupCommand, restoreCommand } from "./backup.ts";
import { hashCommand } from "./hash.ts";
import { baoCommand } from "./bao.ts";
import { tokenCommand } from "./token.ts";
import { creatorCommand } from "./creator.ts";
import { streamCommand } from "./stream.ts";
import { vrfCommand } from "./vrf.ts";
import { receiptsCommand } from "./receipts.ts";
import { fileCommand } from "./file.ts";
import { filmCommand } from "./film.ts";
import { clusterCommand } from "./cluster.ts";
import { benchCommand } from "./bench.ts";

export const commands: Command[] = [
  runCommand,
  statusCommand,
  blobCommand,
  walletCommand,
  keygenCommand,
  backupCommand,
  restoreCommand,
  configCommand,
  hashCommand,
  baoCommand,
  tokenCommand,
  creatorCommand,
  streamCommand,
  vrfCommand,
  receiptsCommand,
  fileCommand,
  filmCommand,
  clusterCommand,
  benchCommand,
  updateCommand,
  versionCommand,
];
