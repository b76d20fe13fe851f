// Ownership records of the store: this process is running; a dead pid, another boot or another start time are not;
// a pid that refuses signal 0 to a checker of the record's own user belongs to someone else now. That last case runs
// the check in a real child process as the user `nobody` (uid 65534) against pids of root's processes (the tests run as
// root, as the README says).
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { transformSync } from "esbuild";
import { afterAll, describe, expect, it } from "vitest";
import { currentProcess, isRunning, type ProcessIdentity } from "./owner.ts";

const NOBODY = 65534;
// `nobody` may not reach the checkout (a clone under /root, say): the module, compiled to JS, and if need be the
// runtime go to a world-readable temp dir.
const dir = mkdtempSync(join(tmpdir(), "slowdrip-owner-"));
chmodSync(dir, 0o755);
const ownerModule = join(dir, "owner.mjs");
writeFileSync(ownerModule, transformSync(readFileSync(new URL("./owner.ts", import.meta.url), "utf8"), { loader: "ts", format: "esm" }).code, { mode: 0o644 });
let runtime = process.execPath;
if (spawnSync(runtime, ["--version"], { uid: NOBODY, gid: NOBODY, cwd: "/" }).status !== 0) {
  runtime = join(dir, "node");
  copyFileSync(process.execPath, runtime);
  chmodSync(runtime, 0o755);
}
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** isRunning(record) evaluated in a child process running as `nobody`. */
function isRunningAsNobody(record: ProcessIdentity): boolean {
  const code = `import { isRunning } from ${JSON.stringify(ownerModule)}; console.log(JSON.stringify(isRunning(${JSON.stringify(record)})));`;
  const r = spawnSync(runtime, ["--input-type=module", "-e", code], { uid: NOBODY, gid: NOBODY, encoding: "utf8", cwd: "/" });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim()) as boolean;
}

describe("store owner records", () => {
  it("names this process, with boot id, start time and user, and finds it running", () => {
    const me = currentProcess();
    expect(me.pid).toBe(process.pid);
    expect(me.uid).toBe(process.getuid!());
    expect(me.boot).toMatch(/^[0-9a-f-]{36}$/);
    expect(me.start).toBeGreaterThan(0);
    expect(isRunning(me)).toBe(true);
  });

  it("a pid that has exited, another boot or another start time is not running", async () => {
    const child = spawn(process.execPath, ["-e", ""]);
    const pid = child.pid!;
    await new Promise((r) => child.once("exit", r));
    const me = currentProcess();
    expect(isRunning({ pid, boot: "", start: -1 })).toBe(false);
    expect(isRunning({ ...me, boot: "00000000-0000-4000-8000-000000000000" })).toBe(false);
    expect(isRunning({ ...me, start: me.start + 1 })).toBe(false);
    expect(isRunning(undefined)).toBe(false);
    expect(isRunning({ pid: -1, boot: "", start: -1 })).toBe(false);
  });

  it("without boot id and start time, a pid that refuses our signal is someone else's unless the record names another user", () => {
    // Pid 1 and this test process belong to root: `nobody` gets EPERM for signal 0 on both.
    for (const pid of [1, process.pid]) {
      expect(isRunningAsNobody({ pid, boot: "", start: -1, uid: NOBODY }), `pid ${pid}, record of nobody`).toBe(false);
      expect(isRunningAsNobody({ pid, boot: "", start: -1, uid: 0 }), `pid ${pid}, record of root`).toBe(true);
      expect(isRunningAsNobody({ pid, boot: "", start: -1 }), `pid ${pid}, record without a user`).toBe(true);
    }
  });
});
