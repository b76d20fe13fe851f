// A creator other than the node: creator keygen/delegate/announce, the node signs under the delegation, viewers verify
// against the creator key alone; streams outside the delegation are not signed.
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
let logs = "";
let url = "";
let rtmp = 0;
let ffmpeg = "";
let creator = "";
let nodeId = "";
const cli = (args: string[]) => runCapture(NODE, [BIN, ...args], 60_000);

beforeAll(async () => {
  const binary = installMediamtx();
  ffmpeg = ensureFfmpeg();
  dir = mkdtempSync(join(tmpdir(), "slowdrip-creator-"));
  const kg = await cli(["keygen", "--output", join(dir, "data")]);
  expect(kg.code, kg.stderr).toBe(0);
  nodeId = kg.stdout.trim();
  const ck = await cli(["creator", "keygen", "--output", join(dir, "creator.key")]);
  expect(ck.code, ck.stderr).toBe(0);
  creator = ck.stdout.trim();
  const dg = await cli(["creator", "delegate", "--key", join(dir, "creator.key"), "--node", nodeId, "--stream", "live/c", "--until", "1d", "--output", join(dir, "delegation.json")]);
  expect(dg.code, dg.stderr).toBe(0);
  const an = await cli(["creator", "announce", "--key", join(dir, "creator.key"), "--stream", "live/c", "--title", "Creator's channel", "--output-dir", join(dir, "announces")]);
  expect(an.code, an.stderr).toBe(0);
  const port = await freePort();
  rtmp = await freePort();
  url = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    SLOWDRIP_API_LISTEN: `127.0.0.1:${port}`,
    SLOWDRIP_MEDIAMTX_BINARY: binary,
    SLOWDRIP_MEDIAMTX_API: `127.0.0.1:${await freePort()}`,
    SLOWDRIP_MEDIAMTX_METRICS: `127.0.0.1:${await freePort()}`,
    SLOWDRIP_MEDIAMTX_RTMP: `127.0.0.1:${rtmp}`,
    SLOWDRIP_MEDIAMTX_RTSP: "",
    SLOWDRIP_MEDIAMTX_SRT: "",
    SLOWDRIP_MEDIAMTX_WEBRTC: "",
    SLOWDRIP_MEDIAMTX_SEGMENT_DURATION: "1s",
    SLOWDRIP_LIVE_DELEGATION: join(dir, "delegation.json"),
    SLOWDRIP_LIVE_ANNOUNCE_DIR: join(dir, "announces"),
  };
  node = spawn(NODE, [BIN, "run", "--data-dir", join(dir, "data")], { env, stdio: ["ignore", "pipe", "pipe"] });
  node.stdout!.setEncoding("utf8").on("data", (c: string) => (logs += c));
  node.stderr!.setEncoding("utf8").on("data", (c: string) => (logs += c));
  await until(async () => {
    const r = await fetch(`${url}/readyz`).catch(() => null);
    const j = r ? ((await r.json()) as { components: { name: string; ready: boolean }[] }) : null;
    return j?.components.find((c) => c.name === "mediamtx")?.ready;
  }, 30_000, `node ready: ${logs.slice(-500)}`);
}, 900_000);

afterAll(async () => {
  if (node && node.exitCode === null) {
    const exited = new Promise((r) => node!.once("exit", r));
    node.kill("SIGTERM");
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function publish(path: string, until_: () => Promise<boolean>, what: string): Promise<void> {
  const tok = await cli(["token", "issue", "--action", "publish", "--path", path, "--data-dir", join(dir, "data")]);
  const run = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/${path}?token=${tok.stdout.trim()}`), ffmpeg);
  try {
    await until(until_, 30_000, what);
  } finally {
    await run.stop();
  }
}

describe("external creator", () => {
  it("the node signs under the creator's delegation; the stream verifies against the creator key only", async () => {
    await publish("live/c", async () => {
      const r = await fetch(`${url}/live/live/c/manifest.json`);
      return r.status === 200 && ((await r.json()) as { manifest: { count: number } }).manifest.count >= 4;
    }, "4 segments");
    const m = (await (await fetch(`${url}/live/live/c/manifest.json`)).json()) as { manifest: { creator: string; node: string }; delegation: { statement: { creator: string } } };
    expect(m.manifest).toMatchObject({ creator, node: nodeId });
    expect(m.delegation.statement.creator).toBe(creator);
    const a = (await (await fetch(`${url}/live/live/c/announce.json`)).json()) as { announce: { title: string; creator: string } };
    expect(a.announce).toMatchObject({ title: "Creator's channel", creator });
    const ok = await cli(["stream", "verify", `${url}/live/live/c/`, "--creator", creator]);
    expect(ok.code, ok.stderr).toBe(0);
    const wrong = await cli(["stream", "verify", `${url}/live/live/c/`, "--creator", nodeId]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/announce-creator/);
  });

  it("does not sign streams outside the delegation", async () => {
    await publish("live/other", async () => /not ingested/.test(logs) && /no delegation lets this node sign/.test(logs), "refusal logged");
    const r = await fetch(`${url}/live/live/other/manifest.json`);
    expect(r.status).toBe(404);
  });
});
