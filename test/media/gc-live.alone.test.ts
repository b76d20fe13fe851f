// Storage GC under a real live publish: a node with store.max_storage of 4 MiB ingests a 10-minute RTMP publish
// (ffmpeg -> MediaMTX -> 1 s segments -> the node) that is many times the cap. Blob data never exceeds the cap, the
// LMDB file stops growing, no segment is refused or dropped for space, the live window stays verifiable, and a
// recording (live.keep_recording) made before it survives byte for byte.
//
// This test takes about 10.5 minutes of wall time (628 s in one run). Its file name ends in `.alone.test.ts`, so vitest runs it in a group
// of its own after every other test file (vitest.config.ts), never beside other heavy tests.
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { refHash } from "../../src/store/contract.ts";
import { BIN, NODE, NodeProcess, ensureFfmpeg, installMediamtx, liveNodeEnv, rtmpPublishArgs, runCapture, runFfmpeg, until, waitMediamtxReady, type FfmpegRun } from "./peers.ts";

const MiB = 1024 * 1024;
const CAP = 4 * MiB;
const PUBLISH_SECONDS = 600;
const RECORDING = "rec/keep";
const LIVE = "live/gc";

let dir = "";
let url = "";
let adminUrl = "";
let rtmp = 0;
let ffmpeg = "";
let node: NodeProcess | null = null;
const runs: FfmpegRun[] = [];

beforeAll(async () => {
  const binary = installMediamtx();
  ffmpeg = ensureFfmpeg();
  dir = mkdtempSync(join(tmpdir(), "slowdrip-gc-live-"));
  const live = await liveNodeEnv({
    SLOWDRIP_MEDIAMTX_BINARY: binary,
    SLOWDRIP_STORE_MAX_STORAGE: String(CAP),
    SLOWDRIP_LIVE_WINDOW_SEGMENTS: "4",
    SLOWDRIP_LIVE_KEEP_RECORDING: RECORDING,
  });
  ({ url, adminUrl, rtmp } = live);
  node = new NodeProcess(join(dir, "data"), live.env);
  await waitMediamtxReady(url, 60_000);
}, 900_000);

afterAll(async () => {
  for (const r of runs) await r.stop();
  await node?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A GET on a fresh connection (the sampler must not trip over keep-alive timeouts under load); `base` defaults to the public listener. */
function get(path: string, base = url): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Every sample of a metric family, keyed by its label text ("" without labels). */
async function metrics(): Promise<(name: string, labels?: string) => number> {
  const text = (await get("/metrics", adminUrl)).body.toString();
  return (name, labels = "") => {
    const line = text.split("\n").find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ""} `));
    return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
  };
}

function sumOf(text: string, name: string): number {
  return text.split("\n").filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

/** Bytes the LMDB environment's files take on disk. */
function dbDiskBytes(): number {
  const db = join(dir, "data/db");
  return readdirSync(db).reduce((n, f) => n + statSync(join(db, f)).blocks * 512, 0);
}

/** Runs the CLI; commands that read the node's files get its data dir. */
const cli = (args: string[], dataDir = true) => runCapture(NODE, [BIN, ...args, ...(dataDir ? ["--data-dir", join(dir, "data")] : [])], 60_000);

async function publishToken(path: string): Promise<string> {
  const t = await cli(["token", "issue", "--action", "publish", "--path", path]);
  expect(t.code, t.stderr).toBe(0);
  return t.stdout.trim();
}

interface ListedBlob {
  hash: string;
  size: number;
  pinned: boolean;
  tags: string[];
}

async function listBlobs(): Promise<ListedBlob[]> {
  const r = await cli(["blob", "ls", "--json", "--url", adminUrl]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as ListedBlob);
}

describe("storage GC during a 10-minute live publish", () => {
  it("keeps blob data under store.max_storage without refusing a segment, and the pinned recording survives", { timeout: 1_200_000 }, async () => {
    // 1. A short recording on a keep_recording path: its segments stay pinned after the window moves on.
    const rec = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/${RECORDING}?token=${await publishToken(RECORDING)}`, { seconds: 8, bitrate: "400k" }), ffmpeg);
    runs.push(rec);
    expect(await rec.exited, rec.stderr()).toBe(0);
    await until(async () => (await metrics())("slowdrip_live_segments_total", `path="${RECORDING}"`) >= 6, 60_000, "the recording's segments");
    await new Promise((r) => setTimeout(r, 3000)); // the last segment's hook
    const recording = (await listBlobs()).filter((b) => b.tags.includes(`live:${RECORDING}`));
    expect(recording.length).toBeGreaterThanOrEqual(6);
    expect(recording.every((b) => b.pinned)).toBe(true);
    const recordingBytes = recording.reduce((n, b) => n + b.size, 0);
    expect(recordingBytes).toBeLessThan(CAP / 2);

    // 2. Ten minutes of live publishing, sampled every 2 s.
    const started = Date.now();
    const pub = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/${LIVE}?token=${await publishToken(LIVE)}`, { seconds: PUBLISH_SECONDS, bitrate: "400k" }), ffmpeg);
    runs.push(pub);
    let maxUsed = 0;
    let diskAtTwoMinutes = 0;
    let maxDisk = 0;
    const over: string[] = [];
    for (;;) {
      const done = await Promise.race([pub.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 2000))]);
      const m = await metrics();
      const used = m("slowdrip_store_bytes_used");
      maxUsed = Math.max(maxUsed, used);
      if (used > CAP) over.push(`${Math.round((Date.now() - started) / 1000)} s: ${used} bytes`);
      const disk = dbDiskBytes();
      maxDisk = Math.max(maxDisk, disk);
      if (!diskAtTwoMinutes && Date.now() - started > 120_000) diskAtTwoMinutes = disk;
      if (done) break;
    }
    expect(await pub.exited, pub.stderr()).toBe(0);
    await new Promise((r) => setTimeout(r, 3000)); // the last segment's hook
    const elapsed = Math.round((Date.now() - started) / 1000);

    // Blob data stayed under the cap the whole time, and many caps' worth went through the store.
    const text = (await get("/metrics", adminUrl)).body.toString();
    const m = await metrics();
    const ingested = m("slowdrip_live_segment_bytes_total", `path="${LIVE}"`);
    const segments = m("slowdrip_live_segments_total", `path="${LIVE}"`);
    const summary = { elapsed_s: elapsed, segments, ingested, maxUsed, maxDisk, diskAtTwoMinutes, gcRemoved: m("slowdrip_store_gc_removed_bytes_total", 'trigger="space"') };
    console.log("gc-live", JSON.stringify(summary));
    expect(over, JSON.stringify(summary)).toEqual([]);
    expect(maxUsed).toBeLessThanOrEqual(CAP);
    expect(ingested, JSON.stringify(summary)).toBeGreaterThan(4 * CAP);
    expect(m("slowdrip_store_gc_runs_total", 'trigger="space"')).toBeGreaterThan(0);
    expect(m("slowdrip_store_gc_removed_bytes_total", 'trigger="space"')).toBeGreaterThanOrEqual(ingested - CAP);

    // Ingest never failed for space (or anything else): nothing refused, dropped or retried.
    expect(m("slowdrip_store_imports_total", 'result="full"')).toBe(0);
    expect(sumOf(text, "slowdrip_live_segments_dropped_total"), text.match(/^slowdrip_live_segments_dropped_total.*$/gm)?.join("\n")).toBe(0);
    expect(m("slowdrip_live_segment_retries_total")).toBe(0);
    expect(node!.logs).not.toMatch(/segment dropped|not ingested|could not free the space/);

    // The LMDB file reuses the pages GC frees: it stops growing once the cap is reached.
    // (One run: 53.8 MB through a 4 MiB store, the file at 5.06 MB after two minutes and 5.16 MB at most.)
    expect(maxDisk, JSON.stringify(summary)).toBeLessThan(2 * CAP);
    expect(maxDisk - diskAtTwoMinutes, JSON.stringify(summary)).toBeLessThan(MiB);

    // The live window is still complete and verifiable (its segments are pinned while listed).
    const id = JSON.parse((await cli(["status", "--json", "--url", url], false)).stdout) as { nodeId: string };
    const verify = await cli(["stream", "verify", `${url}/live/${LIVE}/`, "--creator", id.nodeId, "--segments", "4"], false);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);

    // The recording survived every collection: still pinned, and every byte is what was stored.
    const after = new Map((await listBlobs()).map((b) => [b.hash, b]));
    for (const b of recording) {
      expect(after.get(b.hash), b.hash).toMatchObject({ pinned: true, size: b.size });
      const r = await get(`/blobs/${b.hash}`);
      expect(r.status).toBe(200);
      expect(refHash(r.body)).toBe(b.hash);
    }
  });
});
