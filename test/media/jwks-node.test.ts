// The node in JWKS mode (MediaMTX verifies node-issued EdDSA tokens against the node's /.well-known/jwks.json), and the
// node restarting its MediaMTX child during a publish, recovering when the publisher reconnects.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, NODE, NodeProcess, ensureFfmpeg, installMediamtx, liveNodeEnv, rtmpPublishArgs, runCapture, runFfmpeg, until } from "./peers.ts";

let dir = "";
let node: NodeProcess | null = null;
let url = "";
let adminUrl = "";
let rtmp = 0;
let ffmpeg = "";
const cli = (args: string[]) => runCapture(NODE, [BIN, ...args], 60_000);

type Ready = { components: { name: string; ready: boolean; detail: string }[] };
const mediamtx = async () => {
  const r = await fetch(`${url}/readyz`).catch(() => null);
  return r ? ((await r.json()) as Ready).components.find((c) => c.name === "mediamtx") : undefined;
};
const manifestCount = async (path: string) => {
  const r = await fetch(`${url}/live/${path}/manifest.json`);
  return r.status === 200 ? ((await r.json()) as { manifest: { count: number } }).manifest.count : 0;
};

beforeAll(async () => {
  const binary = installMediamtx();
  ffmpeg = ensureFfmpeg();
  dir = mkdtempSync(join(tmpdir(), "slowdrip-jwks-node-"));
  const live = await liveNodeEnv({ SLOWDRIP_NODE_LOG_LEVEL: "debug", SLOWDRIP_MEDIAMTX_AUTH: "jwks", SLOWDRIP_MEDIAMTX_BINARY: binary });
  ({ url, adminUrl, rtmp } = live);
  node = new NodeProcess(join(dir, "data"), live.env);
  await until(async () => (await mediamtx())?.ready, 30_000, "MediaMTX ready");
}, 900_000);

afterAll(async () => {
  await node?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("JWKS mode on the node", () => {
  it("MediaMTX accepts a node-issued token through the JWKS URL and refuses a publish without one, without the hook", async () => {
    const denied = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/live/j`, { seconds: 3 }), ffmpeg);
    expect(await denied.exited).not.toBe(0);
    const tok = await cli(["token", "issue", "--action", "publish", "--path", "live/j", "--data-dir", join(dir, "data")]);
    const run = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/live/j?token=${tok.stdout.trim()}`), ffmpeg);
    try {
      await until(async () => (await manifestCount("live/j")) >= 3, 30_000, "3 segments");
    } finally {
      await run.stop();
    }
    expect(node!.logs).not.toMatch(/mediamtx auth: (allowed|denied)/);
    const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
    expect(metrics, "MediaMTX fetched the node's JWKS").toMatch(/slowdrip_http_requests_total\{route="\/\.well-known\/jwks\.json",method="GET",status="200"\} [1-9]/);
  });
});

describe("MediaMTX restart under the node", () => {
  it("restarts the child after it dies mid-publish and ingests again once the publisher reconnects", async () => {
    const tok = (await cli(["token", "issue", "--action", "publish", "--path", "live/r", "--data-dir", join(dir, "data")])).stdout.trim();
    const first = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/live/r?token=${tok}`), ffmpeg);
    let second: ReturnType<typeof runFfmpeg> | undefined;
    try {
      await until(async () => (await manifestCount("live/r")) >= 4, 30_000, "4 segments");
      const pids = [...node!.logs.matchAll(/MediaMTX pid (\d+)/g)].map((m) => Number(m[1]));
      const pid = pids[pids.length - 1]!;
      process.kill(pid, "SIGKILL");
      await until(async () => /restarting/.test((await mediamtx())?.detail ?? ""), 10_000, "readyz reports the restart");
      await until(async () => (await mediamtx())?.ready, 20_000, "MediaMTX ready again");
      await first.exited;
      const before = await manifestCount("live/r");
      second = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/live/r?token=${tok}`), ffmpeg);
      await until(async () => (await manifestCount("live/r")) >= before + 2, 30_000, "segments after the reconnect");
      const m = (await (await fetch(`${url}/live/live/r/manifest.json`)).json()) as { manifest: { segments: { seq: number; disc: boolean }[] } };
      expect(m.manifest.segments.find((s) => s.seq === before)?.disc, `discontinuity at the reconnect (seq ${before}): ${JSON.stringify(m.manifest.segments.map((s) => [s.seq, s.disc]))}`).toBe(true);
    } finally {
      await first.stop();
      await second?.stop();
    }
    const id = Buffer.from(((await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: { x: string }[] }).keys[0]!.x, "base64url").toString("hex");
    const v = await cli(["stream", "verify", `${url}/live/live/r/`, "--creator", id]);
    expect(v.code, v.stderr).toBe(0);
  });
});
