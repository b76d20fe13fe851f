// The live edge on the real node (dist/slowdrip.mjs): MediaMTX as a child, CLI tokens, hook auth with logged reasons,
// signed origin verified by `slowdrip stream verify` (and its tampering failures), StreamService, restart persistence.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { LiveEventType, StreamService } from "../../src/gen/slowdrip/v1/stream_pb.ts";
import { decodeKeypair } from "../../src/identity/identity.ts";
import { issueToken } from "../../src/media/jwt.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, NODE, NodeProcess, ensureFfmpeg, freePort, installMediamtx, liveNodeEnv, rtmpPublishArgs, runCapture, runFfmpeg, startServer, until, waitMediamtxReady } from "./peers.ts";

let dir = "";
let env: NodeJS.ProcessEnv = {};
let node: NodeProcess | null = null;
let url = "";
let adminUrl = "";
let rtmp = 0;
let ffmpeg = "";

async function startNodeProcess(): Promise<void> {
  node = new NodeProcess(join(dir, "data"), env);
  await waitMediamtxReady(url);
}

async function stopNodeProcess(): Promise<void> {
  await node?.stop();
}

const cli = (args: string[]) => runCapture(NODE, [BIN, ...args], 60_000);

beforeAll(async () => {
  const binary = installMediamtx();
  ffmpeg = ensureFfmpeg();
  dir = mkdtempSync(join(tmpdir(), "slowdrip-node-live-"));
  const live = await liveNodeEnv({
    SLOWDRIP_MEDIAMTX_BINARY: binary,
    SLOWDRIP_MEDIAMTX_RTSP: `127.0.0.1:${await freePort()}`,
    SLOWDRIP_LIVE_WINDOW_SEGMENTS: "6",
  });
  ({ url, adminUrl, rtmp, env } = live);
  await startNodeProcess();
}, 900_000);

afterAll(async () => {
  await stopNodeProcess();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function nodeId(): Promise<string> {
  const r = await fetch(`${url}/.well-known/jwks.json`);
  expect(r.status).toBe(200);
  const j = (await r.json()) as { keys: { kty: string; crv: string; x: string }[] };
  expect(j.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519" });
  return Buffer.from(j.keys[0]!.x, "base64url").toString("hex");
}

describe("live edge on the node", () => {
  it("refuses RTMP publishes without a valid token and logs each reason", async () => {
    const id = decodeKeypair(readFileSync(join(dir, "data/keypair"), "utf8"));
    const tok = (action: "publish" | "read", path: string, now?: number, audience = id.nodeId) =>
      issueToken({ secretKey: id.secretKey, issuer: id.nodeId, audience, permissions: [{ action, path }], ttlSeconds: 60, ...(now ? { now } : {}) });
    const cases: [string, string, RegExp][] = [
      ["no token", "", /no token for publish on 'live\/denied'/],
      ["expired token", tok("publish", "live/denied", Math.floor(Date.now() / 1000) - 3600), /token refused \(expired\)/],
      ["token for another path", tok("publish", "live/other"), /token does not cover publish on 'live\/denied' \(grants publish:live\/other\)/],
      ["read token used to publish", tok("read", "live/denied"), /token does not cover publish on 'live\/denied' \(grants read:live\/denied\)/],
      ["token for another node", tok("publish", "live/denied", undefined, "ab".repeat(32)), /token refused \(bad-audience\): the token is for abab/],
    ];
    for (const [name, t, reason] of cases) {
      const before = node!.logs.length;
      const run = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/live/denied${t ? `?token=${t}` : ""}`, { seconds: 3 }), ffmpeg);
      expect(await run.exited, name).not.toBe(0);
      await until(() => {
        const lines = node!.logs.slice(before).split("\n").filter((l) => l.includes("mediamtx auth: denied"));
        return lines.some((l) => reason.test(JSON.parse(l).reason as string));
      }, 5000, `${name}: denial logged with its reason`);
    }
  });

  it("publishes with a CLI token; segments are ingested; `stream verify` passes; ffprobe reads the origin", async () => {
    const tok = await cli(["token", "issue", "--action", "publish", "--path", "live/n", "--ttl", "10m", "--data-dir", join(dir, "data")]);
    expect(tok.code, tok.stderr).toBe(0);
    const client = createClient(StreamService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
    const abort = new AbortController();
    const seen: { type: LiveEventType; path: string; seq: bigint }[] = [];
    const watching = (async () => {
      try {
        for await (const e of client.watchEvents({ path: "live/n" }, { signal: abort.signal })) seen.push({ type: e.type, path: e.path, seq: e.segmentSeq });
      } catch (e) {
        if (!abort.signal.aborted) throw e;
      }
    })();
    const run = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/live/n?token=${tok.stdout.trim()}`), ffmpeg);
    try {
      await until(async () => {
        const r = await fetch(`${url}/live/live/n/manifest.json`);
        if (r.status !== 200) return false;
        const j = (await r.json()) as { manifest: { count: number } };
        return j.manifest.count >= 6;
      }, 40_000, "6 segments in the manifest");
      const paths = await fetch(`${url}/slowdrip.v1.StreamService/ListPaths`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      const pj = (await paths.json()) as { paths: { name: string; available: boolean; segments: string }[]; mediamtxState: string };
      expect(pj.mediamtxState).toBe("ready");
      const p = pj.paths.find((x) => x.name === "live/n");
      expect(p?.available).toBe(true);
      expect(Number(p?.segments)).toBeGreaterThanOrEqual(6);
      const sessions = await createClient(StreamService, createConnectTransport({ baseUrl: adminUrl, httpVersion: "1.1" })).listSessions({}, { headers: { authorization: `Bearer ${readFileSync(join(dir, "data/admin.token"), "utf8").trim()}` } });
      expect(sessions.sessions.some((x) => x.protocol === "rtmp" && x.path === "live/n")).toBe(true);
    } finally {
      await run.stop();
    }
    await until(() => seen.some((e) => e.type === LiveEventType.PATH_UNAVAILABLE), 10_000, "path-unavailable event");
    abort.abort();
    await watching;
    expect(seen.every((e) => e.path === "live/n")).toBe(true);
    expect(seen.some((e) => e.type === LiveEventType.PATH_AVAILABLE)).toBe(true);
    const sealed = seen.filter((e) => e.type === LiveEventType.SEGMENT_SEALED).map((e) => Number(e.seq));
    expect(sealed.length).toBeGreaterThanOrEqual(6);
    expect(sealed).toEqual(sealed.map((_, i) => sealed[0]! + i));
    const creator = await nodeId();
    const v = await cli(["stream", "verify", `${url}/live/live/n/index.m3u8`, "--creator", creator]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^ok: stream 'live\/n'/);
    const probe = await runCapture("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", `${url}/live/live/n/index.m3u8`], 30_000);
    expect(probe.code, probe.stderr).toBe(0);
    expect([...new Set(probe.stdout.split("\n").filter(Boolean))].sort()).toEqual(["aac", "h264"]);
    const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/slowdrip_live_segments_total\{path="live\/n"\} ([6-9]|\d\d)/);
    expect(metrics).toMatch(/slowdrip_mediamtx_up 1/);
  });

  it("`stream verify` fails naming the cause when a segment byte, a manifest entry or the delegation expiry is changed", async () => {
    const creator = await nodeId();
    const manifest = (await (await fetch(`${url}/live/live/n/manifest.json`)).json()) as { manifest: { segments: { blake3: string }[] } };
    const victim = manifest.manifest.segments[1]!.blake3;
    const cases: [string, (path: string, body: Buffer) => Buffer, RegExp][] = [
      ["segment byte", (path, body) => {
        if (!path.endsWith(`${victim}.ts`)) return body;
        const b = Buffer.from(body);
        b[500] = b[500]! ^ 0xff;
        return b;
      }, /^slowdrip stream: segment-blake3: segment \d+/m],
      ["manifest entry", (path, body) => {
        if (!path.endsWith("manifest.json")) return body;
        const j = JSON.parse(body.toString());
        j.manifest.segments[0].duration += 40;
        return Buffer.from(JSON.stringify(j));
      }, /^slowdrip stream: merkle-root: /m],
      ["delegation expiry", (path, body) => {
        if (!path.endsWith("manifest.json")) return body;
        const j = JSON.parse(body.toString());
        j.delegation.statement.notAfter += 3600;
        return Buffer.from(JSON.stringify(j));
      }, /^slowdrip stream: delegation-signature: /m],
    ];
    for (const [name, tamper, want] of cases) {
      const proxy = await startServer(async (req, _body, res) => {
        const r = await fetch(`${url}${req.url}`);
        const body = tamper(req.url ?? "", Buffer.from(await r.arrayBuffer()));
        res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "application/octet-stream" });
        res.end(body);
      });
      try {
        const v = await cli(["stream", "verify", `${proxy.url}/live/live/n/`, "--creator", creator]);
        expect(v.code, name).toBe(1);
        expect(v.stderr, name).toMatch(want);
      } finally {
        await proxy.close();
      }
    }
  });

  it("keeps manifests and segments across a node restart and stops MediaMTX with the node", async () => {
    // The publish above has stopped: its last segment and the ended manifest may still be on their way. Wait until
    // the manifest says ended and stays the same for 2 s, so that the restart is all that could change it.
    let before = "";
    await until(async () => {
      const a = await (await fetch(`${url}/live/live/n/manifest.json`)).text();
      if (!(JSON.parse(a) as { manifest: { ended: boolean } }).manifest.ended) return false;
      await new Promise((r) => setTimeout(r, 2_000));
      before = await (await fetch(`${url}/live/live/n/manifest.json`)).text();
      return before === a;
    }, 30_000, "the ended manifest, unchanged for 2 s");
    const pid = /MediaMTX pid (\d+)/.exec(node!.logs)?.[1];
    await stopNodeProcess();
    expect(pid).toBeDefined();
    let alive = true;
    try {
      process.kill(Number(pid), 0);
    } catch {
      alive = false;
    }
    expect(alive, "MediaMTX child stopped with the node").toBe(false);
    await startNodeProcess();
    const after = await (await fetch(`${url}/live/live/n/manifest.json`)).text();
    expect(after).toBe(before);
    const v = await cli(["stream", "verify", `${url}/live/live/n/`, "--creator", await nodeId()]);
    expect(v.code, v.stderr).toBe(0);
  });
});
