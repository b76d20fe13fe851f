// Shared by the test-peer helpers (mints.ts, relay.ts): runs a peer script and stops processes by PID.
import { execFile } from "node:child_process";

/** Runs `bash script args...` (up to 10 min, for a first install); resolves with stdout, rejects naming the script. */
export function runPeerScript(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const name = script.split("/").pop();
  return new Promise((resolve, reject) => {
    execFile("bash", [script, ...args], { timeout: 600_000, maxBuffer: 1 << 20, env }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${name} ${args[0]} failed: ${stderr || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

/** True while a process with this PID exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, up to 5 s for the process to exit, then SIGKILL; resolves once it is gone (or was already). */
export async function stopPid(pid: number): Promise<void> {
  if (!alive(pid)) return;
  try { process.kill(pid, "SIGTERM"); } catch { /* already gone */ }
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) try { process.kill(pid, "SIGKILL"); } catch { /* already gone */ }
}
