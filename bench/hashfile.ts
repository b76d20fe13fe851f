// `slowdrip hash FILE` on the built binary against blake3-wasm@3 (one thread, 1 MiB reads of the same file) and Rust
// `b3sum` on every core, whole processes timed from spawn to exit, files of 4 / 64 / 512 MiB in /dev/shm.
// Run: npm run bench -- hashfile [-- --quick] [--also=PATH/TO/other-slowdrip.mjs]   (results in bench/results/hashfile.json)
// b3sum is built once from crates.io (`cargo install b3sum`) into ~/.cache/slowdrip/b3sum; without cargo its row is skipped.
import { spawnSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { availableParallelism, cpus, homedir, loadavg, tmpdir } from "node:os";
import { join } from "node:path";

const root = process.cwd();
const quick = process.argv.includes("--quick");
const also = process.argv.filter((a) => a.startsWith("--also=")).map((a) => a.slice("--also=".length));
const ROUNDS = quick ? 3 : 9;
const MiB = 1 << 20;
const loadAtStart = loadavg();

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Builds b3sum into the cache once; returns its path or null when cargo is missing or the build fails. */
function b3sumPath(): string | null {
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "slowdrip", "b3sum");
  const bin = join(cache, "bin", "b3sum");
  if (existsSync(bin)) return bin;
  console.log("building b3sum from crates.io into", cache, "(once)");
  const r = spawnSync("cargo", ["install", "b3sum", "--root", cache], { stdio: "inherit" });
  return r.status === 0 && existsSync(bin) ? bin : null;
}

// The anchor: blake3-wasm@3 on one thread reading the same file 1 MiB at a time.
const anchorScript = join(root, "build/bench/hashfile-anchor.mjs");
mkdirSync(join(root, "build/bench"), { recursive: true });
writeFileSync(anchorScript, [
  'import { createRequire } from "node:module";',
  'import { openSync, readSync, closeSync } from "node:fs";',
  `const b3 = createRequire(${JSON.stringify(join(root, "package.json"))})("blake3-wasm");`,
  "await b3.load();",
  "const fd = openSync(process.argv[2], 'r'); const buf = new Uint8Array(1 << 20); const h = b3.createHash();",
  "for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));",
  "closeSync(fd); process.stdout.write(Buffer.from(h.digest()).toString('hex') + '  ' + process.argv[2] + '\\n');",
].join("\n"));

interface Tool {
  name: string;
  cmd: (file: string) => string[];
}
const node = process.execPath;
const tools: Tool[] = [
  { name: "blake3-wasm@3, 1 thread (anchor)", cmd: (f) => [node, anchorScript, f] },
  { name: "slowdrip hash (dist/slowdrip.mjs)", cmd: (f) => [node, join(root, "dist/slowdrip.mjs"), "hash", f] },
];
for (const a of also) tools.push({ name: `slowdrip hash (${a})`, cmd: (f) => [node, a, "hash", f] });
const sea = join(root, "dist/slowdrip");
if (existsSync(sea)) tools.push({ name: "slowdrip hash (SEA dist/slowdrip)", cmd: (f) => [sea, "hash", f] });
const b3sum = b3sumPath();
if (b3sum) tools.push({ name: `b3sum --num-threads ${availableParallelism()}`, cmd: (f) => [b3sum, "--num-threads", String(availableParallelism()), f] });

// CPU seconds (user + sys) of each child through GNU time when the box has it: on a busy box wall time says little.
const gnuTime = existsSync("/usr/bin/time") ? "/usr/bin/time" : null;
const cpuFile = join(tmpdir(), `slowdrip-bench-hashfile-cpu-${process.pid}`);

/** Milliseconds from spawn to exit and CPU ms of the child (NaN without GNU time); checks the printed digest. */
function timeRun(cmd: string[], want: string | null): { ms: number; cpuMs: number; hex: string } {
  const full = gnuTime ? [gnuTime, "-o", cpuFile, "-f", "%U %S", ...cmd] : cmd;
  const t0 = performance.now();
  const r = spawnSync(full[0]!, full.slice(1), { encoding: "utf8", maxBuffer: 1 << 20 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd.join(" ")}: exit ${r.status}: ${r.stderr}`);
  const hex = r.stdout.split(/\s+/)[0]!;
  if (want && hex !== want) throw new Error(`${cmd.join(" ")}: digest ${hex}, expected ${want}`);
  let cpuMs = NaN;
  if (gnuTime) {
    const [u, sy] = readFileSync(cpuFile, "utf8").trim().split("\n").at(-1)!.split(" ").map(Number);
    cpuMs = (u! + sy!) * 1000;
  }
  return { ms, cpuMs, hex };
}

const dir = existsSync("/dev/shm") ? mkdtempSync("/dev/shm/slowdrip-bench-hashfile-") : mkdtempSync(join(tmpdir(), "slowdrip-bench-hashfile-"));
const rows: Record<string, Record<string, number | string>> = {};
const table: string[][] = [];
try {
  for (const size of quick ? [4, 64] : [4, 64, 512]) {
    const file = join(dir, `f${size}`);
    const fd = openSync(file, "w");
    const block = new Uint8Array(16 * MiB);
    for (let left = size * MiB; left > 0; left -= block.length) writeSync(fd, randomFillSync(block), 0, Math.min(block.length, left));
    closeSync(fd);
    const want = timeRun(tools[0]!.cmd(file), null).hex;
    for (const t of tools) timeRun(t.cmd(file), want); // warm-up and digest check
    const ms: Record<string, number[]> = {};
    const cpu: Record<string, number[]> = {};
    const ratios: Record<string, number[]> = {};
    // Paired rounds: every tool once per round, the ratio taken within the round.
    for (let r = 0; r < ROUNDS; r++) {
      const round: Record<string, number> = {};
      for (const t of tools) {
        const x = timeRun(t.cmd(file), want);
        round[t.name] = x.ms;
        (cpu[t.name] ??= []).push(x.cpuMs);
      }
      for (const t of tools) {
        (ms[t.name] ??= []).push(round[t.name]!);
        (ratios[t.name] ??= []).push(round[tools[0]!.name]! / round[t.name]!);
      }
    }
    for (const t of tools) {
      const m = median(ms[t.name]!);
      const mbps = (size * MiB) / 1e6 / (m / 1000);
      const ratio = median(ratios[t.name]!);
      const row = `${size} MiB / ${t.name}`;
      const c = median(cpu[t.name]!);
      rows[row] = { "ms (median)": Number(m.toFixed(1)), "MB/s": Math.round(mbps), "x anchor (median of paired rounds)": Number(ratio.toFixed(2)), "cpu ms (median)": Math.round(c) };
      table.push([`${size} MiB`, t.name, m.toFixed(0), Math.round(mbps).toString(), ratio.toFixed(2), Number.isNaN(c) ? "" : Math.round(c).toString()]);
    }
    if (b3sum) {
      const b = tools.at(-1)!.name;
      const ours = tools[1]!.name;
      const vsB3 = median(ms[b]!.map((x, i) => x / ms[ours]![i]!));
      rows[`${size} MiB / slowdrip hash vs b3sum`] = { "x b3sum (median of paired rounds)": Number(vsB3.toFixed(2)) };
    }
    rmSync(file);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
  rmSync(cpuFile, { force: true });
}
const loadAtEnd = loadavg();
const pad = (s: string, n: number) => s.padEnd(n);
console.log(`cpu: ${cpus()[0]?.model ?? "?"} x${availableParallelism()}, node ${process.version}${quick ? " (quick)" : ""}, ${ROUNDS} paired rounds`);
console.log(`load average at start ${loadAtStart.map((x) => x.toFixed(2)).join(" ")}, at end ${loadAtEnd.map((x) => x.toFixed(2)).join(" ")}\n`);
console.log(`${pad("file", 9)}${pad("tool", 48)}${"ms".padStart(8)}${"MB/s".padStart(8)}${"x anchor".padStart(10)}${"cpu ms".padStart(9)}`);
for (const [s, n, m, v, r, c] of table) console.log(`${pad(s!, 9)}${pad(n!, 48)}${m!.padStart(8)}${v!.padStart(8)}${r!.padStart(10)}${c!.padStart(9)}`);
for (const [row, cols] of Object.entries(rows)) if (row.includes("vs b3sum")) console.log(`${row}: ${Object.entries(cols).map(([k, v]) => `${k}=${v}`).join(" ")}`);
mkdirSync(join(root, "bench/results"), { recursive: true });
writeFileSync(join(root, "bench/results/hashfile.json"), JSON.stringify({ date: new Date().toISOString(), cpus: availableParallelism(), loadavg: [loadAtStart, loadAtEnd], rounds: ROUNDS, rows }, null, 1));
