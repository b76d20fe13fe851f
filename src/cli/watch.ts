// `slowdrip stream watch URL`: the headless viewer - verifies and plays a live stream, signs a receipt per segment.
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { decodeKeypair, encodeKeypair, identityFromSecret, writeSecretFile, type Identity } from "../identity/identity.ts";
import { randomSecret } from "../identity/ed25519.ts";
import { ViewerError, watchStream } from "../proofs/viewer.ts";
import { CliError, type CliIO } from "./command.ts";

/** Usage lines of `stream watch`. */
export const watchUsage = [
  "       slowdrip stream watch URL --creator PUBKEY [--key FILE] [--segments N] [--node ID] [--buffer N] [--no-receipts]",
  "",
  "watch verifies the stream like 'verify', then plays it from the live edge like a player: it reloads the signed",
  "manifest, fetches each new segment, checks its size, BLAKE3 and SHA-256, and posts a service receipt signed with",
  "the viewer key to URL/receipts. --key FILE uses that keypair file, creating it (0600) when missing; without it a",
  "fresh key is used. --segments N stops after N segments (default: until the stream ends or Ctrl-C); --node names",
  "the serving node in receipts (default: the manifest's node); --buffer N segments ahead before pacing (default 3).",
  "Prints one JSON line per segment (ttfb_us, total_us, deadline_miss, jitter_us, receipt) and a summary line.",
].join("\n");

function viewerKey(file: string | undefined, cwd: string): { id: Identity; created: boolean; file?: string } {
  if (file === undefined) return { id: identityFromSecret(randomSecret()), created: true };
  const path = resolve(cwd, file);
  if (existsSync(path)) return { id: decodeKeypair(readFileSync(path, "utf8"), path), created: false, file: path };
  const id = identityFromSecret(randomSecret());
  writeSecretFile(path, encodeKeypair(id));
  return { id, created: true, file: path };
}

/** Runs `stream watch` with its arguments (after "watch"). */
export async function runWatch(base: string, argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      creator: { type: "string" },
      key: { type: "string" },
      segments: { type: "string" },
      node: { type: "string" },
      buffer: { type: "string" },
      "no-receipts": { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  if (!values.creator || !/^[0-9a-f]{64}$/.test(values.creator)) throw new CliError("--creator must be the creator's public key (64 lowercase hex)", 2);
  if (values.node !== undefined && !/^[0-9a-f]{64}$/.test(values.node)) throw new CliError("--node must be a node id (64 lowercase hex)", 2);
  const count = (v: string | undefined, flag: string, max: number) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new CliError(`--${flag} must be an integer 1-${max}`, 2);
    return n;
  };
  const segments = count(values.segments, "segments", 10_000_000);
  const buffer = count(values.buffer, "buffer", 100);
  const key = viewerKey(values.key, io.cwd);
  const line = (o: unknown) => io.stdout.write(`${JSON.stringify(o)}\n`);
  line({ event: "viewer", viewer: key.id.nodeId, key_file: key.file ?? null, created: key.created });
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await watchStream({
      base,
      creator: values.creator,
      viewerSecret: key.id.secretKey,
      ...(values.node ? { node: values.node } : {}),
      ...(segments ? { segments } : {}),
      ...(buffer ? { buffer } : {}),
      receipts: !values["no-receipts"],
      log: line,
      signal: stop.signal,
    });
    return 0;
  } catch (err) {
    if (err instanceof ViewerError) throw new CliError(err.message, 1);
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
