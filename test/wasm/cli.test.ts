// Cross-process tests of `slowdrip hash` and `slowdrip bao` on the built bundle: b3sum format, modes, outboards, slices.
import { describe, expect, it, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blake3 as nobleBlake3 } from "@noble/hashes/blake3.js";

const root = join(import.meta.dirname, "../..");
const node = join(root, "node_modules/.bin/node");
const bin = join(root, "dist/slowdrip.mjs");
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function slowdrip(args: string[], input?: Uint8Array, cwd?: string) {
  const r = spawnSync(node, [bin, ...args], { input, cwd, maxBuffer: 1 << 28, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

let dir = "";
let small: Uint8Array;
let big: Uint8Array;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "slowdrip-hash-"));
  small = new Uint8Array(3000).map((_, i) => i * 7);
  big = new Uint8Array(9 * 1024 * 1024 + 123).map((_, i) => (i * 31) ^ (i >> 12));
  writeFileSync(join(dir, "small"), small);
  writeFileSync(join(dir, "big"), big);
  writeFileSync(join(dir, "empty"), new Uint8Array(0));
});

describe("slowdrip hash", () => {
  it("prints b3sum lines for files and stdin, multi-core for large files", () => {
    const r = slowdrip(["hash", "small", "big", "empty", "-"], small, dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(
      `${hex(nobleBlake3(small))}  small\n${hex(nobleBlake3(big))}  big\n${hex(nobleBlake3(new Uint8Array(0)))}  empty\n${hex(nobleBlake3(small))}  -\n`,
    );
  });

  it("keyed, derive-key and --length", () => {
    const key = new Uint8Array(32).map((_, i) => i);
    const k = slowdrip(["hash", "--keyed", hex(key), "--length", "48", "big"], undefined, dir);
    expect(k.stdout.toString()).toBe(`${hex(nobleBlake3(big, { key, dkLen: 48 }))}  big\n`);
    const d = slowdrip(["hash", "--derive-key", "slowdrip test ctx", "small"], undefined, dir);
    expect(d.stdout.toString()).toBe(`${hex(nobleBlake3(small, { context: new TextEncoder().encode("slowdrip test ctx") }))}  small\n`);
  });

  it("names bad arguments and missing files", () => {
    expect(slowdrip(["hash", "--keyed", "abcd", "small"], undefined, dir)).toMatchObject({ code: 2 });
    expect(slowdrip(["hash", "--length", "0", "small"], undefined, dir).stderr).toContain("--length");
    const m = slowdrip(["hash", "nope", "small"], undefined, dir);
    expect(m.code).toBe(1);
    expect(m.stderr).toContain("nope: no such file");
    expect(m.stdout.toString()).toContain("  small\n");
  });
});

describe("slowdrip bao", () => {
  it("hash --outboard, bao slice (content, outboard, encoded) and bao verify round trip", () => {
    const h = slowdrip(["hash", "--outboard", "big.obao", "big"], undefined, dir);
    expect(h.code).toBe(0);
    const hash = h.stdout.toString().split(" ")[0]!;
    expect(hash).toBe(hex(nobleBlake3(big)));
    expect(readFileSync(join(dir, "big.obao")).length).toBe(8 + (Math.ceil(big.length / 1024) - 1) * 64);
    const s1 = slowdrip(["bao", "slice", "big", "--start", "5000000", "--len", "70000", "--outboard", "big.obao"], undefined, dir);
    const s2 = slowdrip(["bao", "slice", "big", "--start", "5000000", "--len", "70000"], undefined, dir);
    expect(s1.code).toBe(0);
    expect(hex(s1.stdout)).toBe(hex(s2.stdout));
    writeFileSync(join(dir, "slice"), s1.stdout);
    const v = slowdrip(["bao", "verify", hash, "slice", "--start", "5000000", "--len", "70000"], undefined, dir);
    expect(v.stderr).toBe("");
    expect(v.code).toBe(0);
    expect(hex(v.stdout)).toBe(hex(big.subarray(5_000_000, 5_070_000)));
    // from stdin too
    expect(hex(slowdrip(["bao", "verify", hash, "-", "--start", "5000000", "--len", "70000"], s1.stdout, dir).stdout)).toBe(hex(big.subarray(5_000_000, 5_070_000)));
  });

  it("bao verify exits non-zero naming the failure", () => {
    const hash = hex(nobleBlake3(small));
    const s = slowdrip(["bao", "slice", "small", "--start", "0", "--len", "3000"], undefined, dir).stdout;
    const bad = Uint8Array.from(s);
    bad[100]! ^= 1;
    const v = slowdrip(["bao", "verify", hash, "-", "--start", "0", "--len", "3000"], bad, dir);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/verification failed: hash-mismatch at byte \d+/);
    const t = slowdrip(["bao", "verify", hash, "-", "--start", "0", "--len", "3000"], s.subarray(0, 500), dir);
    expect(t.code).toBe(1);
    expect(t.stderr).toContain("truncated");
    expect(slowdrip(["bao", "verify", "xyz", "-", "--start", "0", "--len", "1"], s, dir).code).toBe(2);
    expect(slowdrip(["bao", "frob", "--start", "0", "--len", "1"], undefined, dir).stderr).toContain("unknown subcommand");
  });
});
