// Service receipts end to end on a real node with MediaMTX and an ffmpeg RTMP publish: two `slowdrip stream watch`
// viewers play at least 20 segments each and sign a receipt per segment; every sealed batch verifies with
// `slowdrip receipts verify`, every receipt has an inclusion proof (ReceiptService.Prove), ReceiptService.Stats
// matches the viewers' own logs, and forged, oversized, duplicate and wrong-node receipts are refused with reasons.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ReceiptService } from "../../src/gen/slowdrip/v1/proofs_pb.ts";
import { decodeKeypair, identityFromSecret, type Identity } from "../../src/identity/identity.ts";
import { randomSecret } from "../../src/identity/ed25519.ts";
import { issueToken } from "../../src/media/jwt.ts";
import { receiptLeaf, signReceipt, type SignedReceipt } from "../../src/proofs/receipts.ts";
import type { PlayedSegment, ViewerSummary } from "../../src/proofs/viewer.ts";
import { fromHex, verifyMerkleProof } from "../../src/wasm/index.ts";
import { BIN, NODE, NodeProcess, ensureFfmpeg, installMediamtx, liveNodeEnv, rtmpPublishArgs, runCapture, runFfmpeg, until, waitMediamtxReady, type FfmpegRun } from "../media/peers.ts";

const PATH = "live/cam";
const SEGMENTS = 22;
let dir = "";
let url = "";
let adminUrl = "";
let node: NodeProcess | null = null;
let publish: FfmpegRun | null = null;
let id: Identity;
let token = "";

interface ViewerRun {
  segments: PlayedSegment[];
  summary: ViewerSummary;
  viewer: string;
}
const runs: ViewerRun[] = [];

/** Runs `slowdrip stream watch` to completion and parses its JSON lines. */
function watch(args: string[]): Promise<ViewerRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [BIN, "stream", "watch", `${url}/live/${PATH}/`, "--creator", id.nodeId, "--segments", String(SEGMENTS), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
    const t = setTimeout(() => child.kill("SIGKILL"), 150_000);
    child.once("exit", (code) => {
      clearTimeout(t);
      if (code !== 0) return reject(new Error(`stream watch exited ${code}: ${err}\n${out.slice(-2000)}`));
      const lines = out.trim().split("\n").map((l) => JSON.parse(l) as { event: string } & Record<string, unknown>);
      resolve({
        segments: lines.filter((l) => l.event === "segment") as unknown as PlayedSegment[],
        summary: lines.find((l) => l.event === "summary") as unknown as ViewerSummary,
        viewer: lines.find((l) => l.event === "viewer")!.viewer as string,
      });
    });
  });
}

/** ReceiptService on the admin listener (batches and proofs with the admin token) or the public one (Stats). */
const rpc = (base = adminUrl) => createClient(ReceiptService, createConnectTransport({ baseUrl: base, httpVersion: "1.1" }));
const admin = () => ({ headers: { authorization: `Bearer ${token}` } });
const post = (body: string | Uint8Array<ArrayBuffer>) => fetch(`${url}/live/${PATH}/receipts`, { method: "POST", headers: { "content-type": "application/json" }, body });

beforeAll(async () => {
  const binary = installMediamtx();
  const ffmpeg = ensureFfmpeg();
  dir = mkdtempSync(join(tmpdir(), "slowdrip-receipts-live-"));
  const live = await liveNodeEnv({ SLOWDRIP_MEDIAMTX_BINARY: binary, SLOWDRIP_PROOFS_RECEIPT_BATCH: "16", SLOWDRIP_PROOFS_RECEIPT_BATCH_INTERVAL: "2s" });
  url = live.url;
  adminUrl = live.adminUrl;
  node = new NodeProcess(join(dir, "data"), live.env);
  await waitMediamtxReady(url);
  id = decodeKeypair(readFileSync(join(dir, "data/keypair"), "utf8"));
  token = readFileSync(join(dir, "data/admin.token"), "utf8").trim();
  const t = issueToken({ secretKey: id.secretKey, issuer: id.nodeId, audience: id.nodeId, permissions: [{ action: "publish", path: PATH }], ttlSeconds: 600 });
  publish = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${live.rtmp}/${PATH}?token=${t}`), ffmpeg);
  await until(async () => {
    const r = await fetch(`${url}/live/${PATH}/manifest.json`);
    return r.ok && ((await r.json()) as { manifest: { count: number } }).manifest.count >= 2;
  }, 60_000, "two segments in the manifest");
  // Two viewers at once: one with a key file it creates, one with a fresh key.
  runs.push(...(await Promise.all([watch(["--key", join(dir, "viewer.key")]), watch([])])));
}, 900_000);

afterAll(async () => {
  await publish?.stop();
  await node?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("receipts from two viewers of a live publish", () => {
  it("each viewer played at least 20 verified segments and every receipt was accepted", () => {
    expect(runs).toHaveLength(2);
    expect(runs[0]!.viewer).not.toBe(runs[1]!.viewer);
    expect(decodeKeypair(readFileSync(join(dir, "viewer.key"), "utf8")).nodeId).toBe(runs[0]!.viewer);
    for (const r of runs) {
      expect(r.segments.length).toBeGreaterThanOrEqual(20);
      expect(r.segments.map((s) => s.receipt)).toEqual(r.segments.map(() => "accepted"));
      // Consecutive segments in order from the live edge.
      expect(r.segments.map((s) => s.seq)).toEqual(r.segments.map((_, i) => r.segments[0]!.seq + i));
      expect(r.summary).toMatchObject({ segments: r.segments.length, receipts_accepted: r.segments.length, receipts_refused: 0 });
    }
  });

  // Two CLI processes per batch: minutes under load, so the budget is generous.
  it("every sealed batch verifies with `slowdrip receipts verify`, and together they hold every receipt", { timeout: 240_000 }, async () => {
    const total = runs.reduce((n, r) => n + r.segments.length, 0);
    const batches = await until(async () => {
      const l = await rpc().listBatches({}, admin());
      return l.pending === 0 && l.batches.reduce((n, b) => n + b.count, 0) === total ? l.batches : undefined;
    }, 30_000, "every receipt sealed");
    expect(batches.length).toBeGreaterThanOrEqual(3); // 44+ receipts in batches of at most 16
    const listed = await runCapture(NODE, [BIN, "receipts", "list", "--url", adminUrl, "--token", token], 30_000);
    expect(listed.stdout).toMatch(new RegExp(`${batches.length} batches listed, 0 receipts pending`));
    let prev = "";
    for (const b of batches) {
      const file = join(dir, `batch-${b.id}.json`);
      const got = await runCapture(NODE, [BIN, "receipts", "get", String(b.id), "--output", file, "--url", adminUrl, "--token", token], 30_000);
      expect(got.code, got.stderr).toBe(0);
      const v = await runCapture(NODE, [BIN, "receipts", "verify", file], 30_000);
      expect(v.code, v.stderr).toBe(0);
      expect(v.stdout).toMatch(new RegExp(`^ok: batch ${b.id} of node ${id.nodeId}, ${b.count} receipts, root ${b.root}`));
      const doc = JSON.parse(readFileSync(file, "utf8")) as { header: { prev: string; root: string } };
      expect(doc.header.prev).toBe(prev);
      prev = doc.header.root;
    }
    // A tampered batch file is refused with its reason.
    const file = join(dir, `batch-${batches[0]!.id}.json`);
    const doc = JSON.parse(readFileSync(file, "utf8")) as { receipts: SignedReceipt[] };
    doc.receipts[0]!.receipt.total_us += 1;
    const bad = join(dir, "tampered.json");
    (await import("node:fs")).writeFileSync(bad, JSON.stringify(doc));
    const v = await runCapture(NODE, [BIN, "receipts", "verify", bad], 30_000);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/forged: receipt 0/);
  });

  it("every receipt in the viewers' logs has a valid inclusion proof carrying the logged figures", async () => {
    const client = rpc();
    for (const r of runs) {
      for (const s of r.segments) {
        const p = await client.prove({ viewer: r.viewer, segment: s.segment }, admin());
        const signed = JSON.parse(p.receipt) as SignedReceipt;
        expect(signed.receipt).toMatchObject({ stream: PATH, seq: s.seq, node: id.nodeId, viewer: r.viewer, ttfb_us: s.ttfb_us, total_us: s.total_us, viewer_ms: s.viewer_ms, bytes: s.bytes });
        const ok = verifyMerkleProof(fromHex(p.batch!.root), receiptLeaf(signed), { index: p.index, size: p.batch!.count, siblings: p.siblings.map(fromHex) });
        expect(ok, `inclusion of segment ${s.seq} of viewer ${r.viewer.slice(0, 8)}`).toBe(true);
      }
    }
  });

  it("QoS in ReceiptService.Stats and /metrics matches the viewers' own figures", async () => {
    const all = runs.flatMap((r) => r.segments);
    const nearest = (xs: number[], p: number) => {
      const s = xs.slice().sort((a, b) => a - b);
      return s.length ? s[Math.max(1, Math.ceil((p / 100) * s.length)) - 1]! : 0;
    };
    const jitters = all.flatMap((s) => (s.jitter_us === null ? [] : [s.jitter_us]));
    expect(jitters.length).toBe(all.length - 2); // every segment but each viewer's first
    const stats = (await rpc(url).stats({ path: PATH })).paths;
    expect(stats).toHaveLength(1);
    const q = stats[0]!;
    expect(Number(q.receipts)).toBe(all.length);
    expect(q.viewers).toBe(2);
    expect(Number(q.deadlineMisses)).toBe(all.filter((s) => s.deadline_miss).length);
    expect(q.deadlineMissRatio).toBeCloseTo(all.filter((s) => s.deadline_miss).length / all.length, 12);
    expect(q.ttfbP50Ms).toBe(nearest(all.map((s) => s.ttfb_us), 50) / 1000);
    expect(q.ttfbP95Ms).toBe(nearest(all.map((s) => s.ttfb_us), 95) / 1000);
    expect(q.jitterP50Ms).toBe(nearest(jitters, 50) / 1000);
    expect(q.jitterP95Ms).toBe(nearest(jitters, 95) / 1000);
    expect(Number(q.bytes)).toBe(all.reduce((n, s) => n + s.bytes, 0));
    // Each viewer's own summary uses the same definitions over its own segments.
    for (const r of runs) {
      expect(r.summary.ttfb_p95_us).toBe(nearest(r.segments.map((s) => s.ttfb_us), 95));
      expect(r.summary.deadline_misses).toBe(r.segments.filter((s) => s.deadline_miss).length);
    }
    const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
    expect(metrics).toContain(`slowdrip_receipts_ttfb_ms{path="${PATH}",quantile="0.95"} ${q.ttfbP95Ms}`);
    expect(metrics).toContain(`slowdrip_receipts_deadline_miss_ratio{path="${PATH}"} ${q.deadlineMissRatio}`);
    expect(metrics).toMatch(new RegExp(`slowdrip_receipts_total\\{result="accepted"\\} ${all.length}`));
  });

  it("refuses forged, oversized, duplicate and wrong-node receipts, with the reason in X-Reason and the body", async () => {
    const r = runs[0]!;
    const s = r.segments.at(-1)!;
    const viewer = decodeKeypair(readFileSync(join(dir, "viewer.key"), "utf8"));
    const original = (JSON.parse((await rpc().prove({ viewer: r.viewer, segment: s.segment }, admin())).receipt) as SignedReceipt);
    const check = async (res: Response, status: number, reason: string) => {
      expect(res.status, reason).toBe(status);
      expect(res.headers.get("x-reason")).toBe(reason);
      expect(((await res.json()) as { reason: string }).reason).toBe(reason);
    };
    await check(await post(JSON.stringify(original)), 409, "duplicate");
    await check(await post(JSON.stringify({ ...original, receipt: { ...original.receipt, total_us: original.receipt.total_us + 1 } })), 403, "forged");
    await check(await post(new Uint8Array(5000).fill(0x20)), 413, "oversized");
    const stranger: Identity = identityFromSecret(randomSecret());
    const elsewhere = signReceipt({ ...original.receipt, viewer: stranger.nodeId, node: viewer.nodeId }, stranger.secretKey);
    await check(await post(JSON.stringify(elsewhere)), 409, "wrong-node");
    await check(await post("{not json"), 400, "malformed");
    const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
    for (const reason of ["duplicate", "forged", "oversized", "wrong-node", "malformed"]) expect(metrics).toMatch(new RegExp(`slowdrip_receipts_total\\{result="${reason}"\\} 1`));
  });
});
