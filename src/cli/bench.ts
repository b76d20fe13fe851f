// `slowdrip bench`: measures what this box can do (hashing, erasure coding, store, HTTP, ingest, disk) in a temporary
// data dir, with the kernels bench/ uses, and prints one verdict per row.
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CliError, type Command } from "./command.ts";
import { VERSION } from "../version.ts";
import {
  blake3AllCoresMBps, blake3SingleMBps, diskWriteMBps, hashSignPerSec, randomBytes, rsEncodeMBps, storeImportMBps, storeRandomReadsPerSec,
} from "../bench/kernels.ts";
import { httpGetMBps } from "../bench/http.ts";
import { LmdbBlobStore } from "../store/lmdb.ts";
import { closeHashPool } from "../wasm/index.ts";
import { defaults } from "../config/schema.ts";

const MiB = 1024 * 1024;
/** Bitrate of one 1080p stream the verdicts count in (6 Mbit/s), in MB/s. */
const STREAM_MBPS = 0.75;

/** One measured row. */
export interface BenchRow {
  id: string;
  name: string;
  value: number;
  unit: "MB/s" | "ops/s";
  verdict: string;
}

export const benchCommand: Command = {
  name: "bench",
  usage: [
    "usage: slowdrip bench [--quick] [--json] [--dir DIR]",
    "",
    "Runs each measurement on this box in a temporary data dir (removed afterwards) and prints a table with a",
    "one-line verdict per row. Takes well under a minute; --quick takes a few seconds with smaller inputs.",
    "  --quick      shorter runs and smaller inputs (rougher figures)",
    "  --json       print the rows as JSON instead of a table",
    "  --dir DIR    make the temporary data dir inside DIR (use your data dir's disk; default: the system temp dir)",
  ].join("\n"),
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { quick: { type: "boolean" }, json: { type: "boolean" }, dir: { type: "string" } },
      allowPositionals: true,
    });
    if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"`, 2);
    const quick = values.quick === true;
    const parent = values.dir !== undefined ? resolve(io.cwd, values.dir) : tmpdir();
    let work: string;
    try {
      work = mkdtempSync(join(parent, "slowdrip-bench-"));
    } catch (err) {
      throw new CliError(`cannot make a temporary dir in ${parent}: ${(err as Error).message}`);
    }
    const load0 = loadavg();
    const t0 = performance.now();
    let rows: BenchRow[];
    try {
      rows = await measure(work, quick, (line) => {
        if (!values.json) io.stderr.write(`${line}\n`);
      });
    } finally {
      await closeHashPool();
      rmSync(work, { recursive: true, force: true });
    }
    const seconds = (performance.now() - t0) / 1000;
    if (values.json) {
      const out = {
        version: VERSION, node: process.version, arch: process.arch, cpus: availableParallelism(), cpu: cpus()[0]?.model ?? "",
        quick, dir: parent, seconds: Number(seconds.toFixed(1)), loadavg: [load0, loadavg()], rows,
      };
      io.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
      return 0;
    }
    const fmt = (r: BenchRow) => `${r.value >= 100 ? r.value.toFixed(0) : r.value.toFixed(1)} ${r.unit}`;
    const w0 = Math.max(...rows.map((r) => r.name.length));
    const w1 = Math.max(...rows.map((r) => fmt(r).length));
    io.stdout.write(`slowdrip ${VERSION} on ${cpus()[0]?.model ?? "?"} x${availableParallelism()}, data dir in ${parent}${quick ? " (quick)" : ""}\n\n`);
    for (const r of rows) io.stdout.write(`${r.name.padEnd(w0)}  ${fmt(r).padStart(w1)}  ${r.verdict}\n`);
    io.stdout.write(`\n${seconds.toFixed(1)} s; load average ${load0[0]!.toFixed(2)} at start (other work on the box lowers the figures)\n`);
    return 0;
  },
};

/** Runs every kernel in `work`; `progress` gets a line before each. */
async function measure(work: string, quick: boolean, progress: (line: string) => void): Promise<BenchRow[]> {
  const ms = quick ? 80 : 300;
  const rounds = quick ? 1 : 3;
  const rows: BenchRow[] = [];
  const cores = availableParallelism();

  progress("BLAKE3 ...");
  const data = randomBytes((quick ? 16 : 64) * MiB);
  const single = await blake3SingleMBps(data, ms, rounds);
  rows.push({ id: "blake3_single", name: "BLAKE3, one thread", value: single, unit: "MB/s", verdict: `verifies uploads at ${Math.round(single)} MB/s on one core` });
  const all = await blake3AllCoresMBps(data, ms, rounds);
  rows.push({
    id: "blake3_all_cores", name: `BLAKE3, all cores (${cores})`, value: all, unit: "MB/s",
    verdict: `\`slowdrip hash\` of a 1 GiB file takes about ${((1024 * MiB) / 1e6 / all).toFixed(1)} s`,
  });

  progress("Reed-Solomon ...");
  const d = defaults();
  const k = d["cluster.data_shards"] as number;
  const m = d["cluster.parity_shards"] as number;
  const stripe = d["cluster.stripe_size"] as number;
  const rs = await rsEncodeMBps(k, m, stripe, ms * rounds);
  rows.push({ id: "rs_encode", name: `Reed-Solomon encode ${k}+${m}`, value: rs, unit: "MB/s", verdict: `can erasure-code cluster uploads at ${Math.round(rs)} MB/s` });

  progress("disk ...");
  const disk = diskWriteMBps(work, (quick ? 32 : 256) * MiB);

  progress("store ...");
  const store = await LmdbBlobStore.open({ path: join(work, "store"), cache: { maxBytes: 0 } });
  let imp: number;
  try {
    const blob = 4 * MiB;
    const r = await storeImportMBps(store, blob, ms * rounds);
    imp = r.mbps;
    rows.push({ id: "store_import", name: "store import, 4 MiB blobs", value: imp, unit: "MB/s", verdict: `takes uploads at ${Math.round(imp)} MB/s (${Math.round(imp * 8)} Mbit/s)` });
    const reads = await storeRandomReadsPerSec(store, r.hashes, blob, 4096, ms * rounds);
    rows.push({ id: "store_random_reads", name: "store random 4 KiB reads", value: reads, unit: "ops/s", verdict: `serves ${Math.round(reads)} random 4 KiB reads per second` });
  } finally {
    await store.close();
  }

  progress("HTTP ...");
  const size = (quick ? 16 : 64) * MiB;
  const http = await httpGetMBps(join(work, "node"), size, ms, rounds);
  rows.push({
    id: "http_get", name: `HTTP GET ${size / MiB} MiB, loopback`, value: http, unit: "MB/s",
    verdict: `can feed ${Math.floor(http / STREAM_MBPS)} 1080p viewers (6 Mbit/s) from its store, before the network`,
  });

  progress("ingest ...");
  const hs = await hashSignPerSec(ms * rounds);
  const streams = Math.floor(Math.min(hs * 1, imp) / STREAM_MBPS);
  rows.push({
    id: "ingest_hash_sign", name: "ingest hash + sign, 1 MB", value: hs, unit: "ops/s",
    verdict: `can ingest ${streams} 1080p streams (6 Mbit/s; hash + sign and store import)`,
  });

  rows.push({
    id: "disk_write", name: "disk write, fsync'd", value: disk, unit: "MB/s",
    verdict: disk < imp ? `disk limits imports to ${Math.round(disk)} MB/s` : `disk writes ${Math.round(disk)} MB/s, more than imports take (hashing and commits limit them)`,
  });
  return rows.map((r) => ({ ...r, value: Number(r.value.toFixed(2)) }));
}
