// `slowdrip bao slice|verify`: extract standard Bao slices of a file and verify them, for scripts.
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { CliError, type Command } from "./command.ts";
import { readAll } from "./hash.ts";
import {
  BaoVerifyError, baoOutboard, baoSliceFromCombined, baoSliceFromOutboard, decodeSliceStream, fromHex, isBlobId,
} from "../wasm/index.ts";

const MAX_INPUT = 4 * 1024 ** 3;

function nonNegative(v: string | undefined, name: string): number {
  if (v === undefined) throw new CliError(`--${name} is required`, 2);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new CliError(`--${name} must be a non-negative integer, got "${v}"`, 2);
  return Number(v);
}

async function readInput(io: { cwd: string; stdin: NodeJS.ReadableStream }, file: string): Promise<Uint8Array> {
  if (file === "-") return readAll(io.stdin);
  const path = resolve(io.cwd, file);
  const st = await stat(path).catch(() => null);
  if (!st || !st.isFile()) throw new CliError(`${file}: no such file`);
  if (st.size > MAX_INPUT) throw new CliError(`${file}: ${st.size} bytes is more than this command reads into memory (${MAX_INPUT})`);
  return new Uint8Array(await readFile(path));
}

function write(out: NodeJS.WritableStream, bytes: Uint8Array): Promise<void> {
  return new Promise((res, rej) => {
    out.write(bytes, (err) => (err ? rej(err) : res()));
  });
}

export const baoCommand: Command = {
  name: "bao",
  usage: [
    "usage: slowdrip bao slice FILE --start S --len L [--outboard OB | --encoded] > SLICE",
    "       slowdrip bao verify HASH SLICE --start S --len L > CONTENT",
    "",
    "slice   writes the standard Bao slice proving content bytes [S, S+L) of FILE. FILE is the content (its tree is",
    "        computed, or read from the outboard OB written by 'slowdrip hash --outboard'); with --encoded FILE is a",
    "        combined Bao encoding.",
    "verify  checks SLICE ('-' for stdin) against the 64-hex BLAKE3 HASH and writes the verified content bytes as they",
    "        are proven; exits 1 naming the failure (reason and byte offset) at the first bad byte.",
  ].join("\n"),
  async run(argv, io) {
    const [sub, ...rest] = argv;
    const { values, positionals } = parseArgs({
      args: rest,
      options: {
        start: { type: "string" },
        len: { type: "string" },
        outboard: { type: "string" },
        encoded: { type: "boolean" },
      },
      allowPositionals: true,
    });
    const start = nonNegative(values.start, "start");
    const len = nonNegative(values.len, "len");
    if (sub === "slice") {
      if (positionals.length !== 1) throw new CliError("bao slice takes one FILE", 2);
      if (values.outboard !== undefined && values.encoded) throw new CliError("--outboard and --encoded exclude each other", 2);
      const input = await readInput(io, positionals[0]!);
      let slice: Uint8Array;
      try {
        if (values.encoded) slice = baoSliceFromCombined(input, start, len);
        else if (values.outboard !== undefined) slice = baoSliceFromOutboard(input, await readInput(io, values.outboard), start, len);
        else slice = baoSliceFromOutboard(input, baoOutboard(input).outboard, start, len);
      } catch (err) {
        if (err instanceof RangeError) throw new CliError(err.message.replace(/^baoSliceFrom\w+: /, ""));
        throw err;
      }
      await write(io.stdout, slice);
      return 0;
    }
    if (sub === "verify") {
      if (positionals.length !== 2) throw new CliError("bao verify takes HASH and SLICE", 2);
      const [hashHex, file] = positionals as [string, string];
      if (!isBlobId(hashHex.toLowerCase())) throw new CliError(`HASH must be 64 hex characters, got "${hashHex}"`, 2);
      const source = file === "-" ? io.stdin : createReadStream(resolve(io.cwd, file), { highWaterMark: 1 << 16 });
      try {
        for await (const piece of decodeSliceStream(fromHex(hashHex), source as AsyncIterable<Uint8Array>, start, len)) {
          await write(io.stdout, piece);
        }
      } catch (err) {
        if (err instanceof BaoVerifyError) throw new CliError(`verification failed: ${err.reason} at byte ${err.offset}: ${err.message}`);
        if ((err as { code?: string }).code === "ENOENT") throw new CliError(`${file}: no such file`);
        throw err;
      }
      return 0;
    }
    throw new CliError(sub === undefined ? "missing subcommand (slice or verify)" : `unknown subcommand "${sub}" (slice or verify)`, 2);
  },
};
