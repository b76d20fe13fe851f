// Test helper: Prometheus' promtool from test/peers/promtool.sh (built once from the Go module proxy, cached) and its metrics linter.
import { execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("./promtool.sh", import.meta.url));

/** Builds promtool on first use (minutes) or finds it in the cache; resolves to the binary's path. */
export function installPromtool(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("bash", [script, "install"], { timeout: 1_800_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`promtool.sh install failed: ${stderr || err.message}`, { cause: err }));
      else resolve(stdout.trim().split("\n").pop()!);
    });
  });
}

/** `promtool check metrics` on an exposition text: its exit code and what it printed (one problem per line). */
export function promtoolCheckMetrics(bin: string, text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output: output.trim() }));
    child.stdin.end(text);
  });
}
