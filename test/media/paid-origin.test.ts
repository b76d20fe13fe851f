// With pay.enabled, the live origin's segments are gated (HTTP 402 + X-Cashu, service live-view) while the playlist,
// manifest and announce stay free, so a viewer can verify before paying.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, NODE, NodeProcess, ensureFfmpeg, installMediamtx, liveNodeEnv, rtmpPublishArgs, runCapture, runFfmpeg, until, waitMediamtxReady } from "./peers.ts";

let dir = "";
let node: NodeProcess | null = null;
let url = "";
let rtmp = 0;
let ffmpeg = "";

beforeAll(async () => {
  const binary = installMediamtx();
  ffmpeg = ensureFfmpeg();
  dir = mkdtempSync(join(tmpdir(), "slowdrip-paid-live-"));
  const live = await liveNodeEnv({
    SLOWDRIP_PAY_ENABLED: "true",
    SLOWDRIP_PAY_TRUSTED_MINTS: "http://127.0.0.1:9/mint",
    SLOWDRIP_MEDIAMTX_BINARY: binary,
  });
  ({ url, rtmp } = live);
  node = new NodeProcess(join(dir, "data"), live.env);
  await waitMediamtxReady(url);
}, 900_000);

afterAll(async () => {
  await node?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("paid live origin", () => {
  it("answers 402 with X-Cashu for segments and serves the signed documents free", async () => {
    const tok = await runCapture(NODE, [BIN, "token", "issue", "--action", "publish", "--path", "live/p", "--data-dir", join(dir, "data")], 30_000);
    const run = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/live/p?token=${tok.stdout.trim()}`), ffmpeg);
    try {
      await until(async () => (await fetch(`${url}/live/live/p/manifest.json`)).status === 200, 30_000, `a manifest ${node!.logs.slice(-300)}`);
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
