// `slowdrip token issue`: issues an EdDSA JWT granting publish or read on a MediaMTX path, signed by the node or an operator key.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { CliError, type Command } from "./command.ts";
import { decodeKeypair, readIdentity } from "../identity/identity.ts";
import { parseDuration } from "../config/units.ts";
import { configFlagOptions, loadFromFlags } from "../config/flags.ts";
import { issueToken, MAX_PATH_LENGTH, type MediaAction } from "../media/jwt.ts";

export const tokenCommand: Command = {
  name: "token",
  usage: [
    "usage: slowdrip token issue --action publish|read --path PATH [--ttl 1h] [--key FILE] [--node ID] [--json] [--config FILE] [--data-dir DIR]",
    "",
    "Prints a JWT whose mediamtx_permissions claim grants ACTION on PATH until now + TTL (default 1h, at most 366d).",
    "It is signed by the node key in <node.data_dir>/keypair (from --data-dir, SLOWDRIP_NODE_DATA_DIR or the config",
    "file, like every other command), or by an operator keypair FILE whose public key is",
    "listed in node.operator_keys. Use it as ?token=JWT on RTMP/RTSP URLs, or as 'Authorization: Bearer JWT' for HLS/WebRTC.",
    "PATH may be '' (any path) or '~regex'. The token names the node it is for (its `aud` claim): the node in DIR, or",
    "--node ID (needed with --key when DIR holds no node); another node refuses it.",
  ].join("\n"),
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        action: { type: "string" },
        path: { type: "string" },
        ...configFlagOptions,
        ttl: { type: "string", default: "1h" },
        key: { type: "string" },
        node: { type: "string" },
        json: { type: "boolean", default: false },
      },
      allowPositionals: true,
    });
    if (positionals[0] !== "issue" || positionals.length !== 1) throw new CliError("expected: slowdrip token issue --action ... --path ...", 2);
    const action = values.action as MediaAction;
    if (action !== "publish" && action !== "read") throw new CliError("--action must be publish or read", 2);
    if (values.path === undefined) throw new CliError("--path PATH is required ('' for any path)", 2);
    if (values.path.length > MAX_PATH_LENGTH) throw new CliError(`--path is longer than ${MAX_PATH_LENGTH} chars`, 2);
    let ttlMs: number;
    try {
      ttlMs = parseDuration(values.ttl);
    } catch (e) {
      throw new CliError(`--ttl: ${(e as Error).message}`, 2);
    }
    const ttlSeconds = Math.round(ttlMs / 1000);
    if (ttlSeconds < 1 || ttlSeconds > 366 * 86_400) throw new CliError("--ttl must be between 1s and 366d", 2);
    let identity;
    const dataDir = () => resolve(io.cwd, loadFromFlags(values, io.env, io.cwd).config["node.data_dir"]);
    try {
      identity = values.key ? decodeKeypair(readFileSync(resolve(io.cwd, values.key), "utf8"), values.key) : readIdentity(dataDir());
    } catch (e) {
      throw new CliError((e as Error).message, 1, { cause: e });
    }
    let audience = values.node;
    if (audience !== undefined && !/^[0-9a-f]{64}$/.test(audience)) throw new CliError("--node must be a node id (64 lowercase hex characters)", 2);
    if (audience === undefined) {
      try {
        audience = values.key ? readIdentity(dataDir()).nodeId : identity.nodeId;
      } catch {
        throw new CliError("--node ID is required with --key when the data dir holds no node: the token must name the node it is for", 2);
      }
    }
    const now = Math.floor(Date.now() / 1000);
    const token = issueToken({ secretKey: identity.secretKey, issuer: identity.nodeId, audience, permissions: [{ action, path: values.path }], ttlSeconds, now });
    io.stdout.write(values.json ? `${JSON.stringify({ token, action, path: values.path, expires: new Date((now + ttlSeconds) * 1000).toISOString(), key: identity.nodeId })}\n` : `${token}\n`);
    return 0;
  },
};
