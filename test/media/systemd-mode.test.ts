// mediamtx.manage: systemd - the node renders <data_dir>/mediamtx.yml and only watches; MediaMTX is started from that
// file by someone else (here the test, as slowdrip-mediamtx.path/.service would), and the live pipeline works.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, ensureFfmpeg, freePort, installMediamtx, rtmpPublishArgs, runCapture, runFfmpeg, until } from "./peers.ts";

const NODE = join(ROOT, "node_modules/.bin/node");
const BIN = join(ROOT, "dist/slowdrip.mjs");
let dir = "";
let node: ChildProcess | null = null;
let mtx: ChildProcess | null = null;
let url = "";
let rtmp = 0;
let ffmpeg = "";
let binary = "";
let logs = "";

const stop = async (c: ChildProcess | null, sig: NodeJS.Signals = "SIGTERM") => {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once("exit", r));
  c.kill(sig);
  await exited;
};

beforeAll(async () => {
  binary = installMediamtx();
  ffmpeg = ensureFfmpeg();
  dir = mkdtempSync(join(tmpdir(), "slowdrip-systemd-mode-"));
  const port = await freePort();
  rtmp = await freePort();
  url = `http://127.0.0.1:${port}`;
  node = spawn(NODE, [BIN, "run", "--data-dir", join(dir, "data")], {
    env: {
      ...process.env,
      SLOWDRIP_API_LISTEN: `127.0.0.1:${port}`,
      SLOWDRIP_MEDIAMTX_MANAGE: "systemd",
      SLOWDRIP_MEDIAMTX_RECORD_DIR: join(dir, "mediamtx-state/segments"),
      SLOWDRIP_MEDIAMTX_API: `127.0.0.1:${await freePort()}`,
      SLOWDRIP_MEDIAMTX_METRICS: `127.0.0.1:${await freePort()}`,
      SLOWDRIP_MEDIAMTX_RTMP: `127.0.0.1:${rtmp}`,
      SLOWDRIP_MEDIAMTX_RTSP: "",
      SLOWDRIP_MEDIAMTX_SRT: "",
      SLOWDRIP_MEDIAMTX_WEBRTC: "",
      SLOWDRIP_MEDIAMTX_SEGMENT_DURATION: "1s",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  node.stdout!.setEncoding("utf8").on("data", (c: string) => (logs += c));
  node.stderr!.setEncoding("utf8").on("data", (c: string) => (logs += c));
}, 900_000);

afterAll(async () => {
  await stop(mtx, "SIGKILL");
  await stop(node);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("systemd mode", () => {
  it("renders mediamtx.yml for the unit, waits for MediaMTX without spawning it, then ingests and verifies", async () => {
    const conf = join(dir, "data/mediamtx.yml");
    await until(() => existsSync(conf), 20_000, "rendered mediamtx.yml");
    expect(statSync(conf).mode & 0o777).toBe(0o640);
    await until(async () => {
      const r = await fetch(`${url}/readyz`).catch(() => null);
      const j = r ? ((await r.json()) as { components: { name: string; ready: boolean; detail: string }[] }) : null;
      return j?.components.find((c) => c.name === "mediamtx" && !c.ready && /systemd/.test(c.detail));
    }, 10_000, "readyz: systemd MediaMTX not up yet");
    expect(logs).not.toMatch(/MediaMTX pid \d+ starting/);

    // What slowdrip-mediamtx.service does: run MediaMTX on the node's rendered file.
    mtx = spawn(binary, [conf], { cwd: dir, stdio: "ignore" });
    await until(async () => {
      const r = await fetch(`${url}/readyz`).catch(() => null);
      const j = r ? ((await r.json()) as { components: { name: string; ready: boolean }[] }) : null;
      return j?.components.find((c) => c.name === "mediamtx")?.ready;
    }, 20_000, "readyz: MediaMTX ready");

    const tok = await runCapture(NODE, [BIN, "token", "issue", "--action", "publish", "--path", "live/s", "--data-dir", join(dir, "data")], 30_000);
    const run = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/live/s?token=${tok.stdout.trim()}`), ffmpeg);
    try {
      await until(async () => {
        const r = await fetch(`${url}/live/live/s/manifest.json`);
        return r.status === 200 && ((await r.json()) as { manifest: { count: number } }).manifest.count >= 3;
      }, 30_000, "3 segments");
    } finally {
      await run.stop();
    }
    const jwks = (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: { x: string }[] };
    const v = await runCapture(NODE, [BIN, "stream", "verify", `${url}/live/live/s/`, "--creator", Buffer.from(jwks.keys[0]!.x, "base64url").toString("hex")], 60_000);
    expect(v.code, v.stderr).toBe(0);

    // The node going away leaves the systemd-managed MediaMTX running.
    await stop(node);
    expect(mtx.exitCode).toBe(null);
  });
});
