// `slowdrip hash`: b3sum-style BLAKE3 of files or stdin (multi-core for large inputs), optionally writing a Bao outboard.
import { describeAccessDenied } from "../node/permission.ts";
import { readFile, stat, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { CliError, type Command } from "./command.ts";
import {
  baoOutboard, concatBytes, createDeriveKeyHasher, createHasher, createKeyedHasher, fromHex, hashFileParallel, hashStreamParallel, toHex,
  type Blake3Hasher,
} from "../wasm/index.ts";

/** Largest file `--outboard` reads into memory. */
const MAX_OUTBOARD_INPUT = 4 * 1024 ** 3;

export const hashCommand: Command = {
  name: "hash",
  usage: [
    "usage: slowdrip hash [--keyed KEYHEX] [--derive-key CONTEXT] [--length N] [--outboard OUT] FILE...",
    "",
    "Prints '<hex>  <file>' for each FILE ('-' reads stdin), like b3sum. Large inputs are hashed on all cores.",
    "  --keyed KEYHEX        keyed hash with a 32-byte key given as 64 hex characters",
    "  --derive-key CONTEXT  derive a key from each file's content under the context string",
    "  --length N            output N bytes (extendable output; default 32)",
    "  --outboard OUT        also write the standard Bao outboard of the (single) FILE to OUT (plain hash only)",
  ].join("\n"),
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        keyed: { type: "string" },
        "derive-key": { type: "string" },
        length: { type: "string" },
        outboard: { type: "string" },
      },
      allowPositionals: true,
    });
    if (positionals.length === 0) throw new CliError("no FILE given (use - for stdin)", 2);
    if (values.keyed !== undefined && values["derive-key"] !== undefined) throw new CliError("--keyed and --derive-key exclude each other", 2);
    let length = 32;
    if (values.length !== undefined) {
      if (!/^\d+$/.test(values.length) || Number(values.length) < 1 || Number(values.length) > 1 << 20) {
        throw new CliError(`--length must be an integer in 1..${1 << 20}, got "${values.length}"`, 2);
      }
      length = Number(values.length);
    }
    let key: Uint8Array | null = null;
    if (values.keyed !== undefined) {
      try {
        key = fromHex(values.keyed);
      } catch {
        throw new CliError("--keyed must be 64 hex characters", 2);
      }
      if (key.length !== 32) throw new CliError(`--keyed must be 64 hex characters (32 bytes), got ${values.keyed.length}`, 2);
    }
    if (values.outboard !== undefined) {
      if (positionals.length !== 1) throw new CliError("--outboard takes exactly one FILE", 2);
      if (key || values["derive-key"] !== undefined || length !== 32) throw new CliError("--outboard only goes with the plain 32-byte hash", 2);
    }
    const newHasher = (): Blake3Hasher =>
      key ? createKeyedHasher(key) : values["derive-key"] !== undefined ? createDeriveKeyHasher(values["derive-key"]) : createHasher();

    let status = 0;
    for (const file of positionals) {
      const path = file === "-" ? null : resolve(io.cwd, file);
      try {
        if (values.outboard !== undefined) {
          const data = path ? await readBounded(path) : await readAll(io.stdin);
          const { hash, outboard } = baoOutboard(data);
          await writeFile(resolve(io.cwd, values.outboard), outboard);
          io.stdout.write(`${toHex(hash)}  ${file}\n`);
          continue;
        }
        let h: Blake3Hasher;
        if (path) {
          h = await hashFileParallel(path, newHasher());
        } else {
          h = await hashStreamParallel(io.stdin as AsyncIterable<Uint8Array>, newHasher());
        }
        io.stdout.write(`${toHex(h.digest(length))}  ${file}\n`);
      } catch (err) {
        if (err instanceof CliError) throw err;
        const code = (err as { code?: string }).code;
        io.stderr.write(`slowdrip hash: ${file}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (describeAccessDenied(err) ?? (err as Error).message)}\n`);
        status = 1;
      }
    }
    return status;
  },
};

async function readBounded(path: string): Promise<Uint8Array> {
  const st = await stat(path);
  if (st.size > MAX_OUTBOARD_INPUT) throw new CliError(`${path}: ${st.size} bytes is more than --outboard reads into memory (${MAX_OUTBOARD_INPUT})`);
  return new Uint8Array(await readFile(path));
}

/** Reads a whole stream (stdin), bounded like files. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const piece of stream as AsyncIterable<Uint8Array | string>) {
    const b = typeof piece === "string" ? new TextEncoder().encode(piece) : piece;
    total += b.length;
    if (total > MAX_OUTBOARD_INPUT) throw new CliError(`stdin is more than ${MAX_OUTBOARD_INPUT} bytes`);
    parts.push(b);
  }
  return concatBytes(parts, total);
}
