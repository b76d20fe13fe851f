// The arm64 single executable, cross-built on x64 (`build-bin.mjs --arch arm64`) and run under qemu-user emulation.
// Needs the Debian packages qemu-user, libc6-arm64-cross, libstdc++6-arm64-cross, libatomic1-arm64-cross and
// binutils-aarch64-linux-gnu (installed by .ci/run); the arm64 runtime and lmdb prebuild are fetched by the build
// script with `npm pack` (registry access, about 50 MB, cached in ~/.cache/slowdrip/sea).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBin, ELF_MACHINE, elfMachine, PKG, runAndProbe } from "./helpers/sea.ts";
import { ROOT } from "./helpers/node.ts";

const QEMU = "qemu-aarch64";
const SYSROOT = "/usr/aarch64-linux-gnu";

let tmp: string;
let bin: string;
let check: string;

function bareEnv(): NodeJS.ProcessEnv {
  return { PATH: "/usr/bin:/bin", HOME: path.join(tmp, "home") };
}

function emulate(file: string, args: string[]) {
  return spawnSync(QEMU, ["-L", SYSROOT, file, ...args], { cwd: tmp, env: bareEnv(), encoding: "utf8", timeout: 120_000 });
}

beforeAll(async () => {
  const probe = spawnSync(QEMU, ["-version"], { encoding: "utf8" });
  if (probe.error || !fs.existsSync(path.join(SYSROOT, "lib/libstdc++.so.6"))) {
    throw new Error(`${QEMU} and an arm64 sysroot in ${SYSROOT} are required (apt-get install qemu-user libc6-arm64-cross libstdc++6-arm64-cross libatomic1-arm64-cross binutils-aarch64-linux-gnu)`);
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "slowdrip-bin-arm64-"));
  fs.mkdirSync(path.join(tmp, "home"));
  bin = path.join(tmp, "app", "slowdrip");
  check = path.join(tmp, "check", "sea-lmdb-check");
  await buildBin(["--arch", "arm64", "--output", bin]);
  await buildBin(["--arch", "arm64", "--entry", "test/fixtures/sea-lmdb-check.ts", "--output", check]);
}, 600_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("arm64 single executable (qemu-user)", () => {
  it("is an aarch64 ELF executable", () => {
    expect(elfMachine(bin)).toBe(ELF_MACHINE.arm64);
    expect(elfMachine(check)).toBe(ELF_MACHINE.arm64);
  });

  it("prints its version on the pinned arm64 runtime", () => {
    const r = emulate(bin, ["version", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ version: PKG.version, node: `v${PKG.devDependencies.node}`, arch: "arm64" });
  });

  it("loads the embedded arm64 lmdb addon", () => {
    const r = emulate(check, [path.join(tmp, "lmdb")]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ bytes: [1, 2, 3, 255], textOk: true, count: 3, range: [["a", 1], ["b-é", 2]], after: ["a"] });
  });

  it("computes the same straw2 placements and placement groups as x64", () => {
    const members = Array.from({ length: 9 }, (_, i) => ({ id: `miner-${i}`, family: `rack-${i % 7}`, weight: [1, 2.5, 4][i % 3] }));
    const file = path.join(tmp, "members.json");
    fs.writeFileSync(file, JSON.stringify(members));
    const fileHash = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";
    for (const args of [["--pg-count", "512"], ["--pg-count", "16384", "--file", fileHash, "--stripes", "32"]]) {
      const argv = ["cluster", "place", "--members", file, ...args];
      const x64 = spawnSync(process.execPath, [path.join(ROOT, "dist/slowdrip.mjs"), ...argv], { encoding: "utf8", maxBuffer: 64 << 20 });
      expect(x64.status, x64.stderr).toBe(0);
      const arm = emulate(bin, argv);
      expect(arm.status, arm.stderr).toBe(0);
      expect(x64.stdout.split("\n").length).toBeGreaterThan(32);
      expect(arm.stdout, `arm64 and x64 differ for ${args.join(" ")}`).toBe(x64.stdout);
    }
  }, 300_000);

  it("runs a node that answers /healthz and exits 0 on SIGTERM", async () => {
    const dataDir = path.join(tmp, "data");
    const r = await runAndProbe(QEMU, ["-L", SYSROOT, bin], { cwd: tmp, env: bareEnv(), dataDir, waitMs: 60_000 });
    expect(r.healthz, `no 200 from /healthz; output:\n${r.output}`).toBe(200);
    expect({ code: r.code, signal: r.signal }, r.output).toEqual({ code: 0, signal: null });
  });
});
