// `slowdrip film`: add (ffmpeg HLS renditions -> pinned blobs -> creator-signed film record -> published by the node),
// ls, rm (unpublished with a NIP-09 deletion) and republish, against the node's admin listener.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { configFlagOptions, configFlagUsage, loadFromFlags } from "../config/flags.ts";
import { NodeService } from "../gen/slowdrip/v1/node_pb.ts";
import { StorageService, StoreRequestSchema, type StoreRequest } from "../gen/slowdrip/v1/storage_pb.ts";
import { readIdentity } from "../identity/identity.ts";
import { signFilm, type Film, type FilmRendition, type SignedFilm } from "../films/record.ts";
import { clientFlagOptions, clientFlagUsage, nodeClient, rpcFailure, unreachable, type NodeClient } from "./client.ts";
import { CliError, type CliIO, type Command } from "./command.ts";
import type { MaybeTty } from "./progress.ts";
import { trustedFetch } from "./tls.ts";

const USAGE = [
  "usage: slowdrip film <subcommand> [options] [--url URL] [--token TOKEN] [config flags]",
  "",
  "  add VIDEO --title T [--poster IMG]  cut VIDEO into HLS renditions (films.renditions) with ffmpeg, store every",
  "                                      segment, playlist and the poster as pinned blobs, sign the film with the node",
  "                                      key and publish it (kind 30082 and the seed advert); the last line printed is",
  "                                      '<film id>  <playlist blake3>'",
  "  ls [--json]                         the films published from this node",
  "  rm ID                               unpublish a film (NIP-09 deletion) and unpin its blobs",
  "  republish ID                        publish a film's event again",
  "",
  "Needs the admin token and the node's data dir (the creator key is <data_dir>/keypair); the node needs nostr.relays.",
  "",
  "client flags:",
  clientFlagUsage,
  "",
  "config flags:",
  configFlagUsage,
].join("\n");

const PIECE = 256 * 1024;

/** A rendition of films.renditions. */
interface RenditionSpec {
  name: string;
  width: number;
  height: number;
  kbits: number;
}

function parseRendition(s: string): RenditionSpec {
  const [name, wh, kb] = s.split(":");
  const [w, h] = wh!.split("x").map(Number);
  return { name: name!, width: w!, height: h!, kbits: Number(kb) };
}

/** Runs a process, feeding each stdout line to onLine; rejects with the stderr tail on a non-zero exit. */
function runProcess(cmd: string, args: string[], onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    let out = "";
    let buf = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      out = (out + c).slice(-1_000_000);
      buf += c;
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        onLine?.(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    child.stderr.setEncoding("utf8").on("data", (c: string) => (err = (err + c).slice(-8192)));
    child.on("error", (e) => reject(new CliError(`cannot run ${cmd}: ${e.message}`)));
    child.on("close", (code) => (code === 0 ? resolvePromise(out) : reject(new CliError(`${basename(cmd)} failed (exit ${code}): ${err.trim().split("\n").slice(-3).join(" / ")}`))));
  });
}

function ffprobeOf(ffmpeg: string): string {
  return ffmpeg.includes("/") ? join(ffmpeg, "..", "ffprobe") : "ffprobe";
}

/** Duration of the input in ms (ffprobe). */
async function probeDuration(ffprobe: string, video: string): Promise<number> {
  const out = await runProcess(ffprobe, ["-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", video]);
  const s = Number(out.trim());
  if (!Number.isFinite(s) || s <= 0) throw new CliError(`film add: ffprobe found no duration in ${video}`);
  return Math.round(s * 1000);
}

/** One ffmpeg run cutting the input into an HLS VOD rendition in dir: <name>.m3u8 and <name>_NNNNN.ts. */
async function transcode(ffmpeg: string, video: string, dir: string, r: RenditionSpec, segSeconds: number, onTime: (ms: number) => void): Promise<void> {
  const vf = `scale=${r.width}:${r.height}:force_original_aspect_ratio=decrease,pad=${r.width}:${r.height}:(ow-iw)/2:(oh-ih)/2,setsar=1`;
  await runProcess(
    ffmpeg,
    [
      "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1",
      "-i", video,
      "-map", "0:v:0", "-map", "0:a:0?",
      "-vf", vf,
      "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-profile:v", "main",
      "-b:v", `${r.kbits}k`, "-maxrate", `${r.kbits}k`, "-bufsize", `${2 * r.kbits}k`,
      "-force_key_frames", `expr:gte(t,n_forced*${segSeconds})`, "-sc_threshold", "0",
      "-c:a", "aac", "-b:a", "96k", "-ac", "2",
      "-f", "hls", "-hls_time", String(segSeconds), "-hls_playlist_type", "vod", "-hls_flags", "independent_segments",
      "-hls_segment_filename", join(dir, `${r.name}_%05d.ts`),
      join(dir, `${r.name}.m3u8`),
    ],
    (line) => {
      const m = /^out_time_us=(\d+)/.exec(line);
      if (m) onTime(Number(m[1]) / 1000);
    },
  );
}

/** Draws "label [####    ]  42%" on a terminal; nothing otherwise. */
class Bar {
  readonly #out: MaybeTty;
  #drawn = 0;
  constructor(out: NodeJS.WritableStream) {
    this.#out = out as MaybeTty;
  }
  draw(label: string, done: number, total: number, force = false): void {
    if (this.#out.isTTY !== true) return;
    const now = Date.now();
    if (!force && now - this.#drawn < 100) return;
    this.#drawn = now;
    const pct = Math.max(0, Math.min(100, Math.floor((done / Math.max(1, total)) * 100)));
    const room = Math.max(10, (this.#out.columns ?? 80) - label.length - 10);
    const filled = Math.round((room * pct) / 100);
    this.#out.write(`\r${label} [${"#".repeat(filled)}${" ".repeat(room - filled)}] ${String(pct).padStart(3)}%`);
  }
  end(): void {
    if (this.#out.isTTY === true) this.#out.write("\n");
  }
}

/** Uploads one file as a pinned blob with tags; returns its BLAKE3. */
async function putFile(client: ReturnType<typeof createClient<typeof StorageService>>, c: NodeClient, path: string, tags: string[]): Promise<string> {
  const size = statSync(path).size;
  async function* requests(): AsyncGenerator<StoreRequest> {
    yield create(StoreRequestSchema, { header: { size: BigInt(size), pin: true, tags } });
    for await (const chunk of createReadStream(path, { highWaterMark: PIECE }) as AsyncIterable<Buffer>) yield create(StoreRequestSchema, { data: chunk });
  }
  try {
    return (await client.store(requests(), c.callOptions)).hash;
  } catch (err) {
    rpcFailure(err, c);
  }
}

/** Parses a media playlist: the segment file names in order with their EXTINF durations (ms). */
function mediaSegments(text: string): { file: string; duration: number }[] {
  const out: { file: string; duration: number }[] = [];
  let dur: number | undefined;
  for (const line of text.split(/\r?\n/)) {
    const m = /^#EXTINF:([\d.]+)/.exec(line);
    if (m) dur = Math.round(Number(m[1]) * 1000);
    else if (line && !line.startsWith("#")) {
      out.push({ file: line.trim(), duration: dur ?? 0 });
      dur = undefined;
    }
  }
  return out;
}

async function api(c: NodeClient, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const f = trustedFetch(c.trust);
  let r: Response;
  try {
    r = await f(new URL(path, c.url), {
      method,
      headers: { ...(c.callOptions.headers ?? {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw unreachable(c, (err as Error).message);
  }
  const j = (await r.json().catch(() => ({}))) as Record<string, unknown>;
  if (!r.ok) throw new CliError(`the node answered ${r.status}: ${String(j.error ?? r.statusText)}`);
  return j;
}

async function add(values: Record<string, unknown>, video: string | undefined, io: CliIO): Promise<number> {
  if (!video) throw new CliError("film add: name the VIDEO file", 2);
  const title = values.title as string | undefined;
  if (!title) throw new CliError("film add: --title is required", 2);
  if (title.length > 300) throw new CliError("film add: --title is longer than 300 characters", 2);
  const path = resolve(io.cwd, video);
  try {
    if (!statSync(path).isFile()) throw new Error("not a regular file");
  } catch (err) {
    throw new CliError(`film add: cannot read ${video}: ${(err as Error).message}`);
  }
  const poster = values.poster ? resolve(io.cwd, values.poster as string) : undefined;
  if (poster) {
    try {
      if (!statSync(poster).isFile()) throw new Error("not a regular file");
    } catch (err) {
      throw new CliError(`film add: cannot read --poster ${String(values.poster)}: ${(err as Error).message}`);
    }
  }
  const { config } = loadFromFlags(values, io.env, io.cwd);
  const creator = readIdentity(resolve(io.cwd, config["node.data_dir"]));
  const c = nodeClient(values, io);
  const storage = createClient(StorageService, c.transport);
  let ident;
  try {
    ident = await createClient(NodeService, c.transport).getIdentity({}, c.callOptions);
  } catch (err) {
    rpcFailure(err, c);
  }
  if (ident.nodeId !== creator.nodeId) throw new CliError(`film add: the node at ${c.url} is ${ident.nodeId}, but the data dir's key is ${creator.nodeId}: run film add beside the node, with its --data-dir`);
  const ffmpeg = config["films.ffmpeg"];
  const specs = config["films.renditions"].map(parseRendition);
  if (specs.length === 0) throw new CliError("film add: films.renditions is empty", 2);
  const segSeconds = Math.max(1, Math.round(config["films.segment_duration"] / 1000));
  const id = randomBytes(16).toString("hex");
  const tags = ["film", "seed", `film:${id}`];
  const duration = await probeDuration(ffprobeOf(ffmpeg), path);
  const tmp = mkdtempSync(join(tmpdir(), "slowdrip-film-"));
  const bar = new Bar(io.stderr);
  try {
    const renditions: FilmRendition[] = [];
    for (const [i, r] of specs.entries()) {
      const label = `transcoding ${r.name} (${i + 1}/${specs.length})`;
      await transcode(ffmpeg, path, tmp, r, segSeconds, (ms) => bar.draw(label, ms, duration));
      bar.draw(label, duration, duration, true);
      bar.end();
      const playlistFile = join(tmp, `${r.name}.m3u8`);
      const text = readFileSync(playlistFile, "utf8");
      const segs = mediaSegments(text);
      if (segs.length === 0) throw new CliError(`film add: ffmpeg wrote no segments for ${r.name}`);
      const segments = [];
      let rewritten = text;
      for (const [n, s] of segs.entries()) {
        const file = join(tmp, basename(s.file));
        const hash = await putFile(storage, c, file, tags);
        segments.push({ blake3: hash, size: statSync(file).size, duration: s.duration });
        rewritten = rewritten.replace(new RegExp(`^${s.file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"), `${hash}.ts`);
        bar.draw(`storing ${r.name}`, n + 1, segs.length);
      }
      bar.end();
      const rewrittenFile = join(tmp, `${r.name}.blobs.m3u8`);
      writeFileSync(rewrittenFile, rewritten);
      const playlist = await putFile(storage, c, rewrittenFile, tags);
      const peak = Math.max(...segments.map((s) => (s.duration > 0 ? Math.round((s.size * 8 * 1000) / s.duration) : 0)));
      renditions.push({ name: r.name, playlist, bandwidth: peak, resolution: `${r.width}x${r.height}`, ext: "ts", segments });
    }
    const master = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS", ...renditions.flatMap((r) => [`#EXT-X-STREAM-INF:BANDWIDTH=${r.bandwidth},RESOLUTION=${r.resolution},CODECS="avc1.4d401f,mp4a.40.2"`, `${r.playlist}.m3u8`]), ""].join("\n");
    const masterFile = join(tmp, "master.m3u8");
    writeFileSync(masterFile, master);
    const playlist = await putFile(storage, c, masterFile, tags);
    const posterHash = poster ? await putFile(storage, c, poster, tags) : null;
    const film: Film = {
      type: "SLOWDRIP_FILM",
      v: 1,
      id,
      title,
      creator: creator.nodeId,
      duration,
      poster: posterHash,
      playlist,
      renditions,
      // The node's advertised endpoint serves the pinned blobs at /blobs/<blake3>: the film's origin.
      origin: ident.publicEndpoint || null,
      monetization: null,
      created: Math.floor(Date.now() / 1000),
    };
    const signed: SignedFilm = signFilm(film, creator.secretKey);
    const r = await api(c, "POST", "/api/films", signed);
    io.stdout.write(`${String(r.id)}  ${String(r.playlist)}\n`);
    return 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export const filmCommand: Command = {
  name: "film",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...configFlagOptions, ...clientFlagOptions, title: { type: "string" }, poster: { type: "string" }, json: { type: "boolean" } },
      allowPositionals: true,
    });
    const [sub, ...rest] = positionals;
    const needId = () => {
      const v = rest[0];
      if (!v || !/^[0-9a-f]{32}$/.test(v)) throw new CliError(`film ${sub}: name the film ID (32 lowercase hex characters)`, 2);
      return v;
    };
    switch (sub) {
      case "add":
        if (rest.length > 1) throw new CliError(`film add: unexpected argument "${rest[1]}"`, 2);
        return add(values, rest[0], io);
      case "ls": {
        const r = await api(nodeClient(values, io), "GET", "/api/films");
        const films = (r.films as SignedFilm[]) ?? [];
        if (values.json) io.stdout.write(`${JSON.stringify(films)}\n`);
        else for (const f of films) io.stdout.write(`${f.film.id}  ${f.film.playlist}  ${new Date(f.film.created * 1000).toISOString()}  ${f.film.title}\n`);
        return 0;
      }
      case "rm": {
        const id = needId();
        await api(nodeClient(values, io), "DELETE", `/api/films/${id}`);
        io.stdout.write(`removed ${id}\n`);
        return 0;
      }
      case "republish": {
        const id = needId();
        const r = await api(nodeClient(values, io), "POST", `/api/films/${id}/republish`);
        io.stdout.write(`republished ${id} (event ${String(r.event)})\n`);
        return 0;
      }
      case undefined:
        throw new CliError("film: missing subcommand (add, ls, rm, republish)", 2);
      default:
        throw new CliError(`film: unknown subcommand "${sub}" (add, ls, rm, republish)`, 2);
    }
  },
};
