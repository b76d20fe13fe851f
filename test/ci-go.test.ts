// .ci/run checks for Go >= 1.26 (the MediaMTX and promtool builds need it) before anything else and fails at once without it.
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, tempDir } from "./helpers/node.ts";

/** Runs a copy of .ci/run in an empty checkout (so that nothing past the Go check can touch this one) with $GO set. */
function ciRun(goVersion: string | undefined) {
  const dir = tempDir("slowdrip-ci-");
  mkdirSync(join(dir, ".ci"));
  copyFileSync(join(ROOT, ".ci/run"), join(dir, ".ci/run"));
  let go = join(dir, "no-such-go");
  if (goVersion !== undefined) {
    go = join(dir, "go");
    writeFileSync(go, `#!/bin/sh\n[ "$1 $2" = "env GOVERSION" ] && echo ${goVersion}\n`);
    chmodSync(go, 0o755);
  }
  const r = spawnSync("bash", [join(dir, ".ci/run")], { encoding: "utf8", env: { ...process.env, GO: go }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, go };
}

describe(".ci/run and Go", () => {
  it.each(["go1.25.9", "go1.9", "devel"])("refuses %s at once, naming the version it needs and what it found", (v) => {
    const r = ciRun(v);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`Go >= 1.26 is required to build MediaMTX and promtool (found ${v} at ${r.go})`);
    expect(r.stdout.trim().split("\n").at(-1)).toBe("0 passed, 1 failed");
    expect(r.stdout).not.toContain("==> npm ci");
  });

  it("refuses a machine without Go", () => {
    const r = ciRun(undefined);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("Go >= 1.26 is required to build MediaMTX and promtool (none found)");
    expect(r.stderr).toContain("https://go.dev/dl/");
  });

  it("goes on with Go 1.26 (to npm ci, which fails in the empty checkout)", () => {
    const r = ciRun("go1.26.0");
    expect(r.stdout).toContain(`==> Go: go1.26.0 (${r.go})`);
    expect(r.stdout).toContain("==> npm ci");
  });
});
