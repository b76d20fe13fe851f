// lmdb's native addon in plain Node and in the single executable (embedded asset, extracted to a private cache dir).
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { getRawAsset, isSea } from "node:sea";
import type { RootDatabase, RootDatabaseOptionsWithPath } from "lmdb";

/** Key of the lmdb addon among the single executable's assets (see scripts/build-bin.mjs). */
export const LMDB_ADDON_ASSET = "lmdb.node";

/** Sub-directory of the cache dir that holds extracted native addons. */
const NATIVE_SUBDIR = "native";

/** The native addon could not be written out or loaded; `tried` lists every place and why it was refused. */
export class NativeAddonError extends Error {
  readonly addon: string;
  readonly tried: readonly string[];
  constructor(addon: string, tried: readonly string[], options?: { cause?: unknown }) {
    super(`cannot load native addon ${addon}: ${tried.join("; ")}`, options);
    this.name = "NativeAddonError";
    this.addon = addon;
    this.tried = tried;
  }
}

/**
 * Candidate cache directories for extracted addons, best first: systemd's `$CACHE_DIRECTORY` (CacheDirectory=),
 * `$XDG_CACHE_HOME/slowdrip`, `$HOME/.cache/slowdrip`, then `<tmpdir>/slowdrip-<uid>`.
 */
export function nativeCacheDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs: string[] = [];
  const systemd = env.CACHE_DIRECTORY?.split(":")[0];
  if (systemd && path.isAbsolute(systemd)) dirs.push(systemd);
  if (env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)) dirs.push(path.join(env.XDG_CACHE_HOME, "slowdrip"));
  if (env.HOME && path.isAbsolute(env.HOME)) dirs.push(path.join(env.HOME, ".cache", "slowdrip"));
  const uid = typeof process.getuid === "function" ? process.getuid() : 0;
  dirs.push(path.join(os.tmpdir(), `slowdrip-${uid}`));
  return [...new Set(dirs)];
}

/** Throws unless `p` is a directory owned by this user and not writable by group or others. */
function checkPrivateDir(p: string, st: fs.Stats): void {
  if (!st.isDirectory()) throw new Error(`${p} is not a directory`);
  const uid = typeof process.geteuid === "function" ? process.geteuid() : st.uid;
  if (st.uid !== uid) throw new Error(`${p} is owned by uid ${st.uid}, not ${uid}`);
  if ((st.mode & 0o022) !== 0) throw new Error(`${p} is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`);
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** True when `file` is a regular file of ours, not writable by others, whose bytes hash to `digest`. */
function isIntact(file: string, digest: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return false;
  }
  if (!st.isFile()) return false;
  const uid = typeof process.geteuid === "function" ? process.geteuid() : st.uid;
  if (st.uid !== uid || (st.mode & 0o022) !== 0) return false;
  return sha256(fs.readFileSync(file)) === digest;
}

/**
 * Writes `bytes` to `<dir>/native/<base>-<sha256 prefix><ext>` in the first usable directory of `dirs` and returns
 * the file's path. A directory is usable when it is (or can be made) owned by this user and not writable by group or
 * others; an existing file is reused only when its content hash matches, otherwise it is replaced atomically.
 * @throws NativeAddonError naming every directory tried and why it was refused.
 */
export function extractNativeAddon(name: string, bytes: Uint8Array, dirs: readonly string[]): string {
  if (typeof name !== "string" || !/^[A-Za-z0-9._-]+\.node$/.test(name)) throw new TypeError(`addon name must be a plain *.node file name, got ${String(name)}`);
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw new TypeError("addon bytes must be a non-empty Uint8Array");
  if (!Array.isArray(dirs) || dirs.length === 0) throw new TypeError("at least one cache directory is required");
  const digest = sha256(bytes);
  const fileName = `${name.slice(0, -".node".length)}-${digest.slice(0, 16)}.node`;
  const tried: string[] = [];
  for (const base of dirs) {
    try {
      if (!path.isAbsolute(base)) throw new Error(`${base} is not absolute`);
      fs.mkdirSync(base, { recursive: true, mode: 0o700 });
      const realBase = fs.realpathSync(base);
      checkPrivateDir(realBase, fs.statSync(realBase));
      const dir = path.join(realBase, NATIVE_SUBDIR);
      try {
        fs.mkdirSync(dir, { mode: 0o700 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      checkPrivateDir(dir, fs.lstatSync(dir));
      const file = path.join(dir, fileName);
      if (isIntact(file, digest)) return file;
      const tmp = path.join(dir, `.${fileName}.${process.pid}.${randomBytes(6).toString("hex")}`);
      try {
        const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
        try {
          fs.writeSync(fd, bytes);
          try {
            fs.fsyncSync(fd);
          } catch (err) {
            // Node 26's permission model (the appliance build) refuses fsync outright, whatever the path; the rename below
            // then relies on the file system writing data before the rename (ext4's default data=ordered, the image's).
            if ((err as NodeJS.ErrnoException).code !== "ERR_ACCESS_DENIED") throw err;
          }
        } finally {
          fs.closeSync(fd);
        }
        fs.chmodSync(tmp, 0o500);
        fs.renameSync(tmp, file);
      } catch (err) {
        fs.rmSync(tmp, { force: true });
        throw err;
      }
      if (!isIntact(file, digest)) throw new Error(`${file} does not match the embedded addon after writing`);
      return file;
    } catch (err) {
      tried.push(`${base}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new NativeAddonError(name, tried);
}

/** Loads a native addon file with `process.dlopen` (works in the single executable, unlike `require`). */
export function dlopenAddon(file: string): unknown {
  if (typeof file !== "string" || !path.isAbsolute(file)) throw new TypeError(`addon path must be absolute, got ${String(file)}`);
  const mod = { exports: {} as unknown };
  try {
    process.dlopen(mod, file);
  } catch (err) {
    throw new NativeAddonError(path.basename(file), [`${file}: ${err instanceof Error ? err.message : String(err)}`], { cause: err });
  }
  return mod.exports;
}

/**
 * Writes `bytes` out (see extractNativeAddon) and dlopens it, directory by directory: a directory whose copy cannot
 * be loaded (a noexec mount, say) is passed over for the next one.
 * @throws NativeAddonError naming every directory tried and why it failed.
 */
export function loadNativeAddon(name: string, bytes: Uint8Array, dirs: readonly string[]): unknown {
  if (!Array.isArray(dirs) || dirs.length === 0) throw new TypeError("at least one cache directory is required");
  const tried: string[] = [];
  for (const dir of dirs) {
    let file: string;
    try {
      file = extractNativeAddon(name, bytes, [dir]);
    } catch (err) {
      if (!(err instanceof NativeAddonError)) throw err;
      tried.push(...err.tried);
      continue;
    }
    try {
      return dlopenAddon(file);
    } catch (err) {
      tried.push(`${dir}: ${(err as NativeAddonError).tried?.[0] ?? String(err)} (is it on a noexec mount?)`);
    }
  }
  throw new NativeAddonError(name, [...tried, "set CACHE_DIRECTORY or XDG_CACHE_HOME to a private directory on an exec-allowed filesystem"]);
}

/**
 * Stand-in for `node-gyp-build-optional-packages` inside the single executable: lmdb calls it with its package dir
 * and expects the addon's exports. The addon comes from the executable's `lmdb.node` asset, written out to a cache
 * dir (see nativeCacheDirs) and loaded with process.dlopen. Outside a single executable this is never bundled in.
 */
export function loadLmdbAddon(_packageDir?: string): unknown {
  if (!isSea()) {
    throw new NativeAddonError(LMDB_ADDON_ASSET, ["not running as a single executable; run with node_modules instead"]);
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(getRawAsset(LMDB_ADDON_ASSET));
  } catch (err) {
    throw new NativeAddonError(LMDB_ADDON_ASSET, ["the executable has no embedded lmdb addon"], { cause: err });
  }
  return loadNativeAddon(LMDB_ADDON_ASSET, bytes, nativeCacheDirs());
}

/**
 * Opens (creating if needed) an LMDB environment. lmdb is imported on first use, so commands that never touch
 * the store (version, keygen, ...) do not load the native addon; works both from node_modules and in the single
 * executable. Use this instead of a static `import { open } from "lmdb"`.
 */
export async function openLmdb<V = unknown, K extends import("lmdb").Key = import("lmdb").Key>(
  options: RootDatabaseOptionsWithPath,
): Promise<RootDatabase<V, K>> {
  if (!options || typeof options.path !== "string" || options.path === "") throw new TypeError("options.path must be a non-empty string");
  const lmdb = await import("lmdb");
  return lmdb.open<V, K>({ maxDbs: LMDB_MAX_DBS, ...options });
}

/**
 * Named databases an environment can hold. lmdb shares one environment per path within a process and the first
 * opener fixes this limit, so every component that opens `<data_dir>/db` uses the same value (the store uses 5 today, pay 6).
 */
export const LMDB_MAX_DBS = 64;
