// CLI: help on every command, one-line errors with non-zero exits, keygen, backup/restore round trip, config print.
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { commands } from "../src/cli/commands.ts";
import { runCli, tempDir } from "./helpers/node.ts";

describe("help and errors", () => {
  it("slowdrip --help lists every command", async () => {
    const r = await runCli(["--help"]);
    expect(r.code).toBe(0);
    for (const c of commands) expect(r.stdout).toMatch(new RegExp(`^  ${c.name}\\s`, "m"));
  });
  it.each(commands.map((c) => c.name))("slowdrip %s --help prints its usage", async (name) => {
    const r = await runCli([name, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^usage: slowdrip ${name}`));
  });
  it("an unknown command exits 2 with one line", async () => {
    const r = await runCli(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("slowdrip: unknown command 'frobnicate' (see 'slowdrip --help')\n");
  });
  it("an unknown flag exits 2 with one line", async () => {
    const r = await runCli(["keygen", "--bogus"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^slowdrip keygen: .*bogus/);
  });
  it("a bad config value exits non-zero naming the field", async () => {
    const r = await runCli(["run", "--listen", "nowhere", "--data-dir", tempDir()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^slowdrip run: config api\.listen \(from flag\): .*HOST:PORT/);
  });
  it("version prints the version", async () => {
    const r = await runCli(["version"]);
    expect(r.stdout).toMatch(/^slowdrip \d+\.\d+\.\d+ \(node v26\./);
  });
});

describe("keygen, backup, restore", () => {
  it("keygen prints the node id and refuses to overwrite", async () => {
    const d = tempDir();
    const r = await runCli(["keygen", "--output", d]);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(readFileSync(join(d, "keypair"), "utf8")).public).toBe(id);
    const again = await runCli(["keygen", "--output", d]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists/);
  });
  it("backup -> restore keeps the node id; restore warns and waits 5 s without --yes", async () => {
    const src = tempDir();
    const id = (await runCli(["keygen", "--output", src])).stdout.trim();
    const out = tempDir();
    const b = await runCli(["backup", "--data-dir", src, "--output", out]);
    expect(b.code).toBe(0);
    const files = readdirSync(out);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^slowdrip-backup-\d{8}T\d{6}Z\.tar\.gz$/);
    const archive = join(out, files[0]!);

    const fresh = tempDir();
    const r1 = await runCli(["restore", archive, "--data-dir", fresh]);
    expect(r1.code).toBe(0);
    expect(r1.stdout).toContain(`restored node id ${id}`);

    const other = tempDir();
    await runCli(["keygen", "--output", other]);
    const t0 = Date.now();
    const r2 = await runCli(["restore", archive, "--data-dir", other]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4900);
    expect(r2.stderr).toMatch(/warning: overwriting the identity/);
    expect(r2.code).toBe(0);
    expect(JSON.parse(readFileSync(join(other, "keypair"), "utf8")).public).toBe(id);

    const third = tempDir();
    await runCli(["keygen", "--output", third]);
    const r3 = await runCli(["restore", archive, "--data-dir", third, "--yes"]);
    expect(r3.code).toBe(0);
    expect(JSON.parse(readFileSync(join(third, "keypair"), "utf8")).public).toBe(id);
  });
  it("restore refuses a damaged archive and leaves the identity untouched", async () => {
    const d = tempDir();
    const id = (await runCli(["keygen", "--output", d])).stdout.trim();
    const bad = join(tempDir(), "slowdrip-backup-bad.tar.gz");
    writeFileSync(bad, Buffer.from("1f8b0800000000000003", "hex"));
    const r = await runCli(["restore", bad, "--data-dir", d, "--yes"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^slowdrip restore: .*damaged archive/);
    expect(JSON.parse(readFileSync(join(d, "keypair"), "utf8")).public).toBe(id);
    expect(existsSync(join(d, "admin.token"))).toBe(false);
  });
});

describe("config print", () => {
  it("shows each value's source", async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, "slowdrip.yaml"), "store:\n  max_storage: 1GiB\n");
    const r = await runCli(["config", "print", "--listen", "127.0.0.1:9999"], { cwd, env: { SLOWDRIP_NODE_LOG_LEVEL: "debug" } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^api\.listen:\s+"127\.0\.0\.1:9999"\s+# flag$/m);
    expect(r.stdout).toMatch(/^node\.log_level:\s+debug\s+# env$/m);
    expect(r.stdout).toMatch(/^store\.max_storage:\s+"1GiB"\s+# file$/m);
    expect(r.stdout).toMatch(/^node\.data_dir:\s+"\.\/data"\s+# default$/m);
  });
});
