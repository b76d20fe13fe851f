// Test helpers for the single executable: build it with scripts/build-bin.mjs, run it bare, probe a running node.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

export const ROOT = path.join(import.meta.dirname, "../..");
export const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string; devDependencies: { node: string } };

/** ELF e_machine values of the architectures build-bin.mjs produces. */
export const ELF_MACHINE = { x64: 62, arm64: 183 } as const;

/** Runs scripts/build-bin.mjs (what `npm run build:bin` runs after the regular build) on the pinned runtime; resolves to its output. */
export function buildBin(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, "scripts/build-bin.mjs"), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`build-bin ${args.join(" ")} exited ${code}:\n${out}`))));
  });
}

/** The ELF e_machine field of a file, or -1 when it is not ELF. */
export function elfMachine(file: string): number {
  const head = Buffer.alloc(20);
  const fd = fs.openSync(file, "r");
  try {
    fs.readSync(fd, head, 0, 20, 0);
  } finally {
    fs.closeSync(fd);
  }
  return head.readUInt32BE(0) === 0x7f454c46 ? head.readUInt16LE(18) : -1;
}

/** The kernel's ephemeral port range (where `listen(0)` and outgoing connections take their ports). */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi)) return [lo!, hi!];
  } catch {
    // not Linux: fall through
  }
  return [32768, 60999];
}

/** Whether 127.0.0.1:`port` can be listened on now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/**
 * A free loopback TCP port for a process to listen on later (a node that keeps its port across restarts). It is taken
 * below the kernel's ephemeral range: a port from listen(0) was free only until the next listen(0) or outgoing
 * connection of any test process took it (a cluster node once failed with EADDRINUSE that way).
 */
export async function freePort(): Promise<number> {
  const [lo] = ephemeralRange();
  const first = 10_000;
  if (lo - first >= 1000) {
    for (let i = 0; i < 200; i++) {
      const port = first + Math.floor(Math.random() * (lo - first));
      if (await canListen(port)) return port;
    }
  }
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Result of starting `run`, probing /healthz and stopping the process with SIGTERM. */
export interface RunProbe {
  healthz: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/**
 * Spawns `command args... run --data-dir D --listen 127.0.0.1:<port> --admin-listen 127.0.0.1:<port>` (hooks on port 0), polls /healthz until 200 (at most `waitMs`),
 * runs `whileUp` against the node, sends SIGTERM and waits for the exit.
 */
export async function runAndProbe(
  command: string,
  prefix: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; dataDir: string; waitMs?: number; whileUp?: (url: string, adminUrl: string) => Promise<void> },
): Promise<RunProbe> {
  const port = await freePort();
  const adminPort = await freePort();
  // The admin and hooks listeners go on free ports too (their defaults would collide between parallel tests).
  const child: ChildProcess = spawn(command, [...prefix, "run", "--data-dir", opts.dataDir, "--listen", `127.0.0.1:${port}`, "--admin-listen", `127.0.0.1:${adminPort}`, "--set", "api.hooks_listen=127.0.0.1:0"], {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  let healthz = 0;
  try {
    const deadline = Date.now() + (opts.waitMs ?? 15_000);
    while (healthz !== 200 && child.exitCode === null && Date.now() < deadline) {
      healthz = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.status,
        () => 0,
      );
      if (healthz !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    if (healthz === 200 && opts.whileUp) await opts.whileUp(`http://127.0.0.1:${port}`, `http://127.0.0.1:${adminPort}`);
  } finally {
    child.kill("SIGTERM");
  }
  const { code, signal } = await exited;
  return { healthz, code, signal, output };
}
