// Start-up of the single executable: `version` and `run` until /healthz answers, against `node dist/slowdrip.mjs`.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import { freePort } from "../test/helpers/sea.ts";
import os from "node:os";
import path from "node:path";

const root = process.cwd();
const RUNS = Number(process.env.BENCH_BIN_RUNS ?? 15);
const work = fs.mkdtempSync(path.join(os.tmpdir(), "slowdrip-bench-bin-"));
const env = { PATH: "/usr/bin:/bin", HOME: path.join(work, "home") };
fs.mkdirSync(env.HOME);

function buildBin(output: string, extra: string[]): void {
  const r = spawnSync(process.execPath, [path.join(root, "scripts/build-bin.mjs"), "--output", output, ...extra], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`build-bin failed: ${r.stdout}${r.stderr}`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** Milliseconds from spawn to exit of `cmd... version`. */
function timeVersion(cmd: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd[0]!, [...cmd.slice(1), "version"], { cwd: work, env, encoding: "utf8" });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd.join(" ")} version: ${r.stderr}`);
  return ms;
}

/** Milliseconds from spawn to the first 200 from /healthz of `cmd... run`; the node is stopped afterwards. */
async function timeReady(cmd: string[]): Promise<number> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(work, "data-"));
  const t0 = performance.now();
  const child = spawn(cmd[0]!, [...cmd.slice(1), "run", "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`, "--admin-listen", "127.0.0.1:0", "--set", "api.hooks_listen=127.0.0.1:0"], { cwd: work, env, stdio: "ignore" });
  const exited = new Promise((r) => child.on("exit", r));
  try {
    for (let i = 0; i < 3000; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`${cmd.join(" ")} run: no /healthz`);
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

const sea = path.join(work, "sea", "slowdrip");
const seaNoCache = path.join(work, "sea-no-cache", "slowdrip");
buildBin(sea, []);
buildBin(seaNoCache, ["--no-code-cache"]);
const mjs = path.join(root, "dist/slowdrip.mjs");
if (!fs.existsSync(mjs)) throw new Error("dist/slowdrip.mjs is missing: run npm run build");

const rows: Record<string, string[]> = {
  "node dist/slowdrip.mjs": [process.execPath, mjs],
  "dist/slowdrip (code cache)": [sea],
  "dist/slowdrip (no code cache)": [seaNoCache],
};
const results: Record<string, Record<string, number>> = {};
for (const [name, cmd] of Object.entries(rows)) {
  timeVersion(cmd); // warm the page cache (and extract lmdb's addon once)
  const version: number[] = [];
  const ready: number[] = [];
  for (let i = 0; i < RUNS; i++) version.push(timeVersion(cmd));
  for (let i = 0; i < Math.max(3, Math.floor(RUNS / 3)); i++) ready.push(await timeReady(cmd));
  results[name] = { version_ms_median: median(version), run_to_healthz_ms_median: median(ready) };
}
const size = (f: string) => fs.statSync(f).size / 2 ** 20;
results["dist/slowdrip (code cache)"]!.size_mib = size(sea);
results["dist/slowdrip (no code cache)"]!.size_mib = size(seaNoCache);

const cols = ["version_ms_median", "run_to_healthz_ms_median", "size_mib"];
console.log(`| ${["variant", ...cols].join(" | ")} |`);
console.log(`|${["---", ...cols.map(() => "---:")].join("|")}|`);
for (const [name, r] of Object.entries(results)) {
  console.log(`| ${[name, ...cols.map((c) => (r[c] === undefined ? "" : r[c]!.toFixed(1)))].join(" | ")} |`);
}
fs.mkdirSync(path.join(root, "bench/results"), { recursive: true });
fs.writeFileSync(path.join(root, "bench/results/bin.json"), `${JSON.stringify({ runs: RUNS, node: process.version, results }, null, 2)}\n`);
fs.rmSync(work, { recursive: true, force: true });
