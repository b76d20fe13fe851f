// `slowdrip creator keygen|delegate`: a creator key, and the delegation letting a node sign a stream's manifests.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CliError, type Command } from "./command.ts";
import { decodeKeypair, encodeKeypair, identityFromSecret, writeSecretFile } from "../identity/identity.ts";
import { randomSecret } from "../identity/ed25519.ts";
import { parseDuration } from "../config/units.ts";
import { signAnnounce, signDelegation } from "../stream/manifest.ts";

const HEX64 = /^[0-9a-f]{64}$/;

/** "2027-01-01T00:00:00Z" or a duration from now ("30d"), as Unix seconds. */
function parseWhen(s: string, flag: string, now: number): number {
  if (/^\d{4}-\d{2}-\d{2}/.test(s)) {
    const t = Date.parse(s);
    if (Number.isNaN(t)) throw new CliError(`${flag}: '${s}' is not an ISO 8601 time`, 2);
    return Math.floor(t / 1000);
  }
  try {
    return now + Math.round(parseDuration(s) / 1000);
  } catch {
    throw new CliError(`${flag}: '${s}' is neither an ISO 8601 time nor a duration like 30d`, 2);
  }
}

export const creatorCommand: Command = {
  name: "creator",
  usage: [
    "usage: slowdrip creator keygen --output FILE [--json]",
    "       slowdrip creator delegate --key FILE --node NODE_ID --stream S --until T [--from T] [--output FILE]",
    "       slowdrip creator announce --key FILE --stream S [--title T] [--origin URL]... [--tracker URL]... --output-dir DIR",
    "",
    "keygen    writes a new Ed25519 creator keypair to FILE (mode 0600) and prints its public key.",
    "delegate  prints (or writes) a STREAM_DELEGATION signed by the creator key in FILE: node NODE_ID (64 hex) may",
    "          sign MANIFEST_ROOT for stream S ('*' for all) from --from (default now) until --until. Times are",
    "          ISO 8601 (2027-01-01T00:00:00Z) or durations from now (30d). Point the node's live.delegation at it.",
    "announce  writes DIR/<stream>.json, a STREAM_ANNOUNCE signed by the creator key (rendition 'source':",
    "          index.m3u8 + manifest.json); point the node's live.announce_dir at DIR.",
  ].join("\n"),
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        output: { type: "string", short: "o" },
        key: { type: "string" },
        node: { type: "string" },
        stream: { type: "string" },
        until: { type: "string" },
        from: { type: "string" },
        json: { type: "boolean", default: false },
        title: { type: "string" },
        origin: { type: "string", multiple: true },
        tracker: { type: "string", multiple: true },
        "output-dir": { type: "string" },
      },
      allowPositionals: true,
    });
    const sub = positionals[0];
    if (positionals.length !== 1) throw new CliError("expected one subcommand: keygen or delegate", 2);
    if (sub === "keygen") {
      if (!values.output) throw new CliError("--output FILE is required", 2);
      const path = resolve(io.cwd, values.output);
      if (existsSync(path)) throw new CliError(`${path} already exists; not overwriting`);
      const id = identityFromSecret(randomSecret());
      writeSecretFile(path, encodeKeypair(id));
      io.stdout.write(values.json ? `${JSON.stringify({ creator: id.nodeId, path })}\n` : `${id.nodeId}\n`);
      return 0;
    }
    if (sub === "delegate") {
      if (!values.key) throw new CliError("--key FILE (the creator keypair) is required", 2);
      if (!values.node || !HEX64.test(values.node)) throw new CliError("--node must be the node id (64 lowercase hex)", 2);
      if (!values.stream || values.stream.length > 256) throw new CliError("--stream S is required (1-256 chars, or '*')", 2);
      if (!values.until) throw new CliError("--until T is required", 2);
      let creator;
      try {
        creator = decodeKeypair(readFileSync(resolve(io.cwd, values.key), "utf8"), values.key);
      } catch (e) {
        throw new CliError((e as Error).message, 1, { cause: e });
      }
      const now = Math.floor(Date.now() / 1000);
      const notBefore = values.from ? parseWhen(values.from, "--from", now) : now;
      const notAfter = parseWhen(values.until, "--until", now);
      if (notAfter <= notBefore) throw new CliError("--until must be later than --from", 2);
      const d = signDelegation(
        { type: "STREAM_DELEGATION", v: 1, stream: values.stream, creator: creator.nodeId, node: values.node, notBefore, notAfter },
        creator.secretKey,
      );
      const text = `${JSON.stringify(d, null, 2)}\n`;
      if (values.output) {
        writeFileSync(resolve(io.cwd, values.output), text, { mode: 0o644 });
        io.stdout.write(`${resolve(io.cwd, values.output)}\n`);
      } else {
        io.stdout.write(text);
      }
      return 0;
    }
    if (sub === "announce") {
      if (!values.key) throw new CliError("--key FILE (the creator keypair) is required", 2);
      if (!values.stream || values.stream.length > 256 || values.stream === "*") throw new CliError("--stream S is required (1-256 chars)", 2);
      if (!values["output-dir"]) throw new CliError("--output-dir DIR is required", 2);
      const urls = [...(values.origin ?? []), ...(values.tracker ?? [])];
      for (const u of urls) if (!/^(https?|wss?):\/\/\S+$/.test(u) || u.length > 2048) throw new CliError(`'${u}' is not an http(s)/ws(s) URL`, 2);
      let creator;
      try {
        creator = decodeKeypair(readFileSync(resolve(io.cwd, values.key), "utf8"), values.key);
      } catch (e) {
        throw new CliError((e as Error).message, 1, { cause: e });
      }
      const a = signAnnounce({
        type: "STREAM_ANNOUNCE",
        v: 1,
        stream: values.stream,
        title: values.title ?? values.stream,
        creator: creator.nodeId,
        renditions: [{ name: "source", playlist: "index.m3u8", manifest: "manifest.json" }],
        origins: values.origin ?? [],
        trackers: values.tracker ?? [],
        issuedAt: Math.floor(Date.now() / 1000),
      }, creator.secretKey);
      const dir = resolve(io.cwd, values["output-dir"]);
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${encodeURIComponent(values.stream)}.json`);
      writeFileSync(file, `${JSON.stringify(a, null, 2)}\n`, { mode: 0o644 });
      io.stdout.write(`${file}\n`);
      return 0;
    }
    throw new CliError(`unknown subcommand '${sub}' (expected keygen, delegate or announce)`, 2);
  },
};
