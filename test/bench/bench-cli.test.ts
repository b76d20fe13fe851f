// `slowdrip bench` on the built binary: --quick --json gives every row with a positive figure and a verdict, in a
// temporary data dir that is removed afterwards; the table form prints one line per row. No timed assertions.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "../..");
const node = join(root, "node_modules/.bin/node");
const bin = join(root, "dist/slowdrip.mjs");
const dir = mkdtempSync(join(tmpdir(), "slowdrip-bench-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function slowdrip(args: string[]) {
  const r = spawnSync(node, [bin, ...args], { encoding: "utf8", timeout: 120_000, maxBuffer: 1 << 24 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const IDS = ["blake3_single", "blake3_all_cores", "rs_encode", "store_import", "store_random_reads", "http_get", "ingest_hash_sign", "disk_write"];

describe("slowdrip bench", () => {
  it("--quick --json measures every row in a temporary dir inside --dir and removes it", () => {
    const r = slowdrip(["bench", "--quick", "--json", "--dir", dir]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.quick).toBe(true);
    expect(out.dir).toBe(dir);
    expect(out.cpus).toBeGreaterThanOrEqual(1);
    expect(out.rows.map((x: { id: string }) => x.id)).toEqual(IDS);
    for (const row of out.rows) {
      expect(row.value, row.id).toBeGreaterThan(0);
      expect(Number.isFinite(row.value), row.id).toBe(true);
      expect(["MB/s", "ops/s"]).toContain(row.unit);
      expect(row.name.length).toBeGreaterThan(0);
      expect(row.verdict).toMatch(/\d/);
    }
    expect(out.rows.find((x: { id: string }) => x.id === "ingest_hash_sign").verdict).toMatch(/can ingest \d+ 1080p streams/);
    expect(out.rows.find((x: { id: string }) => x.id === "disk_write").verdict).toMatch(/disk/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("prints a table with one line per row, and refuses stray arguments and a missing --dir", () => {
    const r = slowdrip(["bench", "--quick", "--dir", dir]);
    expect(r.code).toBe(0);
    for (const name of ["BLAKE3, one thread", "Reed-Solomon encode", "store import", "HTTP GET", "ingest hash + sign", "disk write"]) {
      expect(r.stdout.split("\n").filter((l) => l.startsWith(name))).toHaveLength(1);
    }
    const bad = slowdrip(["bench", "extra"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^slowdrip bench: unexpected argument "extra"\n$/);
    const missing = slowdrip(["bench", "--quick", "--dir", join(dir, "does-not-exist")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^slowdrip bench: cannot make a temporary dir in /);
  });
});
