// Blossom bench: import with the SHA-256 index (SHA-256 on the worker thread beside BLAKE3) against the BLAKE3-only
// import path, and GET /<sha256> against GET /blobs/<blake3> of the same 64 MiB blob, all in the same run.
// Run: npm run bench -- blossom   (figures also in bench/results/blossom.json)
import { createHash, randomFillSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, get, request } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load.ts";
import { createLogger } from "../src/node/logger.ts";
import { startNode, type Assemble } from "../src/node/node.ts";
import { blossomComponent } from "../src/node/blossom.ts";
import { storeComponent } from "../src/node/store.ts";
import { LmdbBlobStore } from "../src/store/lmdb.ts";

const KiB = 1024;
const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), "slowdrip-bench-blossom-"));
const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);
const random = (n: number) => randomFillSync(new Uint8Array(n));
const loadBefore = loadavg();

type Row = Record<string, number | string>;
const rows: Record<string, Row> = {};

// ---------- Import: SHA-256 indexed vs BLAKE3 only ----------

/** Imports a batch, each blob fed in 64 KiB pieces as a network upload arrives. */
async function importBatch(store: LmdbBlobStore, blobs: Uint8Array[]): Promise<number> {
  const t0 = performance.now();
  for (const b of blobs) {
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < b.length; i += 64 * KiB) pieces.push(b.subarray(i, i + 64 * KiB));
    await store.import(pieces, { size: b.length });
  }
  return performance.now() - t0;
}

// The two stores alternate in batches of fresh random blobs, so drifting machine load hits both alike; the figures are
// total bytes over total time of each side.
for (const [label, size, perBatch] of [["256 KiB", 256 * KiB, 64], ["4 MiB", 4 * MiB, 4], ["64 MiB", 64 * MiB, 1]] as const) {
  const indexed = await LmdbBlobStore.open({ path: join(dir, `sha-${size}`) });
  const plain = await LmdbBlobStore.open({ path: join(dir, `b3-${size}`), sha256: false });
  let shaMs = 0;
  let b3Ms = 0;
  let total = 0;
  const batches = size >= 64 * MiB ? 6 : 8;
  for (let b = 0; b < batches; b++) {
    const blobs = Array.from({ length: perBatch }, () => random(size));
    total += size * perBatch;
    if (b % 2 === 0) {
      shaMs += await importBatch(indexed, blobs);
      b3Ms += await importBatch(plain, blobs);
    } else {
      b3Ms += await importBatch(plain, blobs);
      shaMs += await importBatch(indexed, blobs);
    }
  }
  // The indexed store really indexed what it took.
  const sample = await indexed.list({ limit: 1 });
  if (!sample.items[0]?.sha256) throw new Error("the indexed store recorded no SHA-256");
  await indexed.close();
  await plain.close();
  rmSync(join(dir, `sha-${size}`), { recursive: true, force: true });
  rmSync(join(dir, `b3-${size}`), { recursive: true, force: true });
  const o = mbps(total, shaMs);
  const a = mbps(total, b3Ms);
  rows[`import ${label} blobs, SHA-256 indexed`] = { ours_MBps: o, anchor_MBps: a, anchor: "the BLAKE3-only import (same run)", ratio: o / a, target: "≥ 0.9×" };
}

// ---------- GET /<sha256> vs GET /blobs/<blake3> ----------

const BLOB = 64 * MiB;
const payload = random(BLOB);
const sha256 = createHash("sha256").update(payload).digest("hex");
const { config } = loadConfig({
  flags: { "api.listen": "127.0.0.1:0", "api.admin_listen": "127.0.0.1:0", "api.hooks_listen": "127.0.0.1:0", "node.data_dir": join(dir, "node"), "node.log_level": "silent" },
});
const storeAndBlossom: Assemble = async (base, add) => {
  const s = add(await storeComponent(base));
  add(await blossomComponent(base, { store: s.store }));
};
const node = await startNode(config, createLogger("silent"), storeAndBlossom);
const blake3: string = await new Promise((resolve, reject) => {
  const req = request(`${node.adminUrl}/blobs`, { method: "PUT", headers: { authorization: `Bearer ${node.adminToken}`, "content-length": String(BLOB) } }, (res) => {
    let body = "";
    res.on("data", (d) => (body += d));
    res.on("end", () => (res.statusCode === 201 ? resolve(JSON.parse(body).hash) : reject(new Error(`upload: ${res.statusCode} ${body}`))));
  });
  req.on("error", reject);
  req.end(payload);
});

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
function timedGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    get(url, { agent }, (res) => {
      let n = 0;
      res.on("data", (d: Buffer) => (n += d.length));
      res.on("end", () => (res.statusCode === 200 && n === BLOB ? resolve(performance.now() - t0) : reject(new Error(`GET ${url}: ${res.statusCode}, ${n} bytes`))));
      res.on("error", reject);
    }).on("error", reject);
  });
}

// Alternating runs; the best of 21 each, and the median of the 21 paired round ratios (robust to one lucky run).
let bySha = Infinity;
let byBlake3 = Infinity;
const paired: number[] = [];
for (let i = 0; i < 21; i++) {
  const first = i % 2 === 0;
  const a = first ? await timedGet(`${node.url}/${sha256}`) : 0;
  const b = await timedGet(`${node.url}/blobs/${blake3}`);
  const s = first ? a : await timedGet(`${node.url}/${sha256}.bin`);
  bySha = Math.min(bySha, s);
  byBlake3 = Math.min(byBlake3, b);
  paired.push(b / s);
}
paired.sort((x, y) => x - y);
await node.stop();
agent.destroy();
rows["GET 64 MiB /<sha256> (best runs)"] = { ours_MBps: mbps(BLOB, bySha), anchor_MBps: mbps(BLOB, byBlake3), anchor: "GET /blobs/<blake3>, same blob", ratio: byBlake3 / bySha, target: "≥ 0.97×" };
rows["GET 64 MiB /<sha256> (median of paired rounds)"] = { anchor: "GET /blobs/<blake3>, same blob", ratio: paired[paired.length >> 1]!, target: "≥ 0.97×" };

rmSync(dir, { recursive: true, force: true });

// ---------- Report ----------

const loadAfter = loadavg();
const fmt = (v: number | string | undefined) => (typeof v === "number" ? (v >= 100 ? v.toFixed(0) : v.toFixed(2)) : (v ?? ""));
const header = ["row", "ours", "anchor", "ratio", "target", "anchor is"];
const table = Object.entries(rows).map(([name, r]) => [
  name,
  r.ours_MBps !== undefined ? `${fmt(r.ours_MBps)} MB/s` : "",
  r.anchor_MBps !== undefined ? `${fmt(r.anchor_MBps)} MB/s` : "",
  r.ratio !== undefined ? `${fmt(r.ratio)}×` : "",
  String(r.target ?? ""),
  String(r.anchor ?? ""),
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
console.log(line(header));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const t of table) console.log(line(t));
const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");
console.log(
  `\nload average: ${la(loadBefore)} at the start, ${la(loadAfter)} at the end (1, 5, 15 min).`,
  "\nnote: import = total bytes / total time of each side, batches alternating, 64 KiB pieces, declared sizes, committed per blob;",
  "GET = loopback HTTP/1.1 keep-alive, runs alternating, best of 21 each and the median of the 21 paired round ratios.",
);
writeFileSync(
  join(process.cwd(), "bench", "results", "blossom.json"),
  `${JSON.stringify({ bench: "blossom", date: new Date().toISOString(), node: process.version, loadavg: { start: loadBefore, end: loadAfter }, rows }, null, 2)}\n`,
);
