// A creator other than the node: creator keygen/delegate/announce, the node signs under the delegation, viewers verify
// against the creator key alone; streams outside the delegation are not signed.
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
  const live = await liveNodeEnv({
    SLOWDRIP_MEDIAMTX_BINARY: binary,
    SLOWDRIP_LIVE_DELEGATION: join(dir, "delegation.json"),
    SLOWDRIP_LIVE_ANNOUNCE_DIR: join(dir, "announces"),
  });
  ({ url, rtmp } = live);
  node = new NodeProcess(join(dir, "data"), live.env);
  await waitMediamtxReady(url);
}, 900_000);

afterAll(async () => {
  await node?.stop();
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
    await publish("live/other", async () => /not ingested/.test(node!.logs) && /no delegation lets this node sign/.test(node!.logs), "refusal logged");
    const r = await fetch(`${url}/live/live/other/manifest.json`);
    expect(r.status).toBe(404);
  });
});
