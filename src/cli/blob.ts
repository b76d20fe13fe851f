// `slowdrip blob`: put, get (verified), ls, stat, rm, pin, unpin over StorageService RPC.
import { createReadStream, statSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { configFlagOptions, configFlagUsage } from "../config/flags.ts";
import { StorageService, StoreRequestSchema, type BlobInfo, type StoreRequest } from "../gen/slowdrip/v1/storage_pb.ts";
import { BaoVerifyError, createHasher, decodeSliceStream, fromHex, isBlobId } from "../wasm/index.ts";
import { clientFlagOptions, clientFlagUsage, nodeClient, rpcFailure, type NodeClient } from "./client.ts";
import { CliError, type CliIO, type Command } from "./command.ts";
import { writeOutput } from "./output.ts";

const USAGE = [
  "usage: slowdrip blob <subcommand> [options] [--url URL] [--token TOKEN] [config flags]",
  "",
  "subcommands:",
  "  put FILE... [--pin] [--tag T]...   upload files (- is stdin); prints '<hash>  <file>' per file",
  "  get HASH [-o FILE] [--range A-B]   download (to stdout without -o), verified against the hash while it",
  "                                     streams (ranges as Bao slices); A-B is an inclusive byte range, e.g.",
  "                                     0-1023 or 1000- (to the end). With -o nothing is left behind on failure.",
  "  ls [--json]                        list every stored blob",
  "  stat HASH [--json]                 show a blob's metadata",
  "  rm HASH [--force]                  delete a blob (--force also deletes a pinned one)",
  "  pin HASH | unpin HASH              protect a blob from GC and deletion, or remove the protection",
  "",
  "Uploads, deletes and pins need the admin token.",
  "",
  clientFlagUsage,
  "",
  "config flags:",
  configFlagUsage,
].join("\n");

const PIECE = 256 * 1024;

function needHash(v: string | undefined, sub: string): string {
  if (v === undefined) throw new CliError(`blob ${sub}: missing HASH`, 2);
  if (!isBlobId(v)) throw new CliError(`blob ${sub}: "${v}" is not a blob hash (64 lowercase hex characters)`, 2);
  return v;
}

/** Parses "A-B" / "A-" into offset and optional length. */
export function parseRange(spec: string): { offset: number; length?: number } {
  const m = /^(\d+)-(\d*)$/.exec(spec);
  if (!m) throw new CliError(`--range must be A-B or A- (bytes, inclusive), got "${spec}"`, 2);
  const a = Number(m[1]);
  if (!Number.isSafeInteger(a)) throw new CliError(`--range start ${m[1]} is too large`, 2);
  if (m[2] === "") return { offset: a };
  const b = Number(m[2]);
  if (!Number.isSafeInteger(b) || b < a) throw new CliError(`--range end must be >= start, got "${spec}"`, 2);
  return { offset: a, length: b - a + 1 };
}

function describe(b: BlobInfo): string {
  return [
    `hash      ${b.hash}`,
    `size      ${b.size}`,
    `created   ${new Date(Number(b.createdUnixMs)).toISOString()}`,
    `pinned    ${b.pinned ? "yes" : "no"}`,
    `tags      ${b.tags.join(", ")}`,
    `source    ${b.source}`,
    `sha256    ${b.sha256 || "(not indexed yet)"}`,
  ].join("\n");
}

function infoJson(b: BlobInfo): Record<string, unknown> {
  return { hash: b.hash, size: Number(b.size), created: Number(b.createdUnixMs), pinned: b.pinned, tags: b.tags, source: b.source, ...(b.sha256 ? { sha256: b.sha256 } : {}) };
}

async function put(client: Client<typeof StorageService>, c: NodeClient, files: string[], io: CliIO, opts: { pin: boolean; tags: string[] }): Promise<number> {
  if (files.length === 0) throw new CliError("blob put: name at least one FILE", 2);
  if (files.filter((f) => f === "-").length > 1) throw new CliError("blob put: stdin (-) can be named only once", 2);
  for (const f of files) {
    // "-" is stdin (size unknown up front); files declare their size so the node reserves the space first.
    let size: number | undefined;
    let input: AsyncIterable<Buffer>;
    if (f === "-") {
      input = io.stdin as AsyncIterable<Buffer>;
    } else {
      const path = resolve(io.cwd, f);
      try {
        const st = statSync(path);
        if (!st.isFile()) throw new Error("not a regular file");
        size = st.size;
      } catch (err) {
        throw new CliError(`blob put: cannot read ${f}: ${err instanceof Error ? err.message : String(err)}`);
      }
      input = createReadStream(path, { highWaterMark: PIECE }) as AsyncIterable<Buffer>;
    }
    const local = createHasher();
    async function* requests(): AsyncGenerator<StoreRequest> {
      yield create(StoreRequestSchema, { header: { ...(size === undefined ? {} : { size: BigInt(size) }), pin: opts.pin, tags: opts.tags } });
      for await (const chunk of input) {
        for (let at = 0; at < chunk.byteLength; at += PIECE) {
          const piece = chunk.subarray(at, at + PIECE);
          local.update(piece);
          yield create(StoreRequestSchema, { data: piece });
        }
      }
    }
    let r;
    try {
      r = await client.store(requests(), c.callOptions);
    } catch (err) {
      rpcFailure(err, c);
    }
    const mine = local.digestHex();
    if (r.hash !== mine) throw new CliError(`blob put: node answered hash ${r.hash} but ${f} hashes to ${mine}`);
    io.stdout.write(`${r.hash}  ${f}\n`);
  }
  return 0;
}

/** Largest range fetched with one proof (the node's limit). */
const PROOF_WINDOW = 16 * 1024 * 1024;

/** Streams the whole blob, hashing it; yields the bytes. Throws if the hash does not match at the end. */
async function* wholeVerified(client: Client<typeof StorageService>, c: NodeClient, hash: string): AsyncGenerator<Uint8Array> {
  const hasher = createHasher();
  let pos = 0;
  let size = -1;
  for await (const m of client.fetchBlob({ hash }, c.callOptions)) {
    if (m.info) size = Number(m.info.size);
    hasher.update(m.data);
    pos += m.data.byteLength;
    yield m.data;
  }
  if (pos !== size) throw new CliError(`blob get: the node sent ${pos} bytes of a ${size}-byte blob`);
  const got = hasher.digestHex();
  if (got !== hash) throw new CliError(`blob get: verification failed: the bytes hash to ${got}, not ${hash}`);
}

/** Streams a range in windows of at most 16 MiB, each as a Bao slice verified against the hash as it arrives. */
async function* rangeVerified(client: Client<typeof StorageService>, c: NodeClient, hash: string, offset: number, length: number | undefined): AsyncGenerator<Uint8Array> {
  const root = fromHex(hash);
  let at = offset;
  let end = length === undefined ? undefined : offset + length;
  do {
    const win = Math.min(PROOF_WINDOW, (end ?? at + PROOF_WINDOW) - at);
    const stream = client.fetchBlob({ hash, offset: BigInt(at), length: BigInt(win), withProof: true }, c.callOptions);
    let served = win;
    async function* slices(): AsyncGenerator<Uint8Array> {
      for await (const m of stream) {
        if (m.info) {
          const size = Number(m.info.size);
          end = Math.min(end ?? size, size);
          served = Number(m.length);
        }
        yield m.baoSlice;
      }
    }
    try {
      for await (const piece of decodeSliceStream(root, slices(), at, win)) yield piece;
    } catch (err) {
      if (err instanceof BaoVerifyError) throw new CliError(`blob get: verification failed at byte ${at}: ${err.message}`);
      throw err;
    }
    at += served;
    if (served === 0) break;
  } while (end !== undefined && at < end);
}

async function get(client: Client<typeof StorageService>, c: NodeClient, hash: string, io: CliIO, out: string | undefined, range: string | undefined): Promise<number> {
  // Whole blobs are hashed while they stream; ranges come as Bao slices, verified piece by piece.
  const want = range === undefined ? undefined : parseRange(range);
  const source = want === undefined ? wholeVerified(client, c, hash) : rangeVerified(client, c, hash, want.offset, want.length);
  await writeOutput(source, io, out, (err) => rpcFailure(err, c));
  return 0;
}

async function ls(client: Client<typeof StorageService>, c: NodeClient, io: CliIO, json: boolean): Promise<number> {
  let after = "";
  for (let pages = 0; pages < 1_000_000; pages++) {
    let page;
    try {
      page = await client.list({ after, limit: 1000 }, c.callOptions);
    } catch (err) {
      rpcFailure(err, c);
    }
    for (const b of page.blobs) {
      io.stdout.write(json ? `${JSON.stringify(infoJson(b))}\n` : `${b.hash}  ${String(b.size).padStart(12)}  ${b.pinned ? "pinned" : "      "}  ${b.tags.join(",")}\n`);
    }
    if (!page.next) break;
    after = page.next;
  }
  return 0;
}

export const blobCommand: Command = {
  name: "blob",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        ...configFlagOptions,
        ...clientFlagOptions,
        output: { type: "string", short: "o" },
        range: { type: "string" },
        json: { type: "boolean" },
        force: { type: "boolean" },
        pin: { type: "boolean" },
        tag: { type: "string", multiple: true },
      },
      allowPositionals: true,
    });
    const [sub, ...rest] = positionals;
    if (sub === undefined) throw new CliError("blob: missing subcommand (put, get, ls, stat, rm, pin, unpin)", 2);
    const c = nodeClient(values, io);
    const client = createClient(StorageService, c.transport);
    const one = () => {
      if (rest.length > 1) throw new CliError(`blob ${sub}: unexpected argument "${rest[1]}"`, 2);
      return needHash(rest[0], sub);
    };
    const call = async <T>(p: Promise<T>): Promise<T> => {
      try {
        return await p;
      } catch (err) {
        rpcFailure(err, c);
      }
    };
    switch (sub) {
      case "put":
        return put(client, c, rest, io, { pin: values.pin === true, tags: values.tag ?? [] });
      case "get":
        return get(client, c, one(), io, values.output, values.range);
      case "ls":
        if (rest.length) throw new CliError(`blob ls: unexpected argument "${rest[0]}"`, 2);
        return ls(client, c, io, values.json === true);
      case "stat": {
        const r = await call(client.stat({ hash: one() }, c.callOptions));
        if (!r.blob) throw new CliError("blob stat: the node sent no metadata");
        io.stdout.write(values.json ? `${JSON.stringify(infoJson(r.blob))}\n` : `${describe(r.blob)}\n`);
        return 0;
      }
      case "rm": {
        const hash = one();
        const r = await call(client.delete({ hash, force: values.force === true }, c.callOptions));
        if (!r.deleted) throw new CliError(`blob rm: ${hash} is not stored`);
        io.stdout.write(`deleted ${hash}\n`);
        return 0;
      }
      case "pin":
      case "unpin": {
        const hash = one();
        await call<unknown>(sub === "pin" ? client.pin({ hash }, c.callOptions) : client.unpin({ hash }, c.callOptions));
        io.stdout.write(`${sub === "pin" ? "pinned" : "unpinned"} ${hash}\n`);
        return 0;
      }
      default:
        throw new CliError(`blob: unknown subcommand "${sub}" (put, get, ls, stat, rm, pin, unpin)`, 2);
    }
  },
};
