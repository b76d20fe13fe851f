// Build dist/slowdrip: one Node single-executable application (pinned runtime + bundled app + lmdb's native addon).
//
// usage: node scripts/build-bin.mjs [--arch x64|arm64] [--output FILE] [--keep-symbols] [--profile default|appliance ...]
//        (npm run build:bin runs scripts/build.mjs first, which generates the wasm modules the bundle embeds)
//
// Profiles. `default` (the developer binary) runs like plain node. `appliance` bakes Node's permission model into the
// executable's execArgv with execArgvExtension "none", so neither NODE_OPTIONS nor the command line can loosen it:
//   --permission, fs read only of --data-dir, --cache-dir, --config and each --read/--write path; fs write only of
//   --data-dir, --cache-dir and each --write path; workers (the hashing pools), addons (lmdb), network; child
//   processes only with --child-process (mediamtx.manage: child). Paths are fixed at build time, so the appliance
//   binary is built for one layout; the defaults are the units' in systemd/:
//     --data-dir DIR      writable state (default /var/lib/slowdrip)
//     --cache-dir DIR     where the lmdb addon is extracted at first start (default /var/cache/slowdrip)
//     --config FILE       the config file, readable until it has been read (default /etc/slowdrip/slowdrip.yaml)
//     --read PATH         another readable path (repeatable; default none)
//     --write PATH        another writable path (repeatable; default /var/lib/mediamtx-slowdrip, MediaMTX's segments)
//     --child-process     allow child processes (MediaMTX as the node's child)
//   After start-up the node drops what it no longer needs (src/node/permission.ts). Every command of that binary runs
//   under the same rules, so the appliance also needs the default build for commands that touch other files.
//
// 1. esbuild bundles src/main.ts with every dependency (lmdb included) into one ES module (the SEA entry uses
//    "mainFormat": "module", so main.ts keeps its top-level await). lmdb's addon loader
//    (node-gyp-build-optional-packages) is replaced by loadLmdbAddon() from src/store/lmdb-native.ts, msgpackr's
//    optional native extension is left out (msgpackr falls back to pure JS), and lmdb's compression dictionary is
//    inlined. Nothing in the bundle may read files from beside its sources: in the executable, import.meta.url is
//    the executable itself.
// 2. The lmdb prebuild that node-gyp-build would pick for the target (node.abi<N>.glibc.node, else node.napi.glibc.node)
//    is embedded as the SEA asset "lmdb.node"; at first use it is written to a private cache dir and dlopen'ed.
// 3. A copy of the runtime is stripped of its symbol table (unless --keep-symbols), then `node --build-sea`
//    (Node >= 25.5, run on the pinned host runtime) injects bundle + asset into it, with the V8 code cache for the
//    host arch and without the experimental-feature warning.
//
// Runtimes and prebuilds: for the host arch they come from node_modules (the `node` package pinned in package.json and
// @lmdb/lmdb-linux-<arch>). For another arch (arm64 on an x64 box) they are fetched once with `npm pack`
// (node-linux-<arch>@<pinned version>, @lmdb/lmdb-linux-<arch>@<lmdb version>, checked against package-lock.json's
// integrity when it lists the package) into ${XDG_CACHE_HOME:-~/.cache}/slowdrip/sea/, and the code cache is turned off
// (V8 code cache is not portable across architectures). The output for another arch is dist/slowdrip-linux-<arch>;
// stripping it needs the cross binutils (Debian: binutils-aarch64-linux-gnu).
import { build, formatMessages } from "esbuild";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, closeSync, copyFileSync, existsSync, openSync, readSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const ARCHES = { x64: { elfMachine: 62 }, arm64: { elfMachine: 183 } };
const ASSET = "lmdb.node";

function fail(msg) {
  console.error(`build-bin: ${msg}`);
  process.exit(1);
}

const { values: opts } = parseArgs({
  options: {
    arch: { type: "string", default: os.arch() },
    output: { type: "string" },
    // For tests: bundle another entry point instead of src/main.ts (the version smoke test is skipped).
    entry: { type: "string" },
    // Keep the runtime's symbol table (about 33 MiB) for perf/gdb; by default it is stripped.
    "keep-symbols": { type: "boolean", default: false },
    // For the start-up bench: leave out the V8 code cache even for the host arch.
    "no-code-cache": { type: "boolean", default: false },
    // Permission profile (see the header): default, or appliance with the paths below fixed into the executable.
    profile: { type: "string", default: "default" },
    "data-dir": { type: "string" },
    "cache-dir": { type: "string" },
    config: { type: "string" },
    read: { type: "string", multiple: true },
    write: { type: "string", multiple: true },
    "child-process": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});
if (opts.help) {
  console.log("usage: node scripts/build-bin.mjs [--arch x64|arm64] [--output FILE] [--keep-symbols] [--no-code-cache]");
  console.log("       [--profile default|appliance] [--data-dir DIR] [--cache-dir DIR] [--config FILE] [--read PATH]... [--write PATH]... [--child-process]");
  process.exit(0);
}
if (process.platform !== "linux") fail(`only Linux executables are built (this is ${process.platform})`);
if (!Object.hasOwn(ARCHES, opts.arch)) fail(`--arch must be one of ${Object.keys(ARCHES).join(", ")}, got '${opts.arch}'`);
const arch = opts.arch;
const native = arch === os.arch();
const entry = resolve(root, opts.entry ?? "src/main.ts");
if (!existsSync(entry)) fail(`entry ${entry} does not exist`);
const output = resolve(root, opts.output ?? (native ? "dist/slowdrip" : `dist/slowdrip-linux-${arch}`));
const execArgv = permissionArgs();

/** The execArgv of the chosen profile: [] for default, Node's permission model for appliance. */
function permissionArgs() {
  const pathFlags = ["data-dir", "cache-dir", "config", "read", "write", "child-process"];
  if (opts.profile === "default") {
    const given = pathFlags.filter((f) => opts[f] !== undefined);
    if (given.length > 0) fail(`--${given[0]} needs --profile appliance`);
    return [];
  }
  if (opts.profile !== "appliance") fail(`--profile must be default or appliance, got '${opts.profile}'`);
  const abs = (flag, p) => {
    if (typeof p !== "string" || !p.startsWith("/") || p.includes(",") || p.includes("*")) fail(`--${flag} must be an absolute path without ',' or '*', got '${p}'`);
    return p.length > 1 ? p.replace(/\/+$/, "") : p;
  };
  const dataDir = abs("data-dir", opts["data-dir"] ?? "/var/lib/slowdrip");
  const cacheDir = abs("cache-dir", opts["cache-dir"] ?? "/var/cache/slowdrip");
  const config = abs("config", opts.config ?? "/etc/slowdrip/slowdrip.yaml");
  const reads = (opts.read ?? []).map((p) => abs("read", p));
  const writes = (opts.write ?? ["/var/lib/mediamtx-slowdrip"]).map((p) => abs("write", p));
  const uniq = (xs) => [...new Set(xs)];
  // A grant of a path that does not exist when the node starts is taken as one file; "<path>/*" grants the path and
  // everything under it, existing or not (measured on Node 26.10). The config file is granted alone so that the node
  // can drop it once read.
  const tree = (p) => (p === "/" ? "/*" : `${p}/*`);
  // Node 26.10's permission model denies a granted path itself (stat, readdir, mkdir of /var/lib/slowdrip) when another
  // granted path's name begins with it (/var/lib/slowdrip-mediamtx): measured, in either order, with or without "/*".
  // Refuse such a layout rather than build a node that cannot open its own data dir.
  const granted = uniq([config, dataDir, cacheDir, ...reads, ...writes]);
  for (const a of granted) {
    const b = granted.find((x) => x !== a && x.startsWith(a) && x[a.length] !== "/" && a !== "/");
    if (b) fail(`${b} begins with ${a}: Node's permission model then refuses ${a} itself; name one of them differently (e.g. /var/lib/mediamtx-slowdrip)`);
  }
  return [
    "--permission",
    `--allow-fs-read=${config}`,
    ...uniq([dataDir, cacheDir, ...reads, ...writes]).map((p) => `--allow-fs-read=${tree(p)}`),
    ...uniq([dataDir, cacheDir, ...writes]).map((p) => `--allow-fs-write=${tree(p)}`),
    "--allow-worker",
    "--allow-addons",
    "--allow-net",
    ...(opts["child-process"] ? ["--allow-child-process"] : []),
    // The flags above are the point of this build: no "use with caution" warning on every start (PERM0001 addons,
    // PERM0002 child processes, PERM0006 workers; --allow-net prints an ExperimentalWarning).
    "--disable-warning=PERM0001",
    "--disable-warning=PERM0002",
    "--disable-warning=PERM0006",
    "--disable-warning=ExperimentalWarning",
  ];
}

const readJson = (p) => JSON.parse(readFileSync(p, "utf8"));
const pkg = readJson(join(root, "package.json"));
const lock = readJson(join(root, "package-lock.json"));
const nodeVersion = pkg.devDependencies?.node;
if (!/^\d+\.\d+\.\d+$/.test(nodeVersion ?? "")) fail(`package.json must pin devDependencies.node to an exact version, got ${nodeVersion}`);
const lmdbVersion = readJson(join(root, "node_modules/lmdb/package.json")).version;

// The host runtime does the building; it must be the pinned one (the SEA blob format is tied to the Node version).
const hostNode = join(root, "node_modules/node/bin/node");
if (!existsSync(hostNode)) fail(`pinned runtime ${relative(root, hostNode)} is missing; run npm ci`);
const hostVersion = spawnSync(hostNode, ["-p", "process.version"], { encoding: "utf8" }).stdout.trim();
if (hostVersion !== `v${nodeVersion}`) fail(`${relative(root, hostNode)} is ${hostVersion}, package.json pins ${nodeVersion}`);
const [major, minor] = nodeVersion.split(".").map(Number);
if (major < 25 || (major === 25 && minor < 5)) fail(`node --build-sea needs Node >= 25.5 (pinned: ${nodeVersion})`);

const cacheRoot = join(process.env.XDG_CACHE_HOME || join(os.homedir(), ".cache"), "slowdrip", "sea");

/** Fetches `name@version` with `npm pack` into the cache (once) and returns the unpacked package dir. */
function npmPackage(name, version) {
  const dest = join(cacheRoot, `${name.replace("/", "+")}@${version}`);
  if (existsSync(join(dest, "package", "package.json"))) return join(dest, "package");
  const work = `${dest}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  console.log(`build-bin: npm pack ${name}@${version} -> ${dest}`);
  const r = spawnSync("npm", ["pack", `${name}@${version}`, "--json", "--pack-destination", work], { cwd: work, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (r.status !== 0) fail(`npm pack ${name}@${version} failed (exit ${r.status})`);
  const [info] = JSON.parse(r.stdout);
  const tgz = join(work, info.filename);
  const locked = lock.packages?.[`node_modules/${name}`];
  if (locked?.version === version && locked.integrity) {
    const [algo, want] = locked.integrity.split("-", 2);
    const got = createHash(algo).update(readFileSync(tgz)).digest("base64");
    if (got !== want) fail(`${name}@${version}: tarball ${algo} ${got} does not match package-lock.json ${want}`);
  } else {
    console.log(`build-bin: ${name}@${version} is not in package-lock.json; trusting the registry's integrity ${info.integrity}`);
  }
  const x = spawnSync("tar", ["-xzf", tgz, "-C", work], { stdio: "inherit" });
  if (x.status !== 0) fail(`cannot unpack ${tgz}`);
  rmSync(tgz);
  rmSync(dest, { recursive: true, force: true });
  renameSync(work, dest);
  return join(dest, "package");
}

// Target runtime and lmdb prebuild directory.
let targetNode, prebuildDir;
if (native) {
  targetNode = hostNode;
  prebuildDir = join(root, `node_modules/@lmdb/lmdb-linux-${arch}`);
  if (!existsSync(prebuildDir)) fail(`${relative(root, prebuildDir)} is missing; run npm ci`);
} else {
  targetNode = join(npmPackage(`node-linux-${arch}`, nodeVersion), "bin", "node");
  prebuildDir = npmPackage(`@lmdb/lmdb-linux-${arch}`, lmdbVersion);
}
if (!existsSync(targetNode)) fail(`target runtime ${targetNode} is missing`);
/** ELF e_machine of a file (62 x86-64, 183 aarch64), -1 if not ELF. */
function elfMachine(file) {
  const b = Buffer.alloc(20);
  const fd = openSync(file, "r");
  try {
    readSync(fd, b, 0, 20, 0);
  } finally {
    closeSync(fd);
  }
  return b.readUInt32BE(0) === 0x7f454c46 ? b.readUInt16LE(18) : -1;
}
if (elfMachine(targetNode) !== ARCHES[arch].elfMachine) fail(`${targetNode} is not a linux-${arch} ELF executable`);

// The addon node-gyp-build would choose on the target: same ABI first, else N-API; glibc (the npm runtime is glibc).
// Host and target run the same Node version, so the host's ABI number is the target's.
const abi = spawnSync(hostNode, ["-p", "process.versions.modules"], { encoding: "utf8" }).stdout.trim();
const files = readdirSync(prebuildDir);
const addonName = [`node.abi${abi}.glibc.node`, `node.abi${abi}.node`, "node.napi.glibc.node", "node.napi.node"].find((f) => files.includes(f));
if (!addonName) fail(`no lmdb prebuild for abi ${abi} or N-API (glibc) in ${prebuildDir}: ${files.join(", ")}`);
const addon = join(prebuildDir, addonName);
if (elfMachine(addon) !== ARCHES[arch].elfMachine) fail(`${addon} is not a linux-${arch} shared object`);

// 1. Bundle.
// Private work dir: tests and developers may build at the same time.
const work = join(root, "build/sea", `${basename(output)}-${arch}-${process.pid}`);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
// The work dir holds a 100+ MiB runtime copy: remove it however the build ends, unless --build-sea needs inspecting.
let keepWork = false;
process.on("exit", () => {
  if (!keepWork) rmSync(work, { recursive: true, force: true });
});
const bundle = join(work, "slowdrip.mjs");
const shim = join(root, "src/store/lmdb-native.ts");
// Files whose direct eval is known to work in the bundle (CommonJS, so wrapped in a function scope where esbuild
// keeps the names; covered by test/fixtures/sea-lmdb-check.ts). Any other direct eval fails the build.
const DIRECT_EVAL_OK = ["node_modules/ordered-binary/dist/index.cjs"];
const inside = (file, pkgName) => file.replaceAll("\\", "/").includes(`/node_modules/${pkgName}/`);

/** Project sources that locate files relative to themselves: those files are not inside the executable. */
const besideSources = [];

/** esbuild plugin: makes lmdb loadable from inside the single executable. */
const seaPlugin = {
  name: "slowdrip-sea",
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
      if (args.path.includes("node_modules") || /\.test\.ts$/.test(args.path)) return undefined;
      const src = readFileSync(args.path, "utf8");
      if (/import\.meta\.(url|dirname|filename)|__dirname|__filename/.test(src)) besideSources.push(relative(root, args.path));
      return undefined;
    });
    b.onResolve({ filter: /^node-gyp-build-optional-packages$/ }, (args) => {
      if (!inside(args.importer, "lmdb")) {
        return { errors: [{ text: `${args.importer} loads a native addon through node-gyp-build; only lmdb's addon is embedded (extend scripts/build-bin.mjs)` }] };
      }
      return { path: "lmdb-addon-loader", namespace: "slowdrip-sea" };
    });
    b.onLoad({ filter: /^lmdb-addon-loader$/, namespace: "slowdrip-sea" }, () => ({
      contents: `import { loadLmdbAddon } from ${JSON.stringify(shim)};\nexport default loadLmdbAddon;\n`,
      loader: "js",
      resolveDir: root,
    }));
    b.onResolve({ filter: /^msgpackr-extract$/ }, () => ({ path: "msgpackr-extract", namespace: "slowdrip-sea" }));
    b.onLoad({ filter: /^msgpackr-extract$/, namespace: "slowdrip-sea" }, () => ({
      contents: 'throw new Error("msgpackr-extract is not part of the single executable");\n',
      loader: "js",
    }));
    // ordered-binary (lmdb's key codec) builds its string reader with a direct eval that closes over its module-level
    // `position` and `finishUtf8`. Scope-hoisting its ES module renames those (other modules have a `position` too),
    // and the eval'd reader then never advances: getRange loops until "Invalid array length". Its CommonJS build is
    // wrapped in a function scope instead, where esbuild keeps the names that a direct eval can see.
    b.onResolve({ filter: /^ordered-binary$/ }, (args) => ({
      path: createRequire(args.importer).resolve("ordered-binary"),
    }));
    // lmdb reads its compression dictionary from beside its sources; inline it instead.
    b.onLoad({ filter: /[\\/]node_modules[\\/]lmdb[\\/]open\.js$/ }, (args) => {
      const src = readFileSync(args.path, "utf8");
      const pattern = /fs\.readFileSync\(\s*new URL\(\s*'\.\/dict\/dict\.txt',\s*import\.meta\.url\.replace\([^)]*\),?\s*\),?\s*\)/g;
      const hits = src.match(pattern)?.length ?? 0;
      if (hits !== 1) return { errors: [{ text: `lmdb/open.js: expected one read of dict/dict.txt, found ${hits}; update scripts/build-bin.mjs` }] };
      const dict = readFileSync(join(dirname(args.path), "dict/dict.txt")).toString("base64");
      return { contents: src.replace(pattern, `Buffer.from(${JSON.stringify(dict)}, "base64")`), loader: "js" };
    });
  },
};

const result = await build({
  entryPoints: [entry],
  outfile: bundle,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node26",
  minifyWhitespace: false,
  legalComments: "none",
  define: { __SLOWDRIP_VERSION__: JSON.stringify(pkg.version) },
  banner: {
    js: [
      'import { createRequire as __slowdripCreateRequire } from "node:module";',
      // In a single executable, a require made from the executable's path loads built-in modules.
      "const require = __slowdripCreateRequire(import.meta.url);",
    ].join("\n"),
  },
  plugins: [seaPlugin],
  // Warnings (direct evals included, which esbuild otherwise hides inside node_modules) are vetted below.
  logOverride: { "direct-eval": "warning" },
  logLevel: "error",
});
const evalOk = (w) => {
  const file = `/${(w.location?.file ?? "").replaceAll("\\", "/")}`;
  return w.id === "direct-eval" && DIRECT_EVAL_OK.some((ok) => file.endsWith(`/${ok}`));
};
const warnings = result.warnings.filter((w) => !evalOk(w));
if (warnings.length > 0) {
  for (const line of await formatMessages(warnings, { kind: "warning", color: false })) console.warn(line);
}
const badEvals = warnings.filter((w) => w.id === "direct-eval");
if (badEvals.length > 0) {
  fail(`direct eval in ${badEvals.map((w) => w.location?.file).join(", ")}: bundling renames the names it can see; check it works in the executable, then list it in DIRECT_EVAL_OK`);
}

for (const f of besideSources) {
  console.warn(`build-bin: warning: ${f} finds files relative to its own location; in the executable import.meta.url is the executable itself, so embed such files (e.g. as a generated .ts module)`);
}

// 2 + 3. Assemble and inject.
copyFileSync(addon, join(work, ASSET));
// The npm runtime ships with its full symbol table; strip a copy (N-API symbols live in .dynsym and stay).
let runtime = targetNode;
if (!opts["keep-symbols"]) {
  const triplet = { x64: "x86_64-linux-gnu", arm64: "aarch64-linux-gnu" }[arch];
  const tools = [`${triplet}-strip`, ...(native ? ["strip"] : [])];
  runtime = join(work, "node");
  copyFileSync(targetNode, runtime);
  chmodSync(runtime, 0o755);
  const ok = tools.some((tool) => spawnSync(tool, ["--strip-all", runtime], { stdio: "ignore" }).status === 0);
  if (!ok) fail(`cannot strip the linux-${arch} runtime with ${tools.join(" or ")} (Debian: binutils${native ? "" : `-${triplet}`}); or pass --keep-symbols`);
}
const config = {
  main: bundle,
  mainFormat: "module",
  executable: runtime,
  output: join(work, "slowdrip"),
  disableExperimentalSEAWarning: true,
  // The snapshot cannot hold an ES module entry; the code cache is V8- and CPU-specific, so only for the host arch.
  useSnapshot: false,
  useCodeCache: native && !opts["no-code-cache"],
  assets: { [ASSET]: join(work, ASSET) },
  // The appliance profile's permission model; "none": NODE_OPTIONS and the command line cannot add node options.
  ...(execArgv.length > 0 ? { execArgv, execArgvExtension: "none" } : {}),
};
const configFile = join(work, "sea-config.json");
writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
const r = spawnSync(hostNode, ["--build-sea", configFile], { cwd: work, stdio: "inherit" });
if (r.status !== 0) {
  keepWork = true;
  fail(`node --build-sea failed (exit ${r.status}); inputs kept in ${work}`);
}
if (elfMachine(config.output) !== ARCHES[arch].elfMachine) fail(`${config.output} is not a linux-${arch} ELF executable`);

mkdirSync(dirname(output), { recursive: true });
const tmpOut = `${output}.tmp-${process.pid}`;
copyFileSync(config.output, tmpOut);
chmodSync(tmpOut, 0o755);
renameSync(tmpOut, output);

// Smoke test on the host arch: the binary must run without node_modules next to it.
if (native && opts.entry === undefined) {
  const v = spawnSync(output, ["version", "--json"], { cwd: os.tmpdir(), encoding: "utf8", env: { PATH: "/usr/bin:/bin", HOME: os.homedir() } });
  let info;
  try {
    info = JSON.parse(v.stdout);
  } catch {
    fail(`${output} version --json failed (exit ${v.status}): ${v.stderr.trim()}`);
  }
  if (info.version !== pkg.version || info.node !== `v${nodeVersion}`) fail(`${output} reports ${v.stdout.trim()}`);
}
const size = (statSync(output).size / 2 ** 20).toFixed(1);
const shown = relative(root, output).startsWith("..") ? output : relative(root, output);
console.log(`build-bin: ${shown} (linux-${arch}, node ${nodeVersion}, lmdb ${lmdbVersion} ${addonName}, ${size} MiB, profile ${opts.profile})`);
if (execArgv.length > 0) console.log(`build-bin: execArgv ${execArgv.join(" ")}`);
