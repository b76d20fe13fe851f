// MediaMTX installer: takes a pinned release from a given path/URL or builds it from the Go module proxy, caches it, prints its path.
//
// Usage: node scripts/mediamtx-install.mjs [--source PATH|URL] [--sha256 HEX] [--version vX.Y.Z] [--arch x64|arm64] [--force]
//   --source / SLOWDRIP_MEDIAMTX_SOURCE  a mediamtx binary or a release tarball (.tar.gz), as a local path or http(s) URL
//   --sha256 / SLOWDRIP_MEDIAMTX_SHA256  expected sha256 of the binary (checked when given)
//   --version / SLOWDRIP_MEDIAMTX_VERSION  release to install (default: the pinned one below)
//   --arch  x64 or arm64 (default: this machine); another arch is cross-compiled (GOARCH) into <version>/linux-<arch>/
//           for image builds and checked by its ELF header instead of being run
// Without a source it builds from the Go module proxy: `go mod download` the module, copy it to a work dir, write
// internal/core/VERSION, take internal/servers/hls/hls.min.js from the npm `hls.js` package at the version named in
// hlsjsdownloader/VERSION (`npm pack`, which checks the registry's integrity hash), then `go build`.
// The result lives in ${XDG_CACHE_HOME:-$HOME/.cache}/slowdrip/mediamtx/<version>/mediamtx beside install.json
// ({version, sha256, source, ...}); a second run only re-checks the sha256. The last stdout line is the binary path.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync, closeSync, copyFileSync, cpSync, createReadStream, existsSync, mkdirSync, mkdtempSync, openSync,
  readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, writeSync,
} from "node:fs";
import { homedir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { createWriteStream } from "node:fs";

/** The pinned MediaMTX release (newest v1.20+ release the Go module proxy serves here). */
export const PINNED_VERSION = "v1.21.0";
const MODULE = "github.com/bluenviron/mediamtx";
const MAX_DOWNLOAD = 256 * 1024 * 1024;
const LOCK_STALE_MS = 20 * 60 * 1000;

const log = (msg) => process.stderr.write(`mediamtx-install: ${msg}\n`);

class InstallError extends Error {}

const GOARCH = { x64: "amd64", arm64: "arm64" };
const ELF_MACHINE = { x64: 0x3e, arm64: 0xb7 };

/** The ELF e_machine of a file, or null when it is not a 64-bit little-endian ELF. */
function elfMachine(path) {
  const h = readFileSync(path).subarray(0, 20);
  if (h[0] !== 0x7f || h[1] !== 0x45 || h[2] !== 0x4c || h[3] !== 0x46 || h[4] !== 2 || h[5] !== 1) return null;
  return h[18] | (h[19] << 8);
}

function cacheRoot(env) {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.length > 0 ? env.XDG_CACHE_HOME : join(homedir(), ".cache");
  return join(base, "slowdrip", "mediamtx");
}

async function sha256File(path) {
  const h = createHash("sha256");
  await pipeline(createReadStream(path), h);
  return h.digest("hex");
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.error) throw new InstallError(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new InstallError(`${cmd} ${args.join(" ")} failed (exit ${r.status}): ${(r.stderr || r.stdout || "").trim().slice(-2000)}`);
  }
  return r.stdout;
}

function findGo(env) {
  for (const dir of (env.PATH ?? "").split(":").filter(Boolean).concat(["/usr/local/go/bin", "/usr/lib/go/bin"])) {
    const p = join(dir, "go");
    if (existsSync(p)) return p;
  }
  throw new InstallError("no Go toolchain found (need Go >= 1.26 on PATH or in /usr/local/go/bin), or pass --source PATH|URL");
}

/** Take an exclusive lock directory so that parallel installs do not build twice; steals locks of dead or stale owners. */
async function withLock(dir, fn) {
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, ".lock");
  const deadline = Date.now() + LOCK_STALE_MS;
  for (;;) {
    try {
      const fd = openSync(lock, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if (e.code !== "EEXIST") throw e;
      let owner = 0;
      let age = 0;
      try {
        owner = Number(readFileSync(lock, "utf8"));
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue;
      }
      let alive = false;
      try {
        if (owner > 0) {
          process.kill(owner, 0);
          alive = true;
        }
      } catch {}
      if (!alive || age > LOCK_STALE_MS) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new InstallError(`lock ${lock} held by pid ${owner} for too long`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

async function download(url, dest) {
  log(`downloading ${url}`);
  const res = await fetch(url, { signal: AbortSignal.timeout(10 * 60 * 1000), redirect: "follow" });
  if (!res.ok || !res.body) throw new InstallError(`GET ${url}: HTTP ${res.status}`);
  const len = Number(res.headers.get("content-length") ?? "0");
  if (len > MAX_DOWNLOAD) throw new InstallError(`GET ${url}: ${len} bytes is more than the ${MAX_DOWNLOAD} byte limit`);
  let seen = 0;
  const counted = Readable.fromWeb(res.body).on("data", (c) => {
    seen += c.length;
    if (seen > MAX_DOWNLOAD) counted.destroy(new InstallError(`GET ${url}: more than ${MAX_DOWNLOAD} bytes`));
  });
  await pipeline(counted, createWriteStream(dest));
}

/** Put the binary named by a local path or URL (a bare binary or a .tar.gz release) at `out`. */
async function fromSource(source, work, out) {
  let local = source;
  if (/^https?:\/\//i.test(source)) {
    local = join(work, basename(new URL(source).pathname) || "download");
    await download(source, local);
  } else {
    local = resolve(source);
    if (!existsSync(local)) throw new InstallError(`source ${local} does not exist`);
  }
  const head = readFileSync(local).subarray(0, 4);
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const { x } = await import("tar");
    const dir = join(work, "extract");
    mkdirSync(dir, { recursive: true });
    await x({ file: local, cwd: dir, filter: (p) => basename(p) === "mediamtx" || basename(p) === "mediamtx.yml" });
    const found = join(dir, "mediamtx");
    if (!existsSync(found)) throw new InstallError(`tarball ${source} holds no top-level 'mediamtx' binary`);
    copyFileSync(found, out);
  } else if (head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46) {
    copyFileSync(local, out);
  } else {
    throw new InstallError(`source ${source} is neither an ELF binary nor a .tar.gz release`);
  }
  chmodSync(out, 0o755);
  return { source };
}

/** Build MediaMTX `version` from the Go module proxy into `out`. */
async function fromGoProxy(version, work, out, env, arch) {
  const go = findGo(env);
  const goEnv = { ...env, GOTOOLCHAIN: "local", GOFLAGS: "-buildvcs=false", CGO_ENABLED: "0", GOOS: "linux", GOARCH: GOARCH[arch] };
  log(`go mod download ${MODULE}@${version}`);
  const info = JSON.parse(run(go, ["mod", "download", "-json", `${MODULE}@${version}`], { cwd: work, env: goEnv }));
  if (info.Error || !info.Dir) throw new InstallError(`go mod download ${MODULE}@${version}: ${info.Error ?? "no Dir"}`);
  const src = join(work, "src");
  cpSync(info.Dir, src, { recursive: true });
  run("chmod", ["-R", "u+w", src]);

  writeFileSync(join(src, "internal/core/VERSION"), version);

  const hlsDir = join(src, "internal/servers/hls");
  const hlsVersion = readFileSync(join(hlsDir, "hlsjsdownloader/VERSION"), "utf8").trim().replace(/^v/, "");
  if (!/^\d+\.\d+\.\d+$/.test(hlsVersion)) throw new InstallError(`unexpected hls.js version '${hlsVersion}'`);
  // The packed hls.js is kept in the cache (npm pack checks the registry's integrity hash when it downloads).
  const packDir = join(cacheRoot(env), "hlsjs", hlsVersion);
  mkdirSync(packDir, { recursive: true });
  let tgz = readdirSync(packDir).find((f) => f.endsWith(".tgz"));
  if (!tgz) {
    log(`npm pack hls.js@${hlsVersion}`);
    const npm = env.npm_execpath && env.npm_execpath.endsWith(".js") ? [process.execPath, [env.npm_execpath]] : ["npm", []];
    run(npm[0], [...npm[1], "pack", `hls.js@${hlsVersion}`, "--pack-destination", packDir, "--silent"], { cwd: packDir, env });
    tgz = readdirSync(packDir).find((f) => f.endsWith(".tgz"));
  }
  if (!tgz) throw new InstallError(`npm pack hls.js@${hlsVersion} produced no tarball`);
  const npmDir = join(work, "npm");
  mkdirSync(npmDir, { recursive: true });
  const { x } = await import("tar");
  await x({ file: join(packDir, tgz), cwd: npmDir, filter: (p) => p === "package/dist/hls.min.js" });
  const hlsMin = join(npmDir, "package/dist/hls.min.js");
  if (!existsSync(hlsMin)) throw new InstallError(`hls.js@${hlsVersion} has no dist/hls.min.js`);
  copyFileSync(hlsMin, join(hlsDir, "hls.min.js"));
  const hlsSha = await sha256File(hlsMin);

  // On arm/arm64 the Raspberry Pi camera helper is embedded; it is fetched from GitHub by `go generate`, which is
  // not reachable here. A placeholder keeps the build working; only the rpiCamera source is then unavailable.
  for (const d of ["mtxrpicam_32", "mtxrpicam_64"]) {
    const p = join(src, "internal/staticsources/rpicamera", d);
    if (!existsSync(p)) {
      mkdirSync(p, { recursive: true });
      writeFileSync(join(p, "README"), "rpiCamera helper not bundled in this build\n");
    }
  }

  log(`go build (${version}); this takes a few minutes the first time`);
  run(go, ["build", "-trimpath", "-ldflags", "-s -w", "-o", out, "."], { cwd: src, env: goEnv });
  return { source: `go-proxy:${MODULE}@${version}`, goModuleSum: info.Sum, hlsjs: { version: hlsVersion, tarball: tgz, sha256: hlsSha } };
}

/**
 * Install (or find in the cache) MediaMTX and return its record.
 * @param {{source?: string, sha256?: string, version?: string, arch?: string, force?: boolean, env?: NodeJS.ProcessEnv}} opts
 */
export async function install(opts = {}) {
  const env = opts.env ?? process.env;
  const version = opts.version ?? PINNED_VERSION;
  const arch = opts.arch ?? process.arch;
  if (!(arch in GOARCH)) throw new InstallError(`--arch must be x64 or arm64, not ${arch}`);
  const native = arch === process.arch;
  if (!/^v1\.(2\d|[3-9]\d)\.\d+$/.test(version)) throw new InstallError(`version ${version} is not a MediaMTX v1.20+ release`);
  if (opts.sha256 && !/^[0-9a-f]{64}$/.test(opts.sha256)) throw new InstallError("--sha256 must be 64 lowercase hex chars");
  const dir = native ? join(cacheRoot(env), version) : join(cacheRoot(env), version, `linux-${arch}`);
  const bin = join(dir, "mediamtx");
  const recordPath = join(dir, "install.json");

  const cached = async () => {
    if (opts.force || !existsSync(bin) || !existsSync(recordPath)) return null;
    let rec;
    try {
      rec = JSON.parse(readFileSync(recordPath, "utf8"));
    } catch {
      return null;
    }
    if (rec.version !== version || (rec.arch ?? process.arch) !== arch) return null;
    if (opts.source && rec.source !== opts.source) return null;
    const sum = await sha256File(bin);
    if (sum !== rec.sha256) {
      log(`cached binary's sha256 ${sum} differs from the record ${rec.sha256}; reinstalling`);
      return null;
    }
    if (opts.sha256 && sum !== opts.sha256) return null;
    return { ...rec, path: bin };
  };

  const hit = await cached();
  if (hit) return hit;

  return withLock(dir, async () => {
    const again = await cached();
    if (again) return again;
    const work = mkdtempSync(join(dir, "work-"));
    try {
      const tmpBin = join(work, "mediamtx.new");
      const meta = opts.source ? await fromSource(opts.source, work, tmpBin) : await fromGoProxy(version, work, tmpBin, env, arch);
      const sum = await sha256File(tmpBin);
      if (opts.sha256 && sum !== opts.sha256) {
        throw new InstallError(`sha256 of ${opts.source ?? "build"} is ${sum}, expected ${opts.sha256}`);
      }
      const machine = elfMachine(tmpBin);
      if (machine !== ELF_MACHINE[arch]) throw new InstallError(`binary is not a linux-${arch} ELF executable (e_machine ${machine})`);
      if (native) {
        const reported = spawnSync(tmpBin, ["--version"], { encoding: "utf8", timeout: 10_000 });
        const out = `${reported.stdout ?? ""}${reported.stderr ?? ""}`.trim();
        if (reported.status !== 0 || !out.includes(version)) {
          throw new InstallError(`installed binary reports '${out.slice(0, 200)}', expected ${version}`);
        }
      }
      const record = { version, arch, sha256: sum, ...meta, installedAt: new Date().toISOString() };
      renameSync(tmpBin, bin);
      writeFileSync(recordPath + ".tmp", JSON.stringify(record, null, 2) + "\n");
      renameSync(recordPath + ".tmp", recordPath);
      log(`installed ${version} (sha256 ${sum})`);
      return { ...record, path: bin };
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      source: { type: "string" },
      sha256: { type: "string" },
      version: { type: "string" },
      arch: { type: "string" },
      force: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write("usage: node scripts/mediamtx-install.mjs [--source PATH|URL] [--sha256 HEX] [--version vX.Y.Z] [--arch x64|arm64] [--force]\n");
    return;
  }
  const env = process.env;
  const rec = await install({
    source: values.source ?? (env.SLOWDRIP_MEDIAMTX_SOURCE || undefined),
    sha256: values.sha256 ?? (env.SLOWDRIP_MEDIAMTX_SHA256 || undefined),
    version: values.version ?? (env.SLOWDRIP_MEDIAMTX_VERSION || undefined),
    arch: values.arch,
    force: values.force,
  });
  process.stdout.write(`${rec.path}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main().catch((e) => {
    process.stderr.write(`mediamtx-install: ${e instanceof InstallError ? e.message : e?.stack ?? e}\n`);
    process.exit(1);
  });
}
