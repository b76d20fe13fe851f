// `slowdrip keygen --output DIR`: creates a new node keypair and prints the node id.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CliError, type Command } from "./command.ts";
import { KEYPAIR_FILE, loadOrCreateIdentity } from "../identity/identity.ts";

export const keygenCommand: Command = {
  name: "keygen",
  usage: [
    "usage: slowdrip keygen --output DIR [--json]",
    "",
    "Writes DIR/keypair (mode 0600) with a new Ed25519 key and prints the node id (hex public key).",
    "Refuses to overwrite an existing keypair.",
  ].join("\n"),
  async run(argv, io) {
    const { values, positionals } = parseArgs({ args: argv, options: { output: { type: "string", short: "o" }, json: { type: "boolean" } }, allowPositionals: true });
    if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"`, 2);
    if (!values.output) throw new CliError("--output DIR is required", 2);
    const dir = resolve(io.cwd, values.output);
    if (existsSync(join(dir, KEYPAIR_FILE))) throw new CliError(`${join(dir, KEYPAIR_FILE)} already exists; not overwriting`);
    const { identity } = loadOrCreateIdentity(dir);
    io.stdout.write(values.json ? `${JSON.stringify({ node_id: identity.nodeId, did_key: identity.didKey, path: join(dir, KEYPAIR_FILE) })}\n` : `${identity.nodeId}\n`);
    return 0;
  },
};
