// Test helpers: start an in-process node on a free loopback port with a fresh data dir, and spawn the built CLI.
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

/** Starts a node in this process with config flags (by key) on 127.0.0.1:0. */
export async function startTestNode(flags: Record<string, string> = {}, assemble?: Assemble): Promise<RunningNode> {
  const { config } = loadConfig({ flags: { "api.listen": "127.0.0.1:0", "node.data_dir": tempDir(), "node.log_level": "silent", ...flags } });
  return startNode(config, createLogger(config["node.log_level"]), assemble);
}

/** Runs the built CLI to completion. */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
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

/** Spawns `slowdrip run` and waits until it logs "node started"; returns the child and its URL. */
export async function spawnNode(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; url: string; logs: () => string }> {
  // MediaMTX stays off unless a test asks for it: parallel test nodes would otherwise contend for its default ports.
  const child = spawn(NODE_BIN, [CLI, "run", ...args], { cwd: ROOT, env: { ...process.env, SLOWDRIP_MEDIAMTX_MANAGE: "off", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start:\n${out}`)), 30_000);
    const check = () => {
      for (const line of out.split("\n")) {
        if (line.includes('"node started"')) {
          clearTimeout(timer);
          resolve(JSON.parse(line).url);
          return;
        }
      }
    };
    child.stdout!.on("data", check);
    child.on("exit", (code) => reject(new Error(`node exited with ${code}:\n${out}`)));
  });
  return { child, url, logs: () => out };
}
