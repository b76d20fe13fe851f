// Live edge against real MediaMTX and real ffmpeg: installer cache, rendered config, HTTP-hook auth, watcher, segments, restarts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { publicKeyOf } from "../../src/identity/ed25519.ts";
import { MediaMtxApi } from "../../src/media/api.ts";
import { decideAuth, parseAuthRequest, type AuthDecision } from "../../src/media/auth.ts";
import { loadTemplate, renderMediamtxConfig } from "../../src/media/config.ts";
import { issueToken, jwksDocument } from "../../src/media/jwt.ts";
import { MediaSupervisor, type MediaStatus } from "../../src/media/supervisor.ts";
import { MediaWatcher, type MediaEvent } from "../../src/media/watcher.ts";
import { ensureFfmpeg, freePort, installMediamtx, rtmpPublishArgs, runCapture, runFfmpeg, startServer, until } from "./peers.ts";

const secret = new Uint8Array(32).fill(11);
const pub = publicKeyOf(secret);
const token = (action: "publish" | "read", path: string, ttlSeconds = 600, now?: number) =>
  issueToken({ secretKey: secret, issuer: "test-node", permissions: [{ action, path }], ttlSeconds, now });

let binary = "";
let ffmpeg = "";
let dir = "";
let hook: Awaited<ReturnType<typeof startServer>>;
let sup: MediaSupervisor;
let watcher: MediaWatcher;
let api: MediaMtxApi;
const ports = { api: 0, metrics: 0, rtmp: 0, rtsp: 0, hls: 0, webrtc: 0, ice: 0, srt: 0 };
const decisions: { path: string; action: string; protocol: string; d: AuthDecision }[] = [];
const segments: { path: string; segment: string; duration: number }[] = [];
const events: MediaEvent[] = [];
const states: MediaStatus[] = [];
const mtxLog: string[] = [];
const hookErrors: string[] = [];

beforeAll(async () => {
  binary = installMediamtx();
  ffmpeg = ensureFfmpeg();
  dir = mkdtempSync(join(tmpdir(), "slowdrip-mtx-"));
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  hook = await startServer((req, body, res) => {
    if (req.url === "/hooks/mediamtx/auth") {
      let r;
      try {
        r = parseAuthRequest(body);
      } catch (e) {
        hookErrors.push(`${String(e)}: ${body.toString("utf8").slice(0, 300)}`);
        throw e;
      }
      const d = decideAuth(r, { trustedKeys: [pub], openReadPaths: ["open"] });
      decisions.push({ path: r.path, action: r.action, protocol: r.protocol, d });
      res.statusCode = d.status;
      res.end(d.allow ? "" : d.reason);
    } else if (req.url === "/.well-known/jwks.json") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(jwksDocument([pub])));
    } else if (req.url === "/hooks/mediamtx/segment") {
      const f = new URLSearchParams(body.toString("utf8"));
      segments.push({ path: f.get("path") ?? "", segment: f.get("segment") ?? "", duration: Number(f.get("duration")) });
      res.end();
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  const yml = renderMediamtxConfig(loadTemplate(), {
    apiAddress: `127.0.0.1:${ports.api}`,
    metricsAddress: `127.0.0.1:${ports.metrics}`,
    auth: { mode: "http", hookUrl: `${hook.url}/hooks/mediamtx/auth` },
    rtmp: `127.0.0.1:${ports.rtmp}`,
    rtsp: `127.0.0.1:${ports.rtsp}`,
    hls: `127.0.0.1:${ports.hls}`,
    webrtc: `127.0.0.1:${ports.webrtc}`,
    webrtcUdpAddress: `127.0.0.1:${ports.ice}`,
    srt: `127.0.0.1:${ports.srt}`,
    recordDir: join(dir, "segments"),
    segmentSeconds: 1,
    segmentHookUrl: `${hook.url}/hooks/mediamtx/segment`,
  });
  writeFileSync(join(dir, "mediamtx.yml"), yml);
  api = new MediaMtxApi({ baseUrl: `http://127.0.0.1:${ports.api}` });
  sup = new MediaSupervisor({ mode: "child", api, binary, configPath: join(dir, "mediamtx.yml"), cwd: dir, pollMs: 200, initialBackoffMs: 200,
    onLog: (l) => mtxLog.push(l) });
  sup.on("state", (s: MediaStatus) => states.push(s));
  sup.start();
  await sup.waitReady(30_000);
  watcher = new MediaWatcher({ api, pollMs: 200 });
  watcher.on("event", (e: MediaEvent) => events.push(e));
  watcher.start();
}, 900_000);

afterAll(async () => {
  watcher?.stop();
  await sup?.stop();
  await hook?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("MediaMTX installer", () => {
  it("caches the binary with a record of its version and sha256", () => {
    const rec = JSON.parse(readFileSync(join(binary, "../install.json"), "utf8"));
    expect(rec.version).toBe("v1.21.0");
    expect(rec.sha256).toBe(createHash("sha256").update(readFileSync(binary)).digest("hex"));
    const before = statSync(binary).mtimeMs;
    expect(installMediamtx()).toBe(binary);
    expect(statSync(binary).mtimeMs).toBe(before);
    const v = spawnSync(binary, ["--version"], { encoding: "utf8" });
    expect(v.stdout.trim()).toBe("v1.21.0");
  });
});

describe("MediaMTX under the node", () => {
  it("starts from the rendered config and answers the loopback API", async () => {
    expect(sup.status().state).toBe("ready");
    expect(await api.info()).toMatchObject({ version: "v1.21.0" });
    expect(states.map((s) => s.state)).toContain("starting");
    const metrics = await fetch(`http://127.0.0.1:${ports.metrics}/metrics`);
    expect(metrics.status).toBe(200);
  });

  it("publishes with a token over RTMP; the watcher sees the path; segments are completed", async () => {
    const path = "live/pub";
    const pubRun = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${ports.rtmp}/${path}?token=${token("publish", path)}`), ffmpeg);
    try {
      await until(() => events.find((e) => e.type === "path-available" && e.path === path), 20_000, "path-available");
      await until(() => segments.filter((s) => s.path === path).length >= 3, 30_000, "3 segments");
      const mine = segments.filter((s) => s.path === path);
      for (const s of mine) {
        expect(s.segment.startsWith(join(dir, "segments", path)), s.segment).toBe(true);
        expect(existsSync(s.segment), s.segment).toBe(true);
        const head = readFileSync(s.segment).subarray(0, 1);
        expect(head[0], `${s.segment} starts with an MPEG-TS sync byte`).toBe(0x47);
        expect(s.duration).toBeGreaterThan(0.5);
      }
      const allowed = decisions.find((d) => d.path === path && d.action === "publish");
      expect(allowed?.d.allow).toBe(true);
      // A reader joins over RTSP with a read token and leaves again.
      const probe = await runCapture("ffprobe", ["-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
        `rtsp://127.0.0.1:${ports.rtsp}/${path}?token=${token("read", path)}`], 20_000);
      expect(probe.stdout.split("\n").filter(Boolean).sort(), probe.stderr + JSON.stringify(decisions.slice(-3)) + hookErrors.join("\n") + mtxLog.slice(-8).join("\n")).toEqual(["aac", "h264"]);
      await until(() => events.find((e) => e.type === "reader-joined" && e.path === path && e.readerType.startsWith("rtsp")), 5000, "reader-joined");
      await until(() => events.find((e) => e.type === "reader-left" && e.path === path), 5000, "reader-left");
      expect(pubRun.child.exitCode).toBe(null);
    } finally {
      await pubRun.stop();
    }
    await until(() => events.find((e) => e.type === "path-unavailable" && e.path === path), 10_000, "path-unavailable");
  });

  it("refuses publishes without a valid token and logs each reason", async () => {
    const path = "live/closed";
    const cases: [string, string, RegExp][] = [
      ["no token", "", /no token/],
      ["expired token", token("publish", path, 60, Math.floor(Date.now() / 1000) - 3600), /expired/],
      ["token for another path", token("publish", "live/other"), /does not cover publish on 'live\/closed'/],
      ["read token used to publish", token("read", path), /does not cover publish/],
    ];
    for (const [name, t, reason] of cases) {
      decisions.length = 0;
      const url = `rtmp://127.0.0.1:${ports.rtmp}/${path}${t ? `?token=${t}` : ""}`;
      const run = runFfmpeg(rtmpPublishArgs(url, { seconds: 3 }), ffmpeg);
      const code = await run.exited;
      expect(code, `${name}: ffmpeg exit code`).not.toBe(0);
      const d = decisions.find((x) => x.path === path && x.action === "publish");
      expect(d?.d.allow, name).toBe(false);
      expect(d?.d.reason, name).toMatch(reason);
    }
    expect(watcher.availablePaths()).not.toContain(path);
  });
});

describe("SRT", () => {
  it("publishes over SRT with the token in the stream id and refuses one without", async () => {
    const path = "live/srt";
    const srtUrl = (t: string) => `srt://127.0.0.1:${ports.srt}?streamid=publish:${path}:u:${t}&pkt_size=1316`;
    const srtArgs = (t: string, seconds?: number) => [...rtmpPublishArgs("x", seconds ? { seconds } : {}).slice(0, -3), "-f", "mpegts", srtUrl(t)];
    decisions.length = 0;
    const bad = runFfmpeg(srtArgs("nope", 3), ffmpeg);
    await bad.exited;
    const refused = decisions.find((d) => d.path === path && d.action === "publish" && d.protocol === "srt");
    expect(refused?.d.allow).toBe(false);
    const good = runFfmpeg(srtArgs(token("publish", path)), ffmpeg);
    try {
      await until(() => watcher.availablePaths().includes(path), 20_000, `SRT path available: ${good.stderr()}`);
      await until(() => segments.some((s) => s.path === path), 20_000, "an SRT segment");
    } finally {
      await good.stop();
    }
  });
});

describe("read auth against a closed path", () => {
  it("RTSP and HLS reads need a read token for the path", async () => {
    const path = "live/readers";
    const run = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${ports.rtmp}/${path}?token=${token("publish", path)}`), ffmpeg);
    try {
      await until(() => watcher.availablePaths().includes(path), 20_000, "path available");
      const rtsp = (t?: string) =>
        runCapture("ffprobe", ["-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
          `rtsp://127.0.0.1:${ports.rtsp}/${path}${t ? `?token=${t}` : ""}`], 20_000);
      const noTok = await rtsp();
      expect(noTok.code, "rtsp without token").not.toBe(0);
      expect(noTok.stderr, "rtsp without token").toMatch(/401/);
      const wrong = await rtsp(token("read", "live/other"));
      expect(wrong.code, "rtsp with a token for another path").not.toBe(0);
      const pubTok = await rtsp(token("publish", path));
      expect(pubTok.code, "rtsp with a publish token").not.toBe(0);
      const ok = await rtsp(token("read", path));
      expect(ok.code, `rtsp with a read token: ${ok.stderr}`).toBe(0);
      expect(ok.stdout.split("\n").filter(Boolean).sort()).toEqual(["aac", "h264"]);

      const hls = (t?: string) =>
        fetch(`http://127.0.0.1:${ports.hls}/${path}/index.m3u8`, { headers: t ? { authorization: `Bearer ${t}` } : {} });
      const h1 = await hls();
      expect(h1.status, "hls without token").toBe(401);
      await h1.body?.cancel();
      const h2 = await hls(token("read", "live/other"));
      expect(h2.status, "hls with a token for another path").toBe(401);
      await h2.body?.cancel();
      const h3 = await hls(token("read", path));
      expect(h3.status, "hls with a read token").toBe(200);
      expect(await h3.text()).toMatch(/^#EXTM3U/);
      const denied = decisions.filter((d) => d.path === path && d.action === "read" && !d.d.allow).map((d) => `${d.protocol}: ${d.d.reason}`);
      expect(denied.some((r) => /^rtsp: no token/.test(r)), denied.join("; ")).toBe(true);
      expect(denied.some((r) => /^hls: token does not cover read/.test(r)), denied.join("; ")).toBe(true);
    } finally {
      await run.stop();
    }
  });

  it("open paths are readable without a token", async () => {
    const path = "open";
    const run = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${ports.rtmp}/${path}?token=${token("publish", path)}`), ffmpeg);
    try {
      await until(() => watcher.availablePaths().includes(path), 20_000, "path available");
      const ok = await runCapture("ffprobe", ["-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
        `rtsp://127.0.0.1:${ports.rtsp}/${path}`], 20_000);
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      await run.stop();
    }
  });
});

describe("child supervision", () => {
  it("restarts MediaMTX after it dies during a publish and recovers when the publisher reconnects", async () => {
    const path = "live/restart";
    const url = `rtmp://127.0.0.1:${ports.rtmp}/${path}?token=${token("publish", path)}`;
    const first = runFfmpeg(rtmpPublishArgs(url), ffmpeg);
    let second: ReturnType<typeof runFfmpeg> | undefined;
    try {
      await until(() => watcher.availablePaths().includes(path), 20_000, "path available");
      const restartsBefore = sup.status().restarts;
      const pidBefore = sup.status().pid;
      states.length = 0;
      expect(sup.killChild("SIGKILL")).toBe(true);
      await until(() => states.find((s) => s.state === "restarting"), 10_000, "restarting state");
      await until(() => events.find((e) => e.type === "path-unavailable" && e.path === path), 10_000, "path-unavailable");
      await sup.waitReady(20_000);
      expect(sup.status().restarts).toBe(restartsBefore + 1);
      expect(sup.status().pid).not.toBe(pidBefore);
      await first.exited;
      events.length = 0;
      second = runFfmpeg(rtmpPublishArgs(url), ffmpeg);
      await until(() => events.find((e) => e.type === "path-available" && e.path === path), 20_000, "path available again");
    } finally {
      await first.stop();
      await second?.stop();
    }
  });
});

describe("JWKS mode", () => {
  it("MediaMTX verifies node-issued EdDSA tokens itself through the JWKS URL", async () => {
    const jdir = mkdtempSync(join(tmpdir(), "slowdrip-mtx-jwks-"));
    const p = { api: await freePort(), metrics: await freePort(), rtmp: await freePort(), rtsp: await freePort() };
    writeFileSync(join(jdir, "mediamtx.yml"), renderMediamtxConfig(loadTemplate(), {
      apiAddress: `127.0.0.1:${p.api}`,
      metricsAddress: `127.0.0.1:${p.metrics}`,
      auth: { mode: "jwks", jwksUrl: `${hook.url}/.well-known/jwks.json` },
      rtmp: `127.0.0.1:${p.rtmp}`,
      rtsp: `127.0.0.1:${p.rtsp}`,
      hls: null,
      webrtc: null,
      srt: null,
      recordDir: join(jdir, "segments"),
      segmentSeconds: 1,
      segmentHookUrl: `${hook.url}/hooks/mediamtx/segment`,
    }));
    const japi = new MediaMtxApi({ baseUrl: `http://127.0.0.1:${p.api}` });
    const jsup = new MediaSupervisor({ mode: "child", api: japi, binary, configPath: join(jdir, "mediamtx.yml"), cwd: jdir, pollMs: 200 });
    jsup.on("state", () => undefined);
    const jw = new MediaWatcher({ api: japi, pollMs: 200 });
    try {
      jsup.start();
      await jsup.waitReady(20_000);
      jw.start();
      const path = "live/jwks";
      decisions.length = 0;
      const stranger = issueToken({ secretKey: new Uint8Array(32).fill(99), issuer: "x", permissions: [{ action: "publish", path }], ttlSeconds: 600 });
      const bad = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${p.rtmp}/${path}?token=${stranger}`, { seconds: 3 }), ffmpeg);
      expect(await bad.exited, "publish with an untrusted key's token").not.toBe(0);
      const good = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${p.rtmp}/${path}?token=${token("publish", path)}`), ffmpeg);
      try {
        await until(() => jw.availablePaths().includes(path), 20_000, `path available in JWKS mode: ${good.stderr()}`);
      } finally {
        await good.stop();
      }
      // MediaMTX decided by itself: the HTTP hook saw none of these requests.
      expect(decisions.filter((d) => d.path === path)).toEqual([]);
    } finally {
      jw.stop();
      await jsup.stop();
      rmSync(jdir, { recursive: true, force: true });
    }
  });
});
