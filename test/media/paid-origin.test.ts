// With pay.enabled, the live origin's segments are gated (HTTP 402 + X-Cashu, service live-view) while the playlist,
// manifest and announce stay free, so a viewer can verify before paying.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, ensureFfmpeg, freePort, installMediamtx, rtmpPublishArgs, runCapture, runFfmpeg, until } from "./peers.ts";

const NODE = join(ROOT, "node_modules/.bin/node");
const BIN = join(ROOT, "dist/slowdrip.mjs");
let dir = "";
let node: ChildProcess | null = null;
let url = "";
let rtmp = 0;
let ffmpeg = "";
let logs = "";

beforeAll(async () => {
  const binary = installMediamtx();
  ffmpeg = ensureFfmpeg();
  dir = mkdtempSync(join(tmpdir(), "slowdrip-paid-live-"));
  const port = await freePort();
  rtmp = await freePort();
  url = `http://127.0.0.1:${port}`;
  node = spawn(NODE, [BIN, "run", "--data-dir", join(dir, "data")], {
    env: {
      ...process.env,
      SLOWDRIP_API_LISTEN: `127.0.0.1:${port}`,
      SLOWDRIP_PAY_ENABLED: "true",
      SLOWDRIP_PAY_TRUSTED_MINTS: "http://127.0.0.1:9/mint",
      SLOWDRIP_MEDIAMTX_BINARY: binary,
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
  await until(async () => {
    const r = await fetch(`${url}/readyz`).catch(() => null);
    const j = r ? ((await r.json()) as { components: { name: string; ready: boolean }[] }) : null;
    return j?.components.find((c) => c.name === "mediamtx")?.ready;
  }, 30_000, "node ready");
}, 900_000);

afterAll(async () => {
  if (node && node.exitCode === null) {
    const exited = new Promise((r) => node!.once("exit", r));
    node.kill("SIGTERM");
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("paid live origin", () => {
  it("answers 402 with X-Cashu for segments and serves the signed documents free", async () => {
    const tok = await runCapture(NODE, [BIN, "token", "issue", "--action", "publish", "--path", "live/p", "--data-dir", join(dir, "data")], 30_000);
    const run = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/live/p?token=${tok.stdout.trim()}`), ffmpeg);
    try {
      await until(async () => (await fetch(`${url}/live/live/p/manifest.json`)).status === 200, 30_000, `a manifest ${logs.slice(-300)}`);
    } finally {
      await run.stop();
    }
    for (const f of ["index.m3u8", "manifest.json", "announce.json"]) {
      const r = await fetch(`${url}/live/live/p/${f}`);
      expect(r.status, f).toBe(200);
      await r.body?.cancel();
    }
    const m = (await (await fetch(`${url}/live/live/p/manifest.json`)).json()) as { manifest: { segments: { blake3: string }[] } };
    const seg = await fetch(`${url}/live/live/p/${m.manifest.segments[0]!.blake3}.ts`);
    expect(seg.status).toBe(402);
    expect(seg.headers.get("x-cashu")).toMatch(/^creq/);
    const body = (await seg.json()) as { error: string };
    expect(body.error).toBe("payment required");
  });
});
