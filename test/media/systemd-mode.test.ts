// mediamtx.manage: systemd - the node renders <data_dir>/mediamtx.yml and only watches; MediaMTX is started from that
// file by someone else (here the test, as slowdrip-mediamtx.path/.service would), and the live pipeline works. Both run
// as the shipped units run them: the node as user slowdrip, MediaMTX as slowdrip-mediamtx, sharing group slowdrip, each
// with its unit's UMask= and in state directories with the units' owners and modes. MediaMTX can read its rendered config and nothing
// else of the node's: not the money database, not the keys.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { BIN, NODE, ROOT, ensureFfmpeg, installMediamtx, liveNodeEnv, rtmpPublishArgs, runCapture, runFfmpeg, until, waitMediamtxReady } from "./peers.ts";

/** `Key=` of a shipped unit's [Service] section. */
function unitSetting(unit: string, key: string): string {
  const m = new RegExp(`^${key}=(.*)$`, "m").exec(readFileSync(join(ROOT, "systemd", unit), "utf8"));
  if (!m) throw new Error(`systemd/${unit} has no ${key}=`);
  return m[1]!.trim();
}
const NODE_UNIT = "slowdrip.service";
const MTX_UNIT = "slowdrip-mediamtx.service";

// Numeric stand-ins for the users of systemd/slowdrip.sysusers.conf (no passwd entries needed to run as them).
const NODE_UID = 64_201; // slowdrip
const MTX_UID = 64_202; // slowdrip-mediamtx
const GID = 64_200; // group slowdrip

let dir = "";
let data = "";
let node: ChildProcess | null = null;
let nodeLogs = "";
let mtx: ChildProcess | null = null;
let url = "";
let rtmp = 0;
let ffmpeg = "";
let binary = "";

const stop = async (c: ChildProcess | null, sig: NodeJS.Signals = "SIGTERM") => {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once("exit", r));
  c.kill(sig);
  await exited;
};

/** Runs `argv` as `uid`:GID with `umask`, as a unit with User=, Group= and UMask= would. */
function asUser(uid: number, umask: string, argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdio?: "ignore" | "pipe" } = {}): ChildProcess {
  return spawn("sh", ["-c", `umask ${umask} && exec "$0" "$@"`, ...argv], { uid, gid: GID, cwd: opts.cwd ?? "/", env: opts.env ?? {}, stdio: ["ignore", opts.stdio ?? "ignore", opts.stdio ?? "ignore"] });
}

/** Can the MediaMTX user open `file` for reading (or list it, for a directory)? */
function mediamtxCanRead(file: string): boolean {
  const cmd = statSync(file).isDirectory() ? 'ls "$0" > /dev/null' : 'cat "$0" > /dev/null';
  return spawnSync("sh", ["-c", cmd, file], { uid: MTX_UID, gid: GID, stdio: "ignore" }).status === 0;
}

function filesUnder(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [join(d, e.name), ...filesUnder(join(d, e.name))] : e.isFile() ? [join(d, e.name)] : []));
}

beforeAll(async () => {
  ffmpeg = ensureFfmpeg();
  dir = mkdtempSync(join(tmpdir(), "slowdrip-systemd-mode-"));
  chmodSync(dir, 0o755);
  // /usr/local/bin/mediamtx: readable and executable by every user (the build cache under $HOME is not).
  binary = join(dir, "mediamtx");
  copyFileSync(installMediamtx(), binary);
  chmodSync(binary, 0o755);
  // StateDirectory= of each unit, with its owner and StateDirectoryMode=.
  data = join(dir, "data");
  mkdirSync(data);
  chmodSync(data, parseInt(unitSetting(NODE_UNIT, "StateDirectoryMode"), 8));
  chownSync(data, NODE_UID, GID);
  const state = join(dir, "mediamtx-state");
  mkdirSync(state);
  chmodSync(state, parseInt(unitSetting(MTX_UNIT, "StateDirectoryMode"), 8));
  chownSync(state, MTX_UID, GID);
  const live = await liveNodeEnv({ SLOWDRIP_MEDIAMTX_MANAGE: "systemd", SLOWDRIP_MEDIAMTX_RECORD_DIR: join(state, "segments") });
  ({ url, rtmp } = live);
  node = asUser(NODE_UID, unitSetting(NODE_UNIT, "UMask"), [NODE, BIN, "run", "--data-dir", data], { env: { ...live.env, HOME: data }, stdio: "pipe" });
  node.stdout!.setEncoding("utf8").on("data", (c: string) => (nodeLogs += c));
  node.stderr!.setEncoding("utf8").on("data", (c: string) => (nodeLogs += c));
}, 900_000);

afterAll(async () => {
  await stop(mtx, "SIGKILL");
  await stop(node);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("systemd mode", () => {
  it("renders mediamtx.yml for the unit, waits for MediaMTX without spawning it, then ingests and verifies; MediaMTX can read nothing else", async () => {
    const conf = join(data, "mediamtx.yml");
    await until(() => existsSync(conf), 20_000, `rendered mediamtx.yml (node logs: ${nodeLogs})`);
    expect(statSync(conf).mode & 0o777).toBe(0o640);
    await until(async () => {
      const r = await fetch(`${url}/readyz`).catch(() => null);
      const j = r ? ((await r.json()) as { components: { name: string; ready: boolean; detail: string }[] }) : null;
      return j?.components.find((c) => c.name === "mediamtx" && !c.ready && /systemd/.test(c.detail));
    }, 10_000, "readyz: systemd MediaMTX not up yet");
    expect(nodeLogs).not.toMatch(/MediaMTX pid \d+ starting/);

    // What slowdrip-mediamtx.service does: run MediaMTX on the node's rendered file, as its own user.
    // systemd gives services a PATH (MediaMTX runs bash with the node's hook script for each segment) and little else.
    mtx = asUser(MTX_UID, unitSetting(MTX_UNIT, "UMask"), [binary, conf], { cwd: join(dir, "mediamtx-state"), env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, stdio: "pipe" });
    let mtxLogs = "";
    mtx.stdout!.setEncoding("utf8").on("data", (c: string) => (mtxLogs += c));
    mtx.stderr!.setEncoding("utf8").on("data", (c: string) => (mtxLogs += c));
    await waitMediamtxReady(url, 20_000);

    const tok = await runCapture(NODE, [BIN, "token", "issue", "--action", "publish", "--path", "live/s", "--data-dir", data], 30_000);
    expect(tok.code, tok.stderr).toBe(0);
    const run = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${rtmp}/live/s?token=${tok.stdout.trim()}`), ffmpeg);
    try {
      await until(async () => {
        const r = await fetch(`${url}/live/live/s/manifest.json`);
        return r.status === 200 && ((await r.json()) as { manifest: { count: number } }).manifest.count >= 3;
      }, 30_000, "3 segments");
    } catch (e) {
      throw new Error(`${(e as Error).message}\nMediaMTX: ${mtxLogs.slice(-4000)}\nnode: ${nodeLogs.slice(-4000)}\nffmpeg: ${run.stderr()}`);
    } finally {
      await run.stop();
    }
    const jwks = (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: { x: string }[] };
    const v = await runCapture(NODE, [BIN, "stream", "verify", `${url}/live/live/s/`, "--creator", Buffer.from(jwks.keys[0]!.x, "base64url").toString("hex")], 60_000);
    expect(v.code, v.stderr).toBe(0);

    // The money database is the node's alone: db/ 0700, its files 0600, and the MediaMTX user can open none of it.
    const db = join(data, "db");
    expect((statSync(db).mode & 0o777).toString(8)).toBe("700");
    expect(statSync(db).uid).toBe(NODE_UID);
    for (const f of readdirSync(db)) expect(`${f} ${(statSync(join(db, f)).mode & 0o777).toString(8)}`).toBe(`${f} 600`);
    expect(mediamtxCanRead(db)).toBe(false);
    expect(mediamtxCanRead(join(db, "data.mdb"))).toBe(false);
    // Of everything the node keeps, MediaMTX reads only its rendered config and the segment hook script it names
    // (which it ran as its own user above: the segments were ingested through it, not through curl).
    const readable = filesUnder(data).filter(mediamtxCanRead).map((f) => relative(data, f));
    expect(readable.sort()).toEqual(["mediamtx-segment-hook.sh", "mediamtx.yml"]);
    expect(readFileSync(conf, "utf8")).toContain(`runOnRecordSegmentComplete: "bash '${join(data, "mediamtx-segment-hook.sh")}'`);
    for (const secret of ["keypair", "admin.token", "db/data.mdb", "db/lock.mdb"]) expect(existsSync(join(data, secret)), secret).toBe(true);

    // The node going away leaves the systemd-managed MediaMTX running.
    await stop(node);
    expect(mtx.exitCode).toBe(null);
  }, 180_000);
});
