// Storage cluster bench: Reed-Solomon encode and decode (m erasures), single thread, against the anchors measured in
// the same run: @subspace/reed-solomon-erasure.wasm (the Rust crate on npm) and klauspost/reedsolomon (Go, AVX2),
// built from the Go module proxy into the cache. One function per row. Then the rows of a real loopback cluster
// (bench/_cluster-net.ts): upload through PutFile against one node's PUT /blobs, reads with two miners down against all
// up, rebalancing after a lost miner; wall clock. --no-net skips them.
// Run: npm run bench -- cluster [--quick] [--wall] [--no-net] [--upload-only] [--size=MIB] [--rounds=N]
// (--upload-only: only the upload row, no RS rows, results not written; --size: file size in MiB for the cluster rows;
// --rounds: paired upload rounds, median reported; figures also in bench/results/cluster.json)
import { execFileSync, spawnSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, homedir, loadavg } from "node:os";
import { join } from "node:path";
import { blake3Hex, ReedSolomon } from "../src/wasm/index.ts";
import { oracleParity, rsOracle, rsOracleFresh } from "../test/helpers/rs-oracle.ts";
import { clusterNetRows, type NetRow } from "./_cluster-net.ts";

const loadAtStart = loadavg();
const MiB = 1024 * 1024;
const quick = process.argv.includes("--quick");
/** --wall: time by the wall clock instead of CPU time (on an idle machine the two agree). */
const wall = process.argv.includes("--wall");
const ROUNDS = quick ? 2 : 7;
const MIN_MS = quick ? 60 : 150;
const ROOT = process.cwd();

/** One line of the table: a measurement of each implementation, MB/s of stripe data (k shards' bytes). */
interface Row {
  name: string;
  ours: number;
  anchors: Record<string, number | string>;
  note?: string;
}
const table: Row[] = [];

/**
 * CPU time of this process in ms (user + system, all threads). Timing by CPU time rather than the wall clock keeps
 * other processes on a shared machine out of the figures; the Go anchor measures the same way.
 */
function cpuMs(): number {
  if (wall) return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Best MB/s over ROUNDS batches of at least MIN_MS of CPU time; `setup` runs before each call, untimed. */
function measure(bytes: number, run: () => void, setup: () => void = () => {}): number {
  setup();
  run();
  let best = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    let spent = 0;
    while (spent < MIN_MS) {
      setup();
      const t0 = cpuMs();
      run();
      spent += cpuMs() - t0;
      n++;
    }
    best = Math.max(best, (n * bytes) / 1e6 / (spent / 1000));
  }
  return best;
}

// ------------------------------------------------------------------ klauspost/reedsolomon (Go)

const cacheRoot = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "slowdrip", "bench");

/** Builds bench/klauspost into the cache (keyed by its sources); the binary path, or why it is not there. */
function klauspostBinary(): { bin: string } | { error: string } {
  const src = join(ROOT, "bench/klauspost");
  const key = blake3Hex(new TextEncoder().encode(["main.go", "go.mod", "go.sum"].map((f) => readFileSync(join(src, f), "utf8")).join("\0"))).slice(0, 16);
  const bin = join(cacheRoot, `klauspost-rsbench-${key}`, "rsbench");
  if (existsSync(bin)) return { bin };
  mkdirSync(join(cacheRoot, `klauspost-rsbench-${key}`), { recursive: true });
  const r = spawnSync("go", ["build", "-o", bin, "."], { cwd: src, encoding: "utf8", env: { ...process.env, GOFLAGS: "-mod=readonly" } });
  if (r.error) return { error: `go not found (${r.error.message})` };
  if (r.status !== 0) return { error: `go build failed: ${r.stderr.trim().split("\n").slice(-3).join(" / ")}` };
  return { bin };
}
const klauspost = klauspostBinary();
const goResults = new Map<string, { encode_mbps: number; decode_mbps: number }>();

/** klauspost's encode and decode MB/s for one stripe shape (one subprocess per shape, single thread). */
function klauspostRun(k: number, m: number, size: number): { encode_mbps: number; decode_mbps: number } | string {
  if ("error" in klauspost) return klauspost.error;
  const key = `${k}/${m}/${size}`;
  let r = goResults.get(key);
  if (!r) {
    const out = execFileSync(klauspost.bin, [k, m, size, MIN_MS, ROUNDS, wall ? "wall" : "cpu"].map(String), { encoding: "utf8" });
    r = JSON.parse(out) as { encode_mbps: number; decode_mbps: number };
    goResults.set(key, r);
  }
  return r;
}

// ------------------------------------------------------------------ rows

const NPM = "reed-solomon-erasure.wasm";
const KP = "klauspost (Go)";

function stripe(k: number, m: number, size: number): Uint8Array[] {
  const len = Math.ceil(size / k);
  return Array.from({ length: k + m }, (_, i) => (i < k ? randomFillSync(new Uint8Array(len)) : new Uint8Array(len)));
}

/** RS encode of one stripe of `size` data bytes. */
function rsEncodeRow(k: number, m: number, size: number): Row {
  const rs = new ReedSolomon(k, m);
  const shards = stripe(k, m, size);
  const len = shards[0]!.length;
  const ours = measure(size, () => rs.encode(shards));
  // The crate's API takes one contiguous buffer of all shards.
  const all = new Uint8Array(len * (k + m));
  shards.slice(0, k).forEach((s, i) => all.set(s, i * len));
  const oracle = rsOracle();
  const npm = measure(size, () => void oracle.encode(all, k, m));
  const same = oracleParity(shards.slice(0, k), m).every((p, i) => Buffer.compare(p, shards[k + i]!) === 0);
  const go = klauspostRun(k, m, size);
  return {
    name: `RS encode k=${k} m=${m}, ${size / MiB} MiB stripe`,
    ours,
    anchors: { [NPM]: npm, [KP]: typeof go === "string" ? go : go.encode_mbps },
    note: same ? undefined : "PARITY DIFFERS FROM THE CRATE",
  };
}

/** RS decode of one stripe of `size` data bytes with its first m data shards lost. */
function rsDecodeRow(k: number, m: number, size: number): Row {
  const rs = new ReedSolomon(k, m);
  const shards = stripe(k, m, size);
  rs.encode(shards);
  const len = shards[0]!.length;
  const lost = Math.min(m, k);
  let damaged: Array<Uint8Array | null> = [];
  let rebuilt: Uint8Array[] = [];
  const ours = measure(
    size,
    () => void (rebuilt = rs.reconstruct(damaged)),
    () => void (damaged = shards.map((s, i) => (i < lost ? null : s))),
  );
  const same = rebuilt.every((s, i) => Buffer.compare(s, shards[i]!) === 0);
  const all = new Uint8Array(len * (k + m));
  const available = shards.map((_, i) => i >= lost);
  // The crate's reconstruct leaves its instance unusable, so every call gets a fresh one (instantiation untimed).
  let oracle = rsOracleFresh();
  const npm = measure(
    size,
    () => void oracle.reconstruct(all, k, m, available),
    () => {
      oracle = rsOracleFresh();
      shards.forEach((s, i) => (i < lost ? all.fill(0, i * len, (i + 1) * len) : all.set(s, i * len)));
    },
  );
  const go = klauspostRun(k, m, size);
  return {
    name: `RS decode k=${k} m=${m} (${lost} lost), ${size / MiB} MiB stripe`,
    ours,
    anchors: { [NPM]: npm, [KP]: typeof go === "string" ? go : go.decode_mbps },
    note: same ? undefined : "REBUILT SHARDS DIFFER",
  };
}

const rows: Array<() => Row> = [
  () => rsEncodeRow(4, 2, MiB),
  () => rsEncodeRow(4, 2, 16 * MiB),
  () => rsDecodeRow(4, 2, MiB),
  () => rsDecodeRow(4, 2, 16 * MiB),
  () => rsEncodeRow(10, 4, MiB),
  () => rsEncodeRow(10, 4, 16 * MiB),
  () => rsDecodeRow(10, 4, MiB),
  () => rsDecodeRow(10, 4, 16 * MiB),
];

const uploadOnly = process.argv.includes("--upload-only");
const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
if (!uploadOnly) for (const row of rows) table.push(row());

// Upload, read and rebalance on a cluster of real processes (quick: 64 MiB instead of 256 MiB).
const netSize = flag("size") ? Number(flag("size")) * MiB : quick ? 64 * MiB : 256 * MiB;
const net: NetRow[] = process.argv.includes("--no-net") ? [] : await clusterNetRows(netSize, { uploadOnly, rounds: Number(flag("rounds") ?? 3) });

// ------------------------------------------------------------------ report

const loadAtEnd = loadavg();
const fmt = (v: number | string) => (typeof v === "number" ? Math.round(v).toString() : "n/a");
const ratio = (a: number, b: number | string) => (typeof b === "number" && b > 0 ? (a / b).toFixed(2) : "n/a");
const pad = (s: string, n: number) => s.padEnd(n);
console.log(`cpu: ${cpus()[0]?.model ?? "?"}, node ${process.version}, single thread${quick ? " (quick)" : ""}`);
console.log(`load average (1/5/15 min) at start ${loadAtStart.map((l) => l.toFixed(2)).join(" ")}, at end ${loadAtEnd.map((l) => l.toFixed(2)).join(" ")}`);
if ("error" in klauspost) console.log(`klauspost anchor unavailable: ${klauspost.error}`);
console.log(`MB/s of stripe data (10^6 bytes per second of ${wall ? "wall-clock time" : "CPU time; --wall for the wall clock"}), best of rounds; Go = klauspost/reedsolomon (AVX2), npm = @subspace/reed-solomon-erasure.wasm\n`);
console.log(`${pad("row", 44)}${"ours".padStart(8)}${"npm".padStart(8)}${"Go".padStart(8)}${"x npm".padStart(8)}${"x Go".padStart(8)}`);
const json: Record<string, Record<string, number | string>> = {};
for (const r of table) {
  const npm = r.anchors[NPM]!;
  const go = r.anchors[KP]!;
  console.log(`${pad(r.name, 44)}${fmt(r.ours).padStart(8)}${fmt(npm).padStart(8)}${fmt(go).padStart(8)}${ratio(r.ours, npm).padStart(8)}${ratio(r.ours, go).padStart(8)}  ${r.note ?? ""}`);
  json[r.name] = { ours: r.ours, ...r.anchors, x_npm: Number(ratio(r.ours, npm)) || "n/a", x_go: Number(ratio(r.ours, go)) || "n/a", ...(r.note ? { note: r.note } : {}) };
}
if (net.length) {
  console.log(`\nloopback cluster, MB/s by the wall clock (1 validator + 8 miners in 8 families, k=4 m=2, 4 MiB stripes)\n`);
  console.log(`${pad("row", 44)}${"ours".padStart(8)}${"anchor".padStart(8)}${"x".padStart(8)}  anchor`);
  for (const r of net) {
    console.log(`${pad(r.name, 44)}${fmt(r.ours).padStart(8)}${fmt(r.anchorValue).padStart(8)}${ratio(r.ours, r.anchorValue).padStart(8)}  ${r.anchor}${r.note ? `; ${r.note}` : ""}`);
    json[r.name] = { ours: r.ours, [r.anchor]: r.anchorValue, x: Number(ratio(r.ours, r.anchorValue)) || "n/a", clock: "wall", ...(r.note ? { note: r.note } : {}) };
  }
}
if (!uploadOnly) writeFileSync(join(ROOT, "bench/results/cluster.json"), JSON.stringify({ date: new Date().toISOString(), clock: wall ? "wall" : "cpu", loadavg: { start: loadAtStart, end: loadavg() }, rows: json }, null, 1));
if (table.some((r) => r.note)) process.exitCode = 1;
