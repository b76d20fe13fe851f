// `slowdrip file`: put, get (verified), stat and rm files stored in the cluster, through the validator's gateway.
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { configFlagOptions, configFlagUsage } from "../config/flags.ts";
import { ShardHealth, StatFileResponseSchema } from "../gen/slowdrip/v1/cluster_pb.ts";
import { putFileFramed } from "../rpc/file-upload.ts";
import { BaoVerifyError, createHasher, decodeSliceStream, fromHex, hashFileParallel, isBlobId } from "../wasm/index.ts";
import { parseRange } from "./blob.ts";
import { validatorClient, validatorFailure, validatorFlagOptions, validatorFlagUsage, type ValidatorClient } from "./cluster.ts";
import { CliError, type CliIO, type Command } from "./command.ts";
import { writeOutput } from "./output.ts";
import { formatBytes, Progress, type MaybeTty } from "./progress.ts";

const USAGE = [
  "usage: slowdrip file <subcommand> [options] [--validator URL] [--token TOKEN] [config flags]",
  "",
  "subcommands:",
  "  put FILE...                      store files in the cluster (- is stdin); prints '<hash>  <file>' per file,",
  "                                   the hash being the file's BLAKE3",
  "  get HASH [-o FILE] [--range A-B] read a file (to stdout without -o), verified against its hash while it",
  "                                   streams (ranges as Bao slices); with -o nothing is left behind on failure",
  "  stat HASH [--json]               stripes, holders and health of each shard",
  "  rm HASH                          delete a file",
  "",
  "Long transfers show a progress bar when stderr is a terminal. put and rm need the validator's admin token.",
  "",
  validatorFlagUsage,
  "",
  "config flags:",
  configFlagUsage,
].join("\n");

const PIECE = 1024 * 1024;
/** Largest range fetched with one proof (the validator's limit). */
const PROOF_WINDOW = 16 * 1024 * 1024;

function needHash(v: string | undefined, sub: string): string {
  if (v === undefined) throw new CliError(`file ${sub}: missing HASH`, 2);
  if (!isBlobId(v)) throw new CliError(`file ${sub}: "${v}" is not a file hash (64 lowercase hex characters)`, 2);
  return v;
}

/** BLAKE3 of a file on all cores. */
async function hashFile(path: string): Promise<string> {
  return (await hashFileParallel(path, createHasher())).digestHex();
}

/** Copies stdin to a private temporary file (PutFile needs the hash before the first byte). */
async function spoolStdin(io: CliIO): Promise<{ path: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "slowdrip-put-"));
  const path = join(dir, "stdin");
  const out = createWriteStream(path, { mode: 0o600 });
  try {
    for await (const piece of io.stdin as AsyncIterable<Buffer>) if (!out.write(piece)) await once(out, "drain");
    out.end();
    await once(out, "close");
  } catch (err) {
    out.destroy();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { path, dir };
}

async function putOne(v: ValidatorClient, file: string, io: CliIO): Promise<void> {
  let spool: { path: string; dir: string } | undefined;
  try {
    let path: string;
    if (file === "-") {
      spool = await spoolStdin(io);
      path = spool.path;
    } else {
      path = resolve(io.cwd, file);
    }
    let size: number;
    try {
      const st = statSync(path);
      if (!st.isFile()) throw new Error("not a regular file");
      size = st.size;
    } catch (err) {
      throw new CliError(`file put: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const hash = await hashFile(path);
    const bar = new Progress(io.stderr as MaybeTty, `put ${file}`, size);
    async function* pieces(): AsyncGenerator<Uint8Array> {
      for await (const chunk of createReadStream(path, { highWaterMark: PIECE }) as AsyncIterable<Buffer>) {
        bar.add(chunk.byteLength);
        yield chunk;
      }
    }
    let r;
    try {
      r = await putFileFramed({ baseUrl: v.url, headers: v.callOptions.headers ?? {}, hash, size, name: file === "-" ? "stdin" : file.slice(-256), data: pieces() });
    } catch (err) {
      bar.end();
      validatorFailure(err, v.url, "file put");
    }
    bar.end();
    if (r.hash !== hash) throw new CliError(`file put: the validator answered hash ${r.hash} but ${file} hashes to ${hash}`);
    if (r.underReplicatedStripes > 0) io.stderr.write(`slowdrip file put: ${file}: ${r.underReplicatedStripes} of ${r.stripes} stripes are under-replicated for now (rebalancing completes them)\n`);
    io.stdout.write(`${hash}  ${file}\n`);
  } finally {
    if (spool) rmSync(spool.dir, { recursive: true, force: true });
  }
}

/** The whole file, hashed while it streams; throws at the end unless the bytes hash to `hash`. */
async function* wholeVerified(v: ValidatorClient, hash: string, bar: Progress): AsyncGenerator<Uint8Array> {
  const hasher = createHasher();
  let pos = 0;
  let size = -1;
  for await (const m of v.client.getFile({ hash }, v.callOptions)) {
    if (size < 0) {
      size = Number(m.size);
      bar.total(size);
    }
    hasher.update(m.data);
    pos += m.data.byteLength;
    bar.add(m.data.byteLength);
    yield m.data;
  }
  if (pos !== size) throw new CliError(`file get: the validator sent ${pos} bytes of a ${size}-byte file`);
  const got = hasher.digestHex();
  if (got !== hash) throw new CliError(`file get: verification failed: the bytes hash to ${got}, not ${hash}`);
}

/** A range in windows of at most 16 MiB, each a Bao slice verified against the file hash as it arrives. */
async function* rangeVerified(v: ValidatorClient, hash: string, offset: number, length: number | undefined, bar: Progress): AsyncGenerator<Uint8Array> {
  const root = fromHex(hash);
  let at = offset;
  let end = length === undefined ? undefined : offset + length;
  do {
    const win = Math.min(PROOF_WINDOW, (end ?? at + PROOF_WINDOW) - at);
    const stream = v.client.getFile({ hash, offset: BigInt(at), length: BigInt(win), withProof: true }, v.callOptions);
    let served = win;
    let first = true;
    async function* slices(): AsyncGenerator<Uint8Array> {
      for await (const m of stream) {
        if (first) {
          first = false;
          end = Math.min(end ?? Number(m.size), Number(m.size));
          bar.total(end - offset);
          served = Number(m.length);
        }
        yield m.baoSlice;
      }
    }
    try {
      for await (const piece of decodeSliceStream(root, slices(), at, win)) {
        bar.add(piece.byteLength);
        yield piece;
      }
    } catch (err) {
      if (err instanceof BaoVerifyError) throw new CliError(`file get: verification failed at byte ${at}: ${err.message}`);
      throw err;
    }
    at += served;
    if (served === 0) break;
  } while (end !== undefined && at < end);
}

async function get(v: ValidatorClient, hash: string, io: CliIO, out: string | undefined, range: string | undefined): Promise<number> {
  const bar = new Progress(io.stderr as MaybeTty, `get ${hash.slice(0, 12)}`);
  const want = range === undefined ? undefined : parseRange(range);
  const source = want === undefined ? wholeVerified(v, hash, bar) : rangeVerified(v, hash, want.offset, want.length, bar);
  try {
    await writeOutput(source, io, out, (err) => validatorFailure(err, v.url, "file get"));
  } finally {
    bar.end();
  }
  return 0;
}

const HEALTH: Record<number, string> = {
  [ShardHealth.OK]: "ok",
  [ShardHealth.MISSING]: "missing",
  [ShardHealth.HOLDER_DOWN]: "holder down",
  [ShardHealth.CORRUPT]: "corrupt",
  [ShardHealth.UNCHECKED]: "unchecked",
};

async function stat(v: ValidatorClient, hash: string, io: CliIO, json: boolean): Promise<number> {
  let s;
  try {
    // Stripes come in windows of 1024; the health figures cover the whole file in every answer.
    s = await v.client.statFile({ hash, stripeLimit: 1024 }, { ...v.callOptions, timeoutMs: 60_000 });
    while (s.stripes.length < s.stripeCount) {
      const more = await v.client.statFile({ hash, stripeOffset: s.stripes.length, stripeLimit: 1024 }, { ...v.callOptions, timeoutMs: 60_000 });
      if (more.stripes.length === 0) break;
      s.stripes.push(...more.stripes);
      s.manifest?.stripes.push(...(more.manifest?.stripes ?? []));
    }
  } catch (err) {
    validatorFailure(err, v.url, "file stat");
  }
  if (json) {
    io.stdout.write(`${JSON.stringify(toJson(StatFileResponseSchema, s, { alwaysEmitImplicit: true }), null, 2)}\n`);
    return 0;
  }
  const f = s.manifest!;
  const lines = [
    `hash      ${f.hash}`,
    `size      ${f.size} (${formatBytes(f.size)})`,
    `name      ${f.name}`,
    `stored    ${new Date(Number(f.createdUnixMs)).toISOString()} (epoch ${f.epoch})`,
    `layout    ${f.stripes.length} stripes of ${formatBytes(f.stripeSize)}, k=${f.dataShards} + m=${f.parityShards}`,
    `health    ${s.health}: ${s.underReplicatedStripes} under-replicated stripes (placement of epoch ${s.epoch})`,
  ];
  for (const st of s.stripes) {
    lines.push(`stripe ${st.index}  pg ${st.pg}${st.underReplicated ? "  UNDER-REPLICATED" : ""}`);
    for (const sh of st.shards) lines.push(`  ${String(sh.position).padStart(2)} ${sh.hash.slice(0, 16)}  ${sh.holder.slice(0, 16)}  ${sh.family.padEnd(12)} ${HEALTH[sh.health] ?? "?"}`);
  }
  io.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

export const fileCommand: Command = {
  name: "file",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...configFlagOptions, ...validatorFlagOptions, output: { type: "string", short: "o" }, range: { type: "string" }, json: { type: "boolean" } },
      allowPositionals: true,
    });
    const [sub, ...rest] = positionals;
    if (sub === undefined) throw new CliError("file: missing subcommand (put, get, stat, rm)", 2);
    const v = validatorClient(values, io);
    const one = () => {
      if (rest.length > 1) throw new CliError(`file ${sub}: unexpected argument "${rest[1]}"`, 2);
      return needHash(rest[0], sub);
    };
    switch (sub) {
      case "put": {
        if (rest.length === 0) throw new CliError("file put: name at least one FILE", 2);
        if (rest.filter((f) => f === "-").length > 1) throw new CliError("file put: stdin (-) can be named only once", 2);
        for (const f of rest) await putOne(v, f, io);
        return 0;
      }
      case "get":
        return get(v, one(), io, values.output, values.range);
      case "stat":
        return stat(v, one(), io, values.json === true);
      case "rm": {
        const hash = one();
        let r;
        try {
          r = await v.client.deleteFile({ hash }, { ...v.callOptions, timeoutMs: 120_000 });
        } catch (err) {
          validatorFailure(err, v.url, "file rm");
        }
        if (!r.deleted) throw new CliError(`file rm: ${hash} is not stored`);
        io.stdout.write(`deleted ${hash} (${r.shardsDeleted} shard deletions acknowledged)\n`);
        return 0;
      }
      default:
        throw new CliError(`file: unknown subcommand "${sub}" (put, get, stat, rm)`, 2);
    }
  },
};
