// MediaMTX installer from a given source: a release tarball or a bare binary, the sha256 check, bad sources.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { c as tarCreate } from "tar";
import { ROOT, installMediamtx, runCapture } from "./peers.ts";

let binary = "";
let dir = "";
let sha = "";
beforeAll(async () => {
  binary = installMediamtx();
  sha = createHash("sha256").update(readFileSync(binary)).digest("hex");
  dir = mkdtempSync(join(tmpdir(), "slowdrip-installer-"));
  mkdirSync(join(dir, "rel"));
  copyFileSync(binary, join(dir, "rel/mediamtx"));
  writeFileSync(join(dir, "rel/mediamtx.yml"), "# sample\n");
  await tarCreate({ gzip: true, file: join(dir, "mediamtx_v1.21.0_linux_amd64.tar.gz"), cwd: join(dir, "rel") }, ["mediamtx", "mediamtx.yml"]);
  writeFileSync(join(dir, "not-a-binary"), "hello");
}, 900_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("mediamtx-install --source", () => {
  it("installs from a release tarball into the cache with a record, and a second run reuses it", async () => {
    const cache = join(dir, "cache1");
    const run = (args: string[]) => runCapture("env", [`XDG_CACHE_HOME=${cache}`, join(ROOT, "node_modules/.bin/node"), join(ROOT, "scripts/mediamtx-install.mjs"), ...args], 120_000);
    const src = join(dir, "mediamtx_v1.21.0_linux_amd64.tar.gz");
    const r = await run(["--source", src, "--sha256", sha]);
    expect(r.code, r.stderr).toBe(0);
    const path = r.stdout.trim().split("\n").pop()!;
    expect(path).toBe(join(cache, "slowdrip/mediamtx/v1.21.0/mediamtx"));
    const rec = JSON.parse(readFileSync(join(cache, "slowdrip/mediamtx/v1.21.0/install.json"), "utf8"));
    expect(rec).toMatchObject({ version: "v1.21.0", sha256: sha, source: src });
    const again = await run(["--source", src]);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toMatch(/installed/);
  });

  it("refuses a wrong sha256, a non-binary and a missing source, installing nothing", async () => {
    const cache = join(dir, "cache2");
    const run = (args: string[]) => runCapture("env", [`XDG_CACHE_HOME=${cache}`, join(ROOT, "node_modules/.bin/node"), join(ROOT, "scripts/mediamtx-install.mjs"), ...args], 120_000);
    const cases: [string, string[], RegExp][] = [
      ["wrong sha256", ["--source", binary, "--sha256", "0".repeat(64)], /sha256 of .* is [0-9a-f]{64}, expected 0{64}/],
      ["not a binary", ["--source", join(dir, "not-a-binary")], /neither an ELF binary nor a \.tar\.gz release/],
      ["missing", ["--source", join(dir, "nope")], /does not exist/],
      ["old version", ["--version", "v1.15.0"], /not a MediaMTX v1\.20\+ release/],
    ];
    for (const [name, args, want] of cases) {
      const r = await run(args);
      expect(r.code, name).toBe(1);
      expect(r.stderr, name).toMatch(want);
    }
    const left = await runCapture("find", [cache, "-name", "mediamtx", "-type", "f"], 10_000);
    expect(left.stdout.trim()).toBe("");
  });
});
