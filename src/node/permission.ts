// Node's permission model (the appliance build's execArgv): what it allows, clear refusals, rights dropped after start.
import { mkdirSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";

/** `process.permission`: present only when the process runs with `--permission`. */
interface PermissionApi {
  has(scope: string, reference?: string): boolean;
  drop(scope: string, reference?: string): void;
}

function api(): PermissionApi | undefined {
  const p = (process as unknown as { permission?: PermissionApi }).permission;
  return p && typeof p.has === "function" ? p : undefined;
}

/** True when this process runs under Node's permission model (the appliance build). */
export function permissionActive(): boolean {
  return api() !== undefined;
}

/** The raw `--allow-fs-read` or `--allow-fs-write` grants (from the execArgv the executable was built with). */
function grants(kind: "read" | "write"): string[] {
  const prefix = `--allow-fs-${kind}=`;
  return process.execArgv.filter((a) => a.startsWith(prefix)).flatMap((a) => a.slice(prefix.length).split(","));
}

/** The paths the build may read or write ("<dir>/*" grants shown as the directory). */
export function allowedPaths(kind: "read" | "write"): string[] {
  return grants(kind).map((g) => (g === "/*" ? "/" : g.replace(/\/\*$/, "")));
}

/** The grant that names exactly `path` (as a file, or as "<path>/*"), if any: the only kind `drop` can take back. */
function grantOf(kind: "read" | "write", path: string): string | undefined {
  const want = resolve(path);
  return grants(kind).find((g) => resolve(g.replace(/\/\*$/, "") || "/") === want);
}

/** A refusal of the permission model, raised before the node touches anything. */
export class PermissionRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PermissionRefused";
  }
}

function rules(): string {
  const list = (xs: string[]) => (xs.length > 0 ? xs.join(", ") : "nothing");
  return `this slowdrip build runs under Node's permission model, fixed when it was built: it may write only ${list(allowedPaths("write"))} and read only ${list(allowedPaths("read"))}`;
}

/**
 * One line for an `ERR_ACCESS_DENIED` error of the permission model ("read of /x is not allowed: ..."), or undefined
 * for any other error.
 */
export function describeAccessDenied(err: unknown): string | undefined {
  const e = err as { code?: unknown; permission?: unknown; resource?: unknown } | null;
  if (e?.code !== "ERR_ACCESS_DENIED") return undefined;
  const what: Record<string, string> = { FileSystemRead: "read of", FileSystemWrite: "write to", ChildProcess: "starting a child process", WorkerThreads: "starting a worker thread", NativeModule: "loading a native addon", Net: "network access" };
  const action = what[String(e.permission)] ?? `${String(e.permission)}`;
  const resource = typeof e.resource === "string" && e.resource !== "" ? ` ${e.resource}` : "";
  return `${action}${resource} is not allowed: ${rules()}`;
}

function inside(dir: string, p: string): boolean {
  const r = relative(dir, p);
  return r === "" || (!r.startsWith("..") && !isAbsolute(r));
}

/** What `run` needs of the permission model for a config; paths absolute. */
export interface NodeRights {
  dataDir: string;
  /** MediaMTX's segment directory when the node reads and deletes segments there. */
  recordDir?: string;
  /** True when MediaMTX runs as the node's child (mediamtx.manage: child). */
  childProcess: boolean;
}

/**
 * Under the permission model, refuses up front a config the build does not allow (a data dir or segment dir outside
 * the writable paths, MediaMTX as a child without child processes), with the rules in the message.
 * @throws PermissionRefused
 */
export function checkNodeRights(need: NodeRights): void {
  const p = api();
  if (!p) return;
  const writable = (dir: string) => p.has("fs.write", dir) && p.has("fs.read", dir);
  if (!writable(need.dataDir)) throw new PermissionRefused(`node.data_dir ${need.dataDir} is not writable: ${rules()}`);
  if (need.recordDir !== undefined && !writable(need.recordDir)) throw new PermissionRefused(`mediamtx.record_dir ${need.recordDir} is not writable: ${rules()}`);
  if (need.childProcess && !p.has("child")) {
    throw new PermissionRefused(`mediamtx.manage child needs child processes, which this build does not allow (built without --child-process); use mediamtx.manage systemd: ${rules()}`);
  }
}

/**
 * Under the permission model, makes the working directory the data dir when the main thread may not read the current
 * one: Node 26 lets worker threads read their creator's working directory even where the main thread may not
 * (measured), so a node started in / would hand its hashing workers the whole file system. Returns the absolute data
 * dir (relative config paths were resolved against the old working directory).
 */
export function enterReadableCwd(dataDir: string): string {
  const abs = resolve(dataDir);
  const p = api();
  if (!p || p.has("fs.read", process.cwd())) return abs;
  mkdirSync(abs, { recursive: true, mode: 0o700 });
  process.chdir(abs);
  return abs;
}

/** Rights the node gives up once it runs. */
export interface StartedNode {
  /** The config file read at start (its read right is dropped when it was granted as that file). */
  configFile?: string;
  /** Directories the lmdb addon may have been extracted to (their write right is dropped once it is loaded). */
  addonDirs: readonly string[];
  /** Paths that must stay writable (data dir, segment dir): a grant holding one of them is never dropped. */
  keepWritable: readonly string[];
  /** True when MediaMTX runs as the node's child: child processes stay allowed for restarts. */
  childProcess: boolean;
}

/**
 * Drops, with `process.permission.drop`, what a running node no longer needs: reading the config file, writing the
 * addon cache, starting child processes unless it supervises MediaMTX. Returns what was dropped (for the log).
 * A right can only be dropped as it was granted (dropping a file inside a granted directory changes nothing, and a
 * directory granted as "<dir>/*" is dropped as "<dir>/*"; measured), so the appliance build grants the config file by
 * itself.
 */
export function dropAfterStart(node: StartedNode): string[] {
  const p = api();
  if (!p) return [];
  const dropped: string[] = [];
  const needed = (path: string) => node.keepWritable.some((k) => inside(resolve(path), resolve(k)) || inside(resolve(k), resolve(path)));
  const configGrant = node.configFile ? grantOf("read", node.configFile) : undefined;
  if (node.configFile && configGrant && !needed(node.configFile)) {
    p.drop("fs.read", configGrant);
    dropped.push(`fs.read ${node.configFile}`);
  }
  for (const dir of new Set(node.addonDirs)) {
    const grant = grantOf("write", dir);
    if (!grant || needed(dir)) continue;
    p.drop("fs.write", grant);
    dropped.push(`fs.write ${dir}`);
  }
  if (!node.childProcess && p.has("child")) {
    p.drop("child");
    dropped.push("child");
  }
  return dropped;
}
