// Unit tests for the native-addon extraction used by the single executable (real lmdb prebuild, real dlopen).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dlopenAddon, extractNativeAddon, loadLmdbAddon, loadNativeAddon, NativeAddonError, nativeCacheDirs } from "./lmdb-native.ts";

const prebuild = path.resolve("node_modules/@lmdb/lmdb-linux-" + os.arch() + "/node.napi.glibc.node");
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lmdb-native-"));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("nativeCacheDirs", () => {
  it("orders systemd's CACHE_DIRECTORY, XDG_CACHE_HOME, HOME, then tmpdir", () => {
    const dirs = nativeCacheDirs({ CACHE_DIRECTORY: "/var/cache/slowdrip:/var/cache/other", XDG_CACHE_HOME: "/x", HOME: "/h" });
    expect(dirs.slice(0, 3)).toEqual(["/var/cache/slowdrip", "/x/slowdrip", "/h/.cache/slowdrip"]);
    expect(dirs[3]).toBe(path.join(os.tmpdir(), `slowdrip-${process.getuid!()}`));
  });
  it("ignores relative and missing variables", () => {
    const dirs = nativeCacheDirs({ CACHE_DIRECTORY: "rel", XDG_CACHE_HOME: "also/rel" });
    expect(dirs).toEqual([path.join(os.tmpdir(), `slowdrip-${process.getuid!()}`)]);
  });
});

describe("extractNativeAddon", () => {
  const bytes = new Uint8Array(fs.readFileSync(prebuild));

  it("writes a private, read-only, content-named copy and loads it with dlopen", () => {
    const base = path.join(tmp, "cache");
    const file = extractNativeAddon("lmdb.node", bytes, [base]);
    expect(file).toBe(path.join(base, "native", `lmdb-${sha(bytes).slice(0, 16)}.node`));
    expect(sha(fs.readFileSync(file))).toBe(sha(bytes));
    expect(fs.statSync(file).mode & 0o777).toBe(0o500);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    const addon = dlopenAddon(file) as { Env?: unknown; version?: { versionString?: string } };
    expect(typeof addon.Env).toBe("function");
    expect(addon.version?.versionString).toMatch(/^LMDB /);
  });

  it("reuses an intact copy without rewriting it", () => {
    const first = extractNativeAddon("lmdb.node", bytes, [tmp]);
    const ino = fs.statSync(first).ino;
    const again = extractNativeAddon("lmdb.node", bytes, [tmp]);
    expect(again).toBe(first);
    expect(fs.statSync(again).ino).toBe(ino);
  });

  it("replaces a tampered copy", () => {
    const file = extractNativeAddon("lmdb.node", bytes, [tmp]);
    fs.chmodSync(file, 0o600);
    fs.writeFileSync(file, "not an addon");
    fs.chmodSync(file, 0o500);
    expect(extractNativeAddon("lmdb.node", bytes, [tmp])).toBe(file);
    expect(sha(fs.readFileSync(file))).toBe(sha(bytes));
  });

  it("skips a directory others can write to and uses the next one", () => {
    const open = path.join(tmp, "open");
    fs.mkdirSync(open);
    fs.chmodSync(open, 0o777);
    const good = path.join(tmp, "good");
    const file = extractNativeAddon("lmdb.node", bytes, [open, good]);
    expect(file.startsWith(path.join(good, "native") + path.sep)).toBe(true);
    expect(fs.existsSync(path.join(open, "native"))).toBe(false);
  });

  it("refuses a native/ sub-directory that is a symlink", () => {
    const base = path.join(tmp, "base");
    fs.mkdirSync(base, { mode: 0o700 });
    fs.mkdirSync(path.join(tmp, "elsewhere"), { mode: 0o700 });
    fs.symlinkSync(path.join(tmp, "elsewhere"), path.join(base, "native"));
    const err = (() => {
      try {
        extractNativeAddon("lmdb.node", bytes, [base]);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(NativeAddonError);
    expect((err as NativeAddonError).tried[0]).toContain("is not a directory");
    expect(fs.readdirSync(path.join(tmp, "elsewhere"))).toEqual([]);
  });

  it("names every directory it tried when none is usable", () => {
    const a = path.join(tmp, "a");
    const b = path.join(tmp, "b");
    fs.mkdirSync(a, { mode: 0o777 });
    fs.mkdirSync(b, { mode: 0o777 });
    fs.chmodSync(a, 0o777);
    fs.chmodSync(b, 0o775);
    try {
      extractNativeAddon("lmdb.node", bytes, [a, b, "relative/dir"]);
      expect.unreachable("extraction should fail");
    } catch (e) {
      expect(e).toBeInstanceOf(NativeAddonError);
      const err = e as NativeAddonError;
      expect(err.addon).toBe("lmdb.node");
      expect(err.tried).toHaveLength(3);
      expect(err.tried[0]).toContain(`${a}: `);
      expect(err.tried[0]).toContain("writable by group or others");
      expect(err.tried[1]).toContain(`${b}: `);
      expect(err.tried[2]).toContain("not absolute");
    }
  });

  it("checks its arguments", () => {
    expect(() => extractNativeAddon("../evil.node", bytes, [tmp])).toThrow(TypeError);
    expect(() => extractNativeAddon("lmdb.so", bytes, [tmp])).toThrow(TypeError);
    expect(() => extractNativeAddon("lmdb.node", new Uint8Array(0), [tmp])).toThrow(TypeError);
    expect(() => extractNativeAddon("lmdb.node", bytes, [])).toThrow(TypeError);
    expect(() => dlopenAddon("relative.node")).toThrow(TypeError);
  });

  it("reports a file that is not a loadable addon", () => {
    const bogus = path.join(tmp, "bogus.node");
    fs.writeFileSync(bogus, "nope");
    expect(() => dlopenAddon(bogus)).toThrow(NativeAddonError);
  });
});

describe("loadNativeAddon", () => {
  const bytes = new Uint8Array(fs.readFileSync(prebuild));

  // A hardened host mounts /tmp (or /home) noexec: the copy is written but cannot be mapped executable. This mounts a
  // real noexec tmpfs, which needs root (the CI machine runs as root).
  it("passes over a directory on a noexec mount and loads from the next one", () => {
    const noexec = path.join(tmp, "noexec");
    fs.mkdirSync(noexec);
    const m = spawnSync("mount", ["-t", "tmpfs", "-o", "noexec,mode=0700,size=16m", "tmpfs", noexec], { encoding: "utf8" });
    expect(m.status, `mounting a noexec tmpfs needs root: ${m.stderr}`).toBe(0);
    try {
      const good = path.join(tmp, "good");
      const addon = loadNativeAddon("lmdb.node", bytes, [noexec, good]) as { Env?: unknown };
      expect(typeof addon.Env).toBe("function");
      expect(fs.readdirSync(path.join(noexec, "native"))).toHaveLength(1);
      expect(fs.readdirSync(path.join(good, "native"))).toHaveLength(1);
      const none = (() => {
        try {
          loadNativeAddon("lmdb.node", bytes, [noexec]);
        } catch (e) {
          return e;
        }
      })();
      expect(none).toBeInstanceOf(NativeAddonError);
      expect((none as NativeAddonError).tried[0]).toContain(`${noexec}: `);
      expect((none as NativeAddonError).tried[0]).toContain("noexec");
    } finally {
      const u = spawnSync("umount", ["--lazy", noexec], { encoding: "utf8" });
      expect(u.status, `umount ${noexec}: ${u.stderr}`).toBe(0);
    }
  });

  it("names every directory and the remedy when no copy loads", () => {
    const junk = new TextEncoder().encode("not a shared object");
    const a = path.join(tmp, "a");
    const b = path.join(tmp, "b");
    try {
      loadNativeAddon("junk.node", junk, [a, b]);
      expect.unreachable("loading junk should fail");
    } catch (e) {
      expect(e).toBeInstanceOf(NativeAddonError);
      const tried = (e as NativeAddonError).tried;
      expect(tried).toHaveLength(3);
      expect(tried[0]).toContain(`${a}: `);
      expect(tried[1]).toContain(`${b}: `);
      expect(tried[2]).toContain("CACHE_DIRECTORY");
    }
  });

  it("checks its arguments", () => {
    expect(() => loadNativeAddon("lmdb.node", bytes, [])).toThrow(TypeError);
    expect(() => loadNativeAddon("bad name", bytes, [tmp])).toThrow(TypeError);
  });
});

describe("loadLmdbAddon", () => {
  it("refuses to run outside a single executable", () => {
    expect(() => loadLmdbAddon()).toThrow(/not running as a single executable/);
  });
});
