// The appliance build (build-bin.mjs --profile appliance): Node's permission model baked into the single executable.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBin, ROOT, runAndProbe } from "./helpers/sea.ts";

// One layout per test run, fixed into the executables at build time like /var/lib/slowdrip & co. in the image.
let tmp: string;
let bin: string;
let binChild: string;
let check: string;
let L: { data: string; cache: string; config: string; seg: string; elsewhere: string };

/** Environment of the appliance: nothing inherited; the lmdb addon goes to the cache dir (systemd's CacheDirectory=). */
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: "/usr/bin:/bin", HOME: path.join(tmp, "home"), CACHE_DIRECTORY: L.cache, ...extra };
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "slowdrip-perm-"));
  L = {
    data: path.join(tmp, "data"),
    cache: path.join(tmp, "cache"),
    config: path.join(tmp, "etc", "slowdrip.yaml"),
    seg: path.join(tmp, "seg"),
    elsewhere: path.join(tmp, "elsewhere"),
  };
  for (const d of [L.cache, path.dirname(L.config), L.seg, L.elsewhere, path.join(tmp, "home")]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  const profile = ["--profile", "appliance", "--data-dir", L.data, "--cache-dir", L.cache, "--config", L.config, "--write", L.seg];
  bin = path.join(tmp, "app", "slowdrip");
  binChild = path.join(tmp, "app-child", "slowdrip");
  check = path.join(tmp, "check", "sea-permission-check");
  await Promise.all([
    buildBin(["--output", bin, ...profile]),
    buildBin(["--output", binChild, ...profile, "--child-process"]),
    buildBin(["--output", check, "--entry", "test/fixtures/sea-permission-check.ts", ...profile]),
  ]);
}, 400_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs `slowdrip run` with the given flags until it exits (a refused config exits at once). */
function runRefused(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  return spawnSync(bin, ["run", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--set", "api.hooks_listen=127.0.0.1:0", ...args], {
    cwd: tmp,
    env: env(extraEnv),
    encoding: "utf8",
    timeout: 30_000,
  });
}

describe("build-bin.mjs --profile", () => {
  it("refuses path flags without the appliance profile and relative paths with it", async () => {
    await expect(buildBin(["--output", path.join(tmp, "x"), "--data-dir", "/srv"])).rejects.toThrow(/--data-dir needs --profile appliance/);
    await expect(buildBin(["--output", path.join(tmp, "x"), "--profile", "appliance", "--write", "rel/dir"])).rejects.toThrow(/--write must be an absolute path/);
    await expect(buildBin(["--output", path.join(tmp, "x"), "--profile", "kiosk"])).rejects.toThrow(/--profile must be default or appliance/);
  });

  it("refuses a layout where one granted path's name begins with another's (Node's permission model then denies the shorter one)", async () => {
    // Measured on Node 26.10: with /var/lib/slowdrip/* and /var/lib/slowdrip-mediamtx/* granted, stat, readdir and
    // mkdir of /var/lib/slowdrip itself are refused. The shipped layout (/var/lib/mediamtx-slowdrip) avoids it.
    const r = spawnSync(process.execPath, ["--permission", "--allow-fs-read=/var/lib/sd-x/*", "--allow-fs-read=/var/lib/sd-x-y/*", "-e", "console.log(process.permission.has('fs.read', '/var/lib/sd-x'), process.permission.has('fs.read', '/var/lib/sd-x/a'))"], { encoding: "utf8" });
    expect(r.stdout.trim(), "if this prints 'true true', Node fixed it and the refusal below can go").toBe("false true");
    await expect(buildBin(["--output", path.join(tmp, "x"), "--profile", "appliance", "--data-dir", "/var/lib/sd", "--write", "/var/lib/sd-mediamtx"])).rejects.toThrow(/\/var\/lib\/sd-mediamtx begins with \/var\/lib\/sd: /);
    await expect(buildBin(["--output", path.join(tmp, "x"), "--profile", "appliance", "--config", "/etc/sd.yaml", "--read", "/etc/sd.yaml.d"])).rejects.toThrow(/begins with \/etc\/sd.yaml/);
  });
});

describe("appliance build", () => {
  it("starts without security warnings and ignores NODE_OPTIONS (execArgvExtension none)", () => {
    const r = spawnSync(bin, ["version", "--json"], { cwd: tmp, env: env({ NODE_OPTIONS: "--no-permission --allow-fs-write=*" }), encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    // Node options on the command line are the command's arguments, not the runtime's.
    const cli = spawnSync(bin, ["--no-permission", "version"], { cwd: tmp, env: env(), encoding: "utf8" });
    expect(cli.status).not.toBe(0);
    expect(cli.stderr).toContain("--no-permission");
  });

  it("refuses a data dir outside the one it was built for, with the rules in one line, even with NODE_OPTIONS=--no-permission", () => {
    const dataDir = path.join(L.elsewhere, "data");
    for (const extra of [{}, { NODE_OPTIONS: "--no-permission" }, { NODE_OPTIONS: `--allow-fs-write=${L.elsewhere}` }]) {
      const r = runRefused(["--data-dir", dataDir, "--set", "mediamtx.manage=off"], extra);
      expect(r.status, r.stderr).toBe(1);
      const lines = r.stderr.trim().split("\n");
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain(`node.data_dir ${dataDir} is not writable`);
      expect(lines[0]).toContain(`may write only ${L.data}, ${L.cache}, ${L.seg}`);
      expect(r.stdout).toBe("");
    }
    expect(fs.existsSync(dataDir), "nothing was created").toBe(false);
  });

  it("refuses a segment dir outside its writable paths", () => {
    const r = runRefused(["--data-dir", L.data, "--set", "mediamtx.manage=systemd", "--set", `mediamtx.record_dir=${L.elsewhere}`]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain(`mediamtx.record_dir ${L.elsewhere} is not writable`);
  });

  it("refuses MediaMTX as a child when built without --child-process", () => {
    const r = runRefused(["--data-dir", L.data, "--set", "mediamtx.manage=child"]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain("mediamtx.manage child needs child processes, which this build does not allow");
  });

  it("refuses a --config it was not built to read with a clear error", () => {
    const other = path.join(L.elsewhere, "other.yaml");
    fs.writeFileSync(other, "node:\n  log_level: debug\n");
    const r = runRefused(["--config", other, "--data-dir", L.data, "--set", "mediamtx.manage=off"]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain(`read of ${other} is not allowed`);
  });

  it("hashes files it may read (the BLAKE3 pool) and names the rule for one it may not", () => {
    const ok = path.join(L.seg, "hash-me.bin");
    fs.writeFileSync(ok, Buffer.alloc(20 * 1024 * 1024, 7));
    const secret = path.join(L.elsewhere, "hash-secret");
    fs.writeFileSync(secret, "x");
    const r = spawnSync(bin, ["hash", ok, secret], { cwd: tmp, env: env(), encoding: "utf8" });
    const ref = spawnSync(process.execPath, [path.join(ROOT, "dist/slowdrip.mjs"), "hash", ok], { encoding: "utf8" });
    expect(r.stdout).toBe(ref.stdout);
    expect(r.stderr.trim()).toMatch(new RegExp(`^slowdrip hash: ${secret}: read of ${secret} is not allowed: this slowdrip build runs under Node's permission model`));
    expect(r.status).not.toBe(0);
  });

  it("serves /readyz, stores and hashes blobs, drops rights after start-up, and its CLI may not write elsewhere", async () => {
    fs.writeFileSync(L.config, "node:\n  log_format: json\nmediamtx:\n  manage: systemd\n");
    const data = Buffer.alloc(3 * 1024 * 1024 + 123);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 11)) & 0xff;
    const file = path.join(L.seg, "blob.bin");
    fs.writeFileSync(file, data);
    // The working directory is one the build may not read (so the hashing workers must not get it, see run.ts).
    const cwd = fs.mkdtempSync(path.join(tmp, "cwd-"));
    const cli = (args: string[], url: string) => spawnSync(bin, [...args, "--url", url, "--data-dir", L.data], { cwd, env: env(), encoding: "utf8" });
    let stored = "";
    const r = await runAndProbe(bin, [], {
      cwd,
      env: env({ SLOWDRIP_CONFIG: L.config, SLOWDRIP_MEDIAMTX_RECORD_DIR: L.seg }),
      dataDir: L.data,
      whileUp: async (url, adminUrl) => {
        const ready = await fetch(`${url}/readyz`);
        expect(ready.status, await ready.clone().text()).toBe(200);
        const put = cli(["blob", "put", file], adminUrl);
        expect(put.status, put.stderr).toBe(0);
        stored = put.stdout.split(/\s+/)[0]!;
        const stat = cli(["blob", "stat", stored, "--json"], adminUrl);
        expect(JSON.parse(stat.stdout).sha256, stat.stderr).toBe(createHash("sha256").update(data).digest("hex"));
        const back = path.join(L.seg, "back.bin");
        const get = cli(["blob", "get", stored, "-o", back], adminUrl);
        expect(get.status, get.stderr).toBe(0);
        expect(fs.readFileSync(back).equals(data)).toBe(true);
        // The same binary's CLI is held to the same rules.
        const outside = path.join(L.elsewhere, "out.bin");
        const refused = cli(["blob", "get", stored, "-o", outside], adminUrl);
        expect(refused.status).not.toBe(0);
        expect(refused.stderr.trim().split("\n")).toHaveLength(1);
        expect(refused.stderr).toContain(`write to ${outside}.part is not allowed`);
        expect(fs.existsSync(outside)).toBe(false);
      },
    });
    expect(r.healthz, r.output).toBe(200);
    expect({ code: r.code, signal: r.signal }, r.output).toEqual({ code: 0, signal: null });
    // Same content address as the developer build's hasher (plain node, no permission model).
    const ref = spawnSync(process.execPath, [path.join(ROOT, "dist/slowdrip.mjs"), "hash", file], { encoding: "utf8" });
    expect(stored).toBe(ref.stdout.split(/\s+/)[0]);
    const dropped = r.output
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { msg: string; dropped?: string[] })
      .find((l) => l.msg === "permissions dropped after start-up");
    expect(dropped?.dropped, r.output).toEqual([`fs.read ${L.config}`, `fs.write ${L.cache}`]);
  });

  it("drops child processes after start-up when MediaMTX is not its child (build with --child-process)", async () => {
    const dataDir = path.join(L.data, "child-build");
    const r = await runAndProbe(binChild, [], { cwd: tmp, env: env({ SLOWDRIP_MEDIAMTX_MANAGE: "off", SLOWDRIP_NODE_LOG_FORMAT: "json" }), dataDir });
    expect(r.healthz, r.output).toBe(200);
    expect(r.output).toMatch(/"dropped":\[[^\]]*"child"\]/);
  });
});

describe("worker threads and children under the appliance build", () => {
  it("workers inherit the model, the hashing pool works with its rights dropped, children are refused", () => {
    const forbidden = path.join(L.elsewhere, "secret");
    const allowed = path.join(L.seg, "allowed");
    fs.writeFileSync(forbidden, "secret");
    fs.writeFileSync(allowed, "allowed");
    // A working directory the build may not read, holding a file: Node 26 lets workers read it unless run.ts moves.
    const cwd = fs.mkdtempSync(path.join(tmp, "cwd-"));
    fs.writeFileSync(path.join(cwd, "in-cwd"), "x");
    const big = path.join(L.seg, "big.bin");
    const bytes = Buffer.alloc(24 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = (i >> 12) & 0xff;
    fs.writeFileSync(big, bytes);
    const r = spawnSync(check, [forbidden, allowed, path.join(cwd, "in-cwd"), path.join(L.data, "fixture"), big], { cwd, env: env(), encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const ref = spawnSync(process.execPath, [path.join(ROOT, "dist/slowdrip.mjs"), "hash", big], { encoding: "utf8" });
    expect(JSON.parse(r.stdout)).toEqual({
      permission: "object",
      mainForbidden: "ERR_ACCESS_DENIED",
      workerForbidden: "ERR_ACCESS_DENIED",
      workerAllowed: "read",
      child: "ERR_ACCESS_DENIED",
      workerCwdAfterEnter: "ERR_ACCESS_DENIED",
      blake3: ref.stdout.split(/\s+/)[0],
    });
  });
});
