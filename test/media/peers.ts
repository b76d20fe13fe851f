// Test helpers for the live edge: install MediaMTX and ffmpeg through the project's scripts, free ports, a loopback hook server, ffmpeg runs.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { freePort } from "../helpers/sea.ts";

export { freePort };

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** Runs scripts/mediamtx-install.mjs (builds on first use, cached after) and returns the binary path it prints last. */
export function installMediamtx(extraArgs: string[] = [], env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(process.execPath, [join(ROOT, "scripts/mediamtx-install.mjs"), ...extraArgs], {
    encoding: "utf8",
    env,
    timeout: 15 * 60 * 1000,
  });
  if (r.status !== 0) throw new Error(`mediamtx-install failed (${r.status}): ${r.stderr}`);
  const lines = r.stdout.trim().split("\n");
  return lines[lines.length - 1]!;
}

/** Runs test/peers/ffmpeg.sh (apt-get installs ffmpeg when missing) and returns ffmpeg's path. */
export function ensureFfmpeg(): string {
  const r = spawnSync("sh", [join(ROOT, "test/peers/ffmpeg.sh")], { encoding: "utf8", timeout: 10 * 60 * 1000 });
  if (r.status !== 0) throw new Error(`ffmpeg.sh failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim().split("\n").pop()!;
}

/** A loopback HTTP server with one handler; returns its base URL. */
export async function startServer(
  handler: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void | Promise<void>,
): Promise<{ url: string; server: Server; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > 1024 * 1024) req.destroy();
      else parts.push(c);
    });
    req.on("end", () => {
      Promise.resolve(handler(req, Buffer.concat(parts), res)).catch((e) => {
        res.statusCode = 500;
        res.end(String(e));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address();
  const port = typeof a === "object" && a ? a.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** A running ffmpeg with its collected stderr. */
export interface FfmpegRun {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
  stop: () => Promise<number | null>;
}

/** Starts ffmpeg with `args` (after -hide_banner -nostdin). */
export function runFfmpeg(args: string[], bin = "ffmpeg"): FfmpegRun {
  const child = spawn(bin, ["-hide_banner", "-nostdin", "-loglevel", "warning", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (c: string) => {
    err = (err + c).slice(-16_384);
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return {
    child,
    stderr: () => err,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      const c = await exited;
      clearTimeout(t);
      return c;
    },
  };
}

/** ffmpeg arguments publishing a 30 fps test pattern with a 440 Hz tone to `url` over RTMP (key frame every `gop` frames). */
export function rtmpPublishArgs(url: string, o: { seconds?: number; gop?: number; bitrate?: string } = {}): string[] {
  return [
    "-re",
    "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    ...(o.seconds ? ["-t", String(o.seconds)] : []),
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
    "-g", String(o.gop ?? 30), "-keyint_min", String(o.gop ?? 30), "-sc_threshold", "0",
    ...(o.bitrate ? ["-b:v", o.bitrate, "-maxrate", o.bitrate, "-bufsize", o.bitrate] : []),
    "-c:a", "aac", "-b:a", "64k",
    "-f", "flv", url,
  ];
}

/** Polls `f` until it returns a truthy value or `ms` pass. */
export async function until<T>(f: () => T | Promise<T>, ms: number, what: string, every = 100): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Runs a command to completion without blocking the event loop (hook servers in this process keep answering). */
export function runCapture(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (c: string) => (stdout = (stdout + c).slice(-1_000_000)));
    child.stderr?.setEncoding("utf8").on("data", (c: string) => (stderr = (stderr + c).slice(-64_000)));
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The pinned runtime and the built CLI, for spawning `slowdrip` processes. */
export const NODE = join(ROOT, "node_modules/.bin/node");
export const BIN = join(ROOT, "dist/slowdrip.mjs");

/**
 * Environment for a node whose listeners and MediaMTX listen on free loopback ports (RTMP only, 1 s segments), with
 * `extra` on top; returns it with the node's public, admin and hooks base URLs and the RTMP port.
 */
export async function liveNodeEnv(extra: NodeJS.ProcessEnv = {}): Promise<{ env: NodeJS.ProcessEnv; url: string; adminUrl: string; hooksUrl: string; rtmp: number }> {
  const port = await freePort();
  const admin = await freePort();
  const hooks = await freePort();
  const rtmp = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SLOWDRIP_API_LISTEN: `127.0.0.1:${port}`,
    SLOWDRIP_API_ADMIN_LISTEN: `127.0.0.1:${admin}`,
    SLOWDRIP_API_HOOKS_LISTEN: `127.0.0.1:${hooks}`,
    SLOWDRIP_MEDIAMTX_API: `127.0.0.1:${await freePort()}`,
    SLOWDRIP_MEDIAMTX_METRICS: `127.0.0.1:${await freePort()}`,
    SLOWDRIP_MEDIAMTX_RTMP: `127.0.0.1:${rtmp}`,
    SLOWDRIP_MEDIAMTX_RTSP: "",
    SLOWDRIP_MEDIAMTX_SRT: "",
    SLOWDRIP_MEDIAMTX_WEBRTC: "",
    SLOWDRIP_MEDIAMTX_SEGMENT_DURATION: "1s",
    ...extra,
  };
  return { env, url: `http://127.0.0.1:${port}`, adminUrl: `http://127.0.0.1:${admin}`, hooksUrl: `http://127.0.0.1:${hooks}`, rtmp };
}

/** A `slowdrip run` child process with its stdout and stderr collected. */
export class NodeProcess {
  readonly child: ChildProcess;
  #logs = "";
  constructor(dataDir: string, env: NodeJS.ProcessEnv) {
    this.child = spawn(NODE, [BIN, "run", "--data-dir", dataDir], { env, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.setEncoding("utf8").on("data", (c: string) => (this.#logs += c));
    this.child.stderr!.setEncoding("utf8").on("data", (c: string) => (this.#logs += c));
  }
  /** Everything the process printed so far. */
  get logs(): string {
    return this.#logs;
  }
  /** Sends `signal` (SIGTERM by default) and waits for the exit; nothing to do when it has already exited. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill(signal);
    await exited;
  }
}

/** Waits until the node at `url` reports its mediamtx component ready in /readyz. */
export async function waitMediamtxReady(url: string, ms = 30_000): Promise<void> {
  await until(async () => {
    const r = await fetch(`${url}/readyz`).catch(() => null);
    const j = r ? ((await r.json()) as { components: { name: string; ready: boolean }[] }) : null;
    return j?.components.find((c) => c.name === "mediamtx")?.ready;
  }, ms, `${url}/readyz to report mediamtx ready`);
}

/** Writes a `seconds`-long 640x360 H.264 test video (with a 440 Hz AAC tone when `audio`) to `file` with ffmpeg. */
export async function makeTestVideo(ffmpeg: string, file: string, seconds: number, audio = false): Promise<void> {
  const tone = audio ? ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"] : [];
  const aac = audio ? ["-c:a", "aac"] : [];
  const args = ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", ...tone, "-t", String(seconds)];
  const v = await runCapture(ffmpeg, [...args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", ...aac, file], 120_000);
  if (v.code !== 0) throw new Error(`ffmpeg could not make the test video: ${v.stderr}`);
}
