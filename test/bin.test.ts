// The single executable: built by scripts/build-bin.mjs, run alone in an empty directory (no node_modules, no node).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBin, ELF_MACHINE, elfMachine, PKG as pkg, runAndProbe } from "./helpers/sea.ts";

let tmp: string;
let binDir: string;
let bin: string;
let check: string;
let buildOutput: string;

/** Environment of a machine without Node: no node_modules/.bin on PATH, a fresh HOME, nothing inherited. */
function bareEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: "/usr/bin:/bin", HOME: path.join(tmp, "home"), ...extra };
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "slowdrip-bin-"));
  fs.mkdirSync(path.join(tmp, "home"));
  binDir = path.join(tmp, "app");
  bin = path.join(binDir, "slowdrip");
  check = path.join(tmp, "check", "sea-lmdb-check");
  // The second binary bundles test/fixtures/sea-lmdb-check.ts with the same build (same lmdb embedding), so the
  // addon is exercised even while `run` does not open the store.
  [buildOutput] = await Promise.all([buildBin(["--output", bin]), buildBin(["--entry", "test/fixtures/sea-lmdb-check.ts", "--output", check])]);
}, 300_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("dist/slowdrip single executable", () => {
  it("is one self-contained file", () => {
    expect(fs.readdirSync(binDir)).toEqual(["slowdrip"]);
    expect(elfMachine(bin)).toBe(ELF_MACHINE[os.arch() as keyof typeof ELF_MACHINE]);
    expect(fs.statSync(bin).mode & 0o111).not.toBe(0);
  });

  it("bundles no source that looks for files beside itself (they would be missing from the executable)", () => {
    expect(buildOutput.split("\n").filter((l) => l.includes("warning"))).toEqual([]);
  });

  it("prints its version from an empty directory, on the pinned runtime, without the SEA warning", () => {
    const cwd = fs.mkdtempSync(path.join(tmp, "cwd-"));
    const r = spawnSync(bin, ["version", "--json"], { cwd, env: bareEnv(), encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ version: pkg.version, node: `v${pkg.devDependencies.node}`, arch: os.arch() });
    const human = spawnSync(bin, ["version"], { cwd, env: bareEnv(), encoding: "utf8" });
    expect(human.stdout).toContain(`slowdrip ${pkg.version}`);
  });

  it("fails with a one-line reason on an unknown command", () => {
    const r = spawnSync(bin, ["no-such-command"], { cwd: tmp, env: bareEnv(), encoding: "utf8" });
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("no-such-command");
  });

  it("runs a node that answers /healthz, stores a blob in LMDB through its own CLI, and exits 0 on SIGTERM", async () => {
    const cwd = fs.mkdtempSync(path.join(tmp, "cwd-"));
    const dataDir = path.join(tmp, "data");
    const file = path.join(cwd, "blob.bin");
    const data = Buffer.alloc(600_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 9)) & 0xff;
    fs.writeFileSync(file, data);
    const cli = (args: string[], url: string) => spawnSync(bin, ["blob", ...args, "--url", url, "--data-dir", dataDir], { cwd, env: bareEnv(), encoding: "utf8" });
    let stored = "";
    const r = await runAndProbe(bin, [], {
      cwd,
      env: bareEnv(),
      dataDir,
      whileUp: async (url, adminUrl) => {
        const ready = await fetch(`${url}/readyz`);
        expect(ready.status, await ready.clone().text()).toBe(200);
        const put = cli(["put", file], adminUrl);
        expect(put.status, put.stderr).toBe(0);
        stored = put.stdout.split(/\s+/)[0]!;
        expect(stored).toMatch(/^[0-9a-f]{64}$/);
        const ls = cli(["ls"], adminUrl);
        expect(ls.status, ls.stderr).toBe(0);
        expect(ls.stdout).toContain(stored);
        const out = path.join(cwd, "back.bin");
        const get = cli(["get", stored, "-o", out], adminUrl);
        expect(get.status, get.stderr).toBe(0);
        expect(fs.readFileSync(out).equals(data)).toBe(true);
      },
    });
    expect(r.healthz, `no 200 from /healthz; output:\n${r.output}`).toBe(200);
    expect(stored, r.output).not.toBe("");
    expect(fs.existsSync(path.join(dataDir, "keypair")), "identity created in --data-dir").toBe(true);
    expect({ code: r.code, signal: r.signal }, r.output).toEqual({ code: 0, signal: null });
  });
});

/** What test/fixtures/sea-lmdb-check.ts prints (the same as under plain Node with node_modules). */
const LMDB_CHECK = { bytes: [1, 2, 3, 255], textOk: true, count: 3, range: [["a", 1], ["b-é", 2]], after: ["a"] };

describe("lmdb inside the single executable", () => {
  it("loads the embedded addon, writes, compresses, reads and iterates, then reuses the extracted copy", () => {
    const cwd = fs.mkdtempSync(path.join(tmp, "cwd-"));
    const db = path.join(tmp, "lmdb");
    const first = spawnSync(check, [db], { cwd, env: bareEnv(), encoding: "utf8" });
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual(LMDB_CHECK);

    const nativeDir = path.join(tmp, "home", ".cache", "slowdrip", "native");
    const files = fs.readdirSync(nativeDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^lmdb-[0-9a-f]{16}\.node$/);
    const addon = path.join(nativeDir, files[0]!);
    expect(fs.statSync(addon).mode & 0o777).toBe(0o500);
    const ino = fs.statSync(addon).ino;

    const again = spawnSync(check, [db], { cwd, env: bareEnv(), encoding: "utf8" });
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual(LMDB_CHECK);
    expect(fs.statSync(addon).ino).toBe(ino);
  });

  it("extracts into systemd's CACHE_DIRECTORY when set", () => {
    const cache = path.join(tmp, "var-cache-slowdrip");
    fs.mkdirSync(cache, { mode: 0o700 });
    const r = spawnSync(check, [path.join(tmp, "lmdb2")], { cwd: tmp, env: bareEnv({ CACHE_DIRECTORY: cache }), encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readdirSync(path.join(cache, "native"))).toHaveLength(1);
  });

  it("fails with a clear error when no cache directory is usable", () => {
    const open = path.join(tmp, "world-writable");
    const inTmp = path.join(open, `slowdrip-${process.getuid!()}`);
    fs.mkdirSync(inTmp, { recursive: true });
    fs.chmodSync(open, 0o777);
    fs.chmodSync(inTmp, 0o777);
    const r = spawnSync(check, [path.join(tmp, "lmdb3")], {
      cwd: tmp,
      env: { PATH: "/usr/bin:/bin", CACHE_DIRECTORY: open, TMPDIR: open },
      encoding: "utf8",
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("cannot load native addon lmdb.node");
    expect(r.stderr).toContain("writable by group or others");
  });
});
