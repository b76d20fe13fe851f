// Hooks keep working off loopback: a real slowdrip run with api.listen on a non-loopback (veth) address and real
// MediaMTX; MediaMTX reaches the node's auth and segment hooks through the loopback hooks listener, so a tokened RTMP
// publish is allowed, one without a token refused, and its segments are served by the public origin to a client in
// another network namespace.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blake3Hex } from "../../src/wasm/index.ts";
import { createNetNs, type NetNs } from "../helpers/netns.ts";
import { BIN, NODE, NodeProcess, ensureFfmpeg, freePort, installMediamtx, liveNodeEnv, rtmpPublishArgs, runCapture, runFfmpeg, until, waitMediamtxReady } from "../media/peers.ts";

let ns: NetNs;
let node: NodeProcess | null = null;
let dir = "";
let url = "";
let rtmp = 0;
let ffmpeg = "";

beforeAll(async () => {
  const binary = installMediamtx();
  ffmpeg = ensureFfmpeg();
  ns = createNetNs();
  dir = mkdtempSync(join(tmpdir(), "slowdrip-hooks-"));
  const port = await freePort();
  const live = await liveNodeEnv({ SLOWDRIP_MEDIAMTX_BINARY: binary, SLOWDRIP_API_LISTEN: `${ns.hostAddr}:${port}` });
  url = `http://${ns.hostAddr}:${port}`;
  rtmp = live.rtmp;
  node = new NodeProcess(join(dir, "data"), live.env);
  await waitMediamtxReady(url, 60_000);
}, 900_000);

afterAll(async () => {
  await node?.stop();
  ns?.remove();
});

describe("api.listen on a non-loopback address", () => {
  it("MediaMTX's config points its hooks at the loopback hooks listener, not at api.listen", () => {
    const yml = readFileSync(join(dir, "data", "mediamtx.yml"), "utf8");
    expect(yml).toMatch(/authHTTPAddress: .*http:\/\/127\.0\.0\.1:\d+\/hooks\/mediamtx\/auth/);
    expect(yml).not.toContain(ns.hostAddr);
    expect(node!.logs).toMatch(new RegExp(`"url":"${url.replace(/\./g, "\\.")}"`));
  });

  it("the auth hook refuses a publish without a token and allows one with; segments reach the segment hook", async () => {
    const before = node!.logs.length;
    const denied = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/live/off`, { seconds: 3 }), ffmpeg);
    expect(await denied.exited).not.toBe(0);
    await until(() => node!.logs.slice(before).includes("mediamtx auth: denied"), 10_000, "the hook's denial logged");

    const tok = await runCapture(NODE, [BIN, "token", "issue", "--action", "publish", "--path", "live/off", "--ttl", "10m", "--data-dir", join(dir, "data")], 60_000);
    expect(tok.code, tok.stderr).toBe(0);
    const run = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/live/off?token=${tok.stdout.trim()}`), ffmpeg);
    try {
      await until(async () => {
        const r = await fetch(`${url}/live/live/off/manifest.json`).catch(() => null);
        return r?.status === 200 && ((await r.json()) as { manifest: { count: number } }).manifest.count >= 3;
      }, 60_000, "3 segments ingested through the hooks listener");
      expect(node!.logs).toMatch(/"msg":"mediamtx auth: allowed"/);
    } finally {
      await run.stop();
    }
  });

  it("a viewer in another network namespace gets the playlist and a verified segment from the public listener", async () => {
    const m = (await (await fetch(`${url}/live/live/off/manifest.json`)).json()) as { manifest: { segments: { blake3: string }[] } };
    const playlist = await ns.run("curl", ["-s", "-S", "--max-time", "20", `${url}/live/live/off/index.m3u8`]);
    expect(playlist.code, playlist.stderr).toBe(0);
    expect(playlist.stdout).toMatch(/^#EXTM3U/);
    const seg = m.manifest.segments[0]!.blake3;
    const got = await ns.run("curl", ["-s", "-S", "--fail", "--max-time", "20", `${url}/live/live/off/${seg}.ts`]);
    expect(got.code, got.stderr).toBe(0);
    const bytes = Buffer.from(got.stdout, "latin1");
    expect(bytes.length).toBeGreaterThan(0);
    expect(blake3Hex(bytes)).toBe(seg);
    // And the hooks are not reachable there.
    const hook = await ns.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-d", "{}", `${url}/hooks/mediamtx/auth`]);
    expect(hook.stdout).toBe("403");
  });
});
