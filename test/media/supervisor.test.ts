// MediaSupervisor against real MediaMTX: not installed, crash loop with growing back-off, external mode watching.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MediaMtxApi } from "../../src/media/api.ts";
import { loadTemplate, renderMediamtxConfig } from "../../src/media/config.ts";
import { MediaSupervisor, type MediaStatus } from "../../src/media/supervisor.ts";
import { freePort, installMediamtx, until } from "./peers.ts";

let binary = "";
let dir = "";
beforeAll(() => {
  binary = installMediamtx();
  dir = mkdtempSync(join(tmpdir(), "slowdrip-sup-"));
}, 900_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function config(name: string): Promise<{ path: string; api: MediaMtxApi }> {
  const apiPort = await freePort();
  const path = join(dir, name);
  writeFileSync(path, renderMediamtxConfig(loadTemplate(), {
    apiAddress: `127.0.0.1:${apiPort}`,
    metricsAddress: `127.0.0.1:${await freePort()}`,
    auth: { mode: "http", hookUrl: "http://127.0.0.1:1/auth" },
    rtmp: `127.0.0.1:${await freePort()}`,
    rtsp: null,
    hls: null,
    webrtc: null,
    srt: null,
    recordDir: join(dir, "seg"),
    segmentSeconds: 1,
    segmentHookUrl: "http://127.0.0.1:1/segment",
  }));
  return { path, api: new MediaMtxApi({ baseUrl: `http://127.0.0.1:${apiPort}`, timeoutMs: 500 }) };
}

describe("MediaSupervisor", () => {
  it("reports a missing binary with the install hint and does not spawn", async () => {
    const { path, api } = await config("a.yml");
    const sup = new MediaSupervisor({ mode: "child", api, binary: join(dir, "nope/mediamtx"), configPath: path });
    sup.start();
    expect(sup.status()).toMatchObject({ state: "not-installed", pid: null });
    expect(sup.status().detail).toMatch(/npm run mediamtx:install/);
    await sup.stop();
  });

  it("restarts a crashing MediaMTX with a growing back-off and names its error", async () => {
    const { path, api } = await config("bad.yml");
    writeFileSync(path, "logLevel: info\nnotAKey: 1\n");
    const states: MediaStatus[] = [];
    const sup = new MediaSupervisor({ mode: "child", api, binary, configPath: path, initialBackoffMs: 100, pollMs: 100 });
    sup.on("state", (s: MediaStatus) => states.push(s));
    sup.start();
    await until(() => sup.status().restarts >= 3, 15_000, "three restarts");
    await sup.stop();
    const delays = states.map((s) => /restarting in (\d+) ms/.exec(s.detail)?.[1]).filter(Boolean).map(Number);
    expect(delays.slice(0, 3)).toEqual([100, 200, 400]);
    expect(states.find((s) => /restarting in/.test(s.detail))?.detail).toMatch(/notAKey|json: unknown field|error/i);
    expect(sup.status().state).toBe("stopped");
  });

  it("external mode only watches: ready while the API answers, unreachable after it stops", async () => {
    const { path, api } = await config("ext.yml");
    const child = spawn(binary, [path], { stdio: "ignore" });
    const sup = new MediaSupervisor({ mode: "external", api, pollMs: 100 });
    try {
      sup.start();
      await sup.waitReady(15_000);
      expect(sup.status()).toMatchObject({ mode: "external", state: "ready", pid: null, version: "v1.21.0" });
      child.kill("SIGTERM");
      await until(() => sup.status().state === "unreachable", 10_000, "unreachable");
    } finally {
      child.kill("SIGKILL");
      await sup.stop();
    }
  });

  it("child mode does not mistake another MediaMTX on its API port for its own child", async () => {
    const { path, api } = await config("taken.yml");
    const other = spawn(binary, [path], { stdio: "ignore" });
    const states: MediaStatus[] = [];
    const sup = new MediaSupervisor({ mode: "child", api, binary, configPath: path, initialBackoffMs: 200, pollMs: 100 });
    sup.on("state", (s: MediaStatus) => states.push(s));
    try {
      await until(() => api.info().then(() => true, () => false), 10_000, "the other MediaMTX answers");
      await new Promise((r) => setTimeout(r, 2000));
      sup.start();
      await until(() => sup.status().restarts >= 2, 15_000, "our child crash-loops on the taken ports");
      expect(states.map((s) => s.state)).not.toContain("ready");
    } finally {
      await sup.stop();
      other.kill("SIGKILL");
    }
  });
});
