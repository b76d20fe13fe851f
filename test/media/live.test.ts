// Live edge end to end with real MediaMTX and ffmpeg: publish with a token, ingest every finished segment into the blob
// store, sign manifests, serve the HLS origin, verify it, read it with ffprobe, and keep it across a node restart.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LmdbBlobStore } from "../../src/store/lmdb.ts";
import { MediaMtxApi } from "../../src/media/api.ts";
import { decideAuth, parseAuthRequest } from "../../src/media/auth.ts";
import { loadTemplate, renderMediamtxConfig } from "../../src/media/config.ts";
import { issueToken } from "../../src/media/jwt.ts";
import { parseSegmentHook, SegmentHookError, SegmentIntake } from "../../src/media/segments.ts";
import { MediaSupervisor } from "../../src/media/supervisor.ts";
import { MediaWatcher, type MediaEvent } from "../../src/media/watcher.ts";
import { StreamIngest, type SegmentSealed } from "../../src/stream/ingest.ts";
import { signDelegation, verifySignedManifest, type SignedDelegation } from "../../src/stream/manifest.ts";
import { originAnswer, parseLivePath } from "../../src/stream/origin.ts";
import { FileManifestStore } from "../../src/stream/persist.ts";
import { publicKeyHex } from "../../src/stream/signing.ts";
import { verifyStream } from "../../src/stream/verify.ts";
import { publicKeyOf } from "../../src/identity/ed25519.ts";
import { ensureFfmpeg, freePort, installMediamtx, rtmpPublishArgs, runCapture, runFfmpeg, startServer, until } from "./peers.ts";

const nodeSecret = new Uint8Array(32).fill(21);
const nodeKey = publicKeyHex(nodeSecret);
const now = () => Math.floor(Date.now() / 1000);
// Default setup: the node's own key acts as the creator.
const delegation: SignedDelegation = signDelegation(
  { type: "STREAM_DELEGATION", v: 1, stream: "*", creator: nodeKey, node: nodeKey, notBefore: now() - 60, notAfter: now() + 3600 },
  nodeSecret,
);

let dir = "";
let store: LmdbBlobStore;
let ingest: StreamIngest;
let intake: SegmentIntake;
let hook: Awaited<ReturnType<typeof startServer>>;
let sup: MediaSupervisor;
let watcher: MediaWatcher;
let ffmpeg = "";
let rtmpPort = 0;
const sealed: SegmentSealed[] = [];
const events: MediaEvent[] = [];
const hookFailures: string[] = [];

function openNode(): void {
  ingest = new StreamIngest({
    store,
    persistence: new FileManifestStore(join(dir, "manifests")),
    nodeSecret,
    creatorSecret: nodeSecret,
    delegationFor: () => delegation,
    windowSegments: 8,
    origins: [hook?.url ?? ""],
  });
  ingest.on("sealed", (s: SegmentSealed) => sealed.push(s));
  intake = new SegmentIntake({ ingest, recordDir: join(dir, "segments") });
}

beforeAll(async () => {
  const binary = installMediamtx();
  ffmpeg = ensureFfmpeg();
  dir = mkdtempSync(join(tmpdir(), "slowdrip-live-"));
  mkdirSync(join(dir, "segments"), { recursive: true });
  store = await LmdbBlobStore.open({ path: join(dir, "db") });
  openNode();
  hook = await startServer(async (req, body, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/hooks/mediamtx/auth") {
      const d = decideAuth(parseAuthRequest(body), { trustedKeys: [publicKeyOf(nodeSecret)], openReadPaths: [] });
      res.statusCode = d.status;
      res.end(d.allow ? "" : d.reason);
    } else if (url.pathname === "/hooks/mediamtx/segment") {
      try {
        await intake.handle(parseSegmentHook(body));
        res.end();
      } catch (e) {
        hookFailures.push(String(e));
        res.statusCode = e instanceof SegmentHookError ? e.status : 500;
        res.end(String(e));
      }
    } else {
      const p = parseLivePath(url.pathname);
      if (!p) {
        res.statusCode = 404;
        res.end();
        return;
      }
      const a = await originAnswer(ingest, store, p[0], p[1]);
      res.writeHead(a.status, a.headers);
      res.end(a.body);
    }
  });
  const ports = { api: await freePort(), metrics: await freePort(), rtmp: await freePort(), rtsp: await freePort() };
  rtmpPort = ports.rtmp;
  writeFileSync(join(dir, "mediamtx.yml"), renderMediamtxConfig(loadTemplate(), {
    apiAddress: `127.0.0.1:${ports.api}`,
    metricsAddress: `127.0.0.1:${ports.metrics}`,
    auth: { mode: "http", hookUrl: `${hook.url}/hooks/mediamtx/auth` },
    rtmp: `127.0.0.1:${ports.rtmp}`,
    rtsp: `127.0.0.1:${ports.rtsp}`,
    hls: null,
    webrtc: null,
    srt: null,
    recordDir: join(dir, "segments"),
    segmentSeconds: 1,
    segmentHookUrl: `${hook.url}/hooks/mediamtx/segment`,
  }));
  const api = new MediaMtxApi({ baseUrl: `http://127.0.0.1:${ports.api}` });
  sup = new MediaSupervisor({ mode: "child", api, binary, configPath: join(dir, "mediamtx.yml"), cwd: dir, pollMs: 200 });
  sup.start();
  await sup.waitReady(30_000);
  watcher = new MediaWatcher({ api, pollMs: 200 });
  watcher.on("event", (e: MediaEvent) => {
    events.push(e);
    if (e.type === "path-unavailable") void ingest.markDiscontinuity(e.path);
  });
  watcher.start();
}, 900_000);

afterAll(async () => {
  watcher?.stop();
  await sup?.stop();
  await hook?.close();
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("publish and verify", () => {
  it("ingests at least 5 segments of a 30 fps RTMP publish; the signed origin verifies and ffprobe reads it", async () => {
    const path = "live/cam";
    const t = issueToken({ secretKey: nodeSecret, issuer: nodeKey, permissions: [{ action: "publish", path }], ttlSeconds: 600 });
    const run = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmpPort}/${path}?token=${t}`), ffmpeg);
    try {
      await until(() => events.find((e) => e.type === "path-available" && e.path === path), 20_000, "path available");
      await until(() => sealed.filter((s) => s.stream === path).length >= 6, 40_000, `6 sealed segments (${hookFailures.join("; ")})`);
    } finally {
      await run.stop();
    }
    expect(hookFailures.filter((f) => !/bad-duration/.test(f))).toEqual([]);
    const mine = sealed.filter((s) => s.stream === path);
    expect(mine.map((s) => s.entry.seq)).toEqual(mine.map((_, i) => i));
    // Ingested files are removed from the record directory; the bytes live in the blob store.
    // (at most the unfinished last file may remain, MediaMTX finishes it when the publisher leaves)
    await until(() => readdirSync(join(dir, "segments", "live", "cam")).length === 0, 10_000, "record directory emptied");
    for (const s of mine) expect((await store.stat(s.entry.blake3)).pinned, `segment ${s.entry.seq} pinned`).toBe(true);

    const base = `${hook.url}/live/${path}/`;
    const report = await verifyStream(base, { creator: nodeKey });
    expect(report.failure, JSON.stringify(report.failure)).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.segmentsChecked).toBeGreaterThanOrEqual(5);

    const probe = await runCapture("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,r_frame_rate", "-of", "csv=p=0", `${base}index.m3u8`], 30_000);
    expect(probe.code, probe.stderr).toBe(0);
    const lines = [...new Set(probe.stdout.split("\n").filter(Boolean))].sort();
    expect(lines).toEqual(["aac,0/0", "h264,30/1"]);
  });

  it("keeps manifests and segments across a node restart", async () => {
    const path = "live/cam";
    const before = (await ingest.manifest(path))!;
    expect(before).not.toBeNull();
    await store.close();
    store = await LmdbBlobStore.open({ path: join(dir, "db") });
    openNode();
    const after = (await ingest.manifest(path))!;
    expect(after).toEqual(before);
    verifySignedManifest(after, nodeKey);
    const report = await verifyStream(`${hook.url}/live/${path}/`, { creator: nodeKey });
    expect(report.ok, JSON.stringify(report.failure)).toBe(true);
  });
});
