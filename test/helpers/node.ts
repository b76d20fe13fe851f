// Test helpers: start an in-process node on free loopback ports (public, admin and hooks listeners) with a fresh data
// dir, and spawn the built CLI.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { loadConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/node/logger.ts";
import { startNode, type Assemble, type RunningNode } from "../../src/node/node.ts";

export const ROOT = join(import.meta.dirname, "../..");
export const NODE_BIN = join(ROOT, "node_modules/.bin/node");
export const CLI = join(ROOT, "dist/slowdrip.mjs");

/** A fresh temporary directory. */
export function tempDir(prefix = "slowdrip-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Config flags that put all three listeners on free loopback ports. */
export const FREE_LISTENERS: Readonly<Record<string, string>> = { "api.listen": "127.0.0.1:0", "api.admin_listen": "127.0.0.1:0", "api.hooks_listen": "127.0.0.1:0" };

/**
 * Starts a node in this process with config flags (by key), every listener on 127.0.0.1:0. The node's `url` is the
 * public listener, `adminUrl` the admin one (control RPCs, /metrics, PUT /blobs), `hooksUrl` the MediaMTX hooks.
 */
export async function startTestNode(flags: Record<string, string> = {}, assemble?: Assemble): Promise<RunningNode> {
  const { config } = loadConfig({ flags: { ...FREE_LISTENERS, "node.data_dir": tempDir(), "node.log_level": "silent", ...flags } });
  return startNode(config, createLogger(config["node.log_level"]), assemble);
}

/** Env that puts all three listeners of a spawned `slowdrip run` on free loopback ports (flags still win). */
export const FREE_LISTENERS_ENV: Readonly<NodeJS.ProcessEnv> = {
  SLOWDRIP_API_LISTEN: "127.0.0.1:0",
  SLOWDRIP_API_ADMIN_LISTEN: "127.0.0.1:0",
  SLOWDRIP_API_HOOKS_LISTEN: "127.0.0.1:0",
};

/** A spawned `slowdrip run`: the child and the URLs its "node started" line named. */
export interface SpawnedNode {
  child: ChildProcess;
  /** Public listener. */
  url: string;
  /** Admin listener. */
  adminUrl: string;
  /** Hooks listener. */
  hooksUrl: string;
  logs: () => string;
}

/** SIGTERM to a spawned node, resolving once it has exited (at once when it already has). */
export async function stopNode(n: SpawnedNode): Promise<void> {
  if (n.child.exitCode !== null || n.child.signalCode !== null) return;
  const exited = new Promise((r) => n.child.once("exit", r));
  n.child.kill("SIGTERM");
  await exited;
}

/** Runs the built CLI to completion. */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Uint8Array } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE_BIN, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? "");
  });
}

/**
 * Spawns `slowdrip run` (every listener on a free loopback port unless `args`/`env` say otherwise) and waits until it
 * logs "node started"; returns the child and its three URLs.
 */
export async function spawnNode(args: string[], env: NodeJS.ProcessEnv = {}): Promise<SpawnedNode> {
  // MediaMTX stays off unless a test asks for it: parallel test nodes would otherwise contend for its default ports.
  const child = spawn(NODE_BIN, [CLI, "run", ...args], {
    cwd: ROOT,
    env: { ...process.env, SLOWDRIP_MEDIAMTX_MANAGE: "off", ...FREE_LISTENERS_ENV, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const started = await new Promise<{ url: string; admin_url: string; hooks_url: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start:\n${out}`)), 30_000);
    const check = () => {
      for (const line of out.split("\n")) {
        if (line.includes('"node started"')) {
          clearTimeout(timer);
          resolve(JSON.parse(line));
          return;
        }
      }
    };
    child.stdout!.on("data", check);
    child.on("exit", (code) => reject(new Error(`node exited with ${code}:\n${out}`)));
  });
  return { child, url: started.url, adminUrl: started.admin_url, hooksUrl: started.hooks_url, logs: () => out };
}
