// mediamtx.manage: systemd - the node renders <data_dir>/mediamtx.yml and only watches; MediaMTX is started from that
// file by someone else (here the test, as slowdrip-mediamtx.path/.service would), and the live pipeline works.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, NODE, NodeProcess, ensureFfmpeg, installMediamtx, liveNodeEnv, rtmpPublishArgs, runCapture, runFfmpeg, until, waitMediamtxReady } from "./peers.ts";

let dir = "";
let node: NodeProcess | null = null;
let mtx: ChildProcess | null = null;
let url = "";
let rtmp = 0;
let ffmpeg = "";
let binary = "";

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
  const live = await liveNodeEnv({
    SLOWDRIP_MEDIAMTX_MANAGE: "systemd",
    SLOWDRIP_MEDIAMTX_RECORD_DIR: join(dir, "mediamtx-state/segments"),
  });
  ({ url, rtmp } = live);
  node = new NodeProcess(join(dir, "data"), live.env);
}, 900_000);

afterAll(async () => {
  await stop(mtx, "SIGKILL");
  await node?.stop();
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
    expect(node!.logs).not.toMatch(/MediaMTX pid \d+ starting/);

    // What slowdrip-mediamtx.service does: run MediaMTX on the node's rendered file.
    mtx = spawn(binary, [conf], { cwd: dir, stdio: "ignore" });
    await waitMediamtxReady(url, 20_000);

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
    await node!.stop();
    expect(mtx.exitCode).toBe(null);
  });
});
