// Pay bench: gate overhead (64 KiB reads inside an open session) and time to first byte of a paid request (402, pay,
// first byte), each against an unpaid GET of the same blob in the same run. Uses a real nutshell mint (test/peers).
// Run: npm run bench -- pay   (figures also in bench/results/pay.json, keyed by row and column)
import { execFileSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "lmdb";
import { decodePaymentRequest } from "@cashu/cashu-ts";
import { loadConfig } from "../src/config/load.ts";
import { createLogger } from "../src/node/logger.ts";
import { fullNode } from "../src/node/components.ts";
import { startNode, type RunningNode } from "../src/node/node.ts";
import { PayWallet } from "../src/pay/wallet.ts";

const KiB = 1024;
const MiB = 1024 * 1024;
const root = process.cwd();
const dir = mkdtempSync(join(tmpdir(), "slowdrip-bench-pay-"));
const mintsDir = join(dir, "mints");
const mintsSh = join(root, "test/peers/mints.sh");

type Row = Record<string, number | string>;
const rows: Record<string, Row> = {};

function startMint(): string {
  const out = execFileSync("bash", [mintsSh, "start", mintsDir, "1", "0"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  return out.trim().split("\n")[0]!;
}

async function node(name: string, flags: Record<string, string>): Promise<RunningNode> {
  const { config } = loadConfig({
    flags: { "api.listen": "127.0.0.1:0", "api.admin_listen": "127.0.0.1:0", "api.hooks_listen": "127.0.0.1:0", "node.data_dir": join(dir, name), "node.log_level": "silent", ...flags },
  });
  return startNode(config, createLogger("silent"), fullNode);
}

async function upload(n: RunningNode, blob: Uint8Array<ArrayBuffer>): Promise<string> {
  const r = await fetch(`${n.adminUrl}/blobs`, { method: "PUT", body: blob, headers: { authorization: `Bearer ${n.adminToken}` } });
  if (r.status !== 201) throw new Error(`upload failed: ${r.status}`);
  return ((await r.json()) as { hash: string }).hash;
}

/** Requests per second for `count` ranged GETs of `size` bytes, `conc` in flight on keep-alive connections. */
async function rangedRps(url: string, size: number, blobSize: number, count: number, conc: number, headers: Record<string, string>): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: conc });
  const u = new URL(url);
  let next = 0;
  const one = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const start = ((i * size) % (blobSize - size)) & ~(size - 1);
      const req = request(
        { host: u.hostname, port: u.port, path: u.pathname, agent, headers: { ...headers, range: `bytes=${start}-${start + size - 1}` } },
        (res) => {
          let n = 0;
          res.on("data", (d: Buffer) => (n += d.length));
          res.on("end", () => (res.statusCode === 206 && n === size ? resolve() : reject(new Error(`status ${res.statusCode}, ${n} bytes`))));
        },
      );
      req.on("error", reject);
      req.end();
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < count) await one(next++);
    }),
  );
  const ms = performance.now() - t0;
  agent.destroy();
  return count / (ms / 1000);
}

/** Milliseconds from sending the request to the first body byte. */
async function ttfb(url: string, headers: Record<string, string>): Promise<{ ms: number; status: number }> {
  const t0 = performance.now();
  const r = await fetch(url, { headers });
  const reader = r.body!.getReader();
  await reader.read();
  const ms = performance.now() - t0;
  await reader.cancel();
  return { ms, status: r.status };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

let free: RunningNode | undefined;
let paid: RunningNode | undefined;
let clientRoot: ReturnType<typeof open> | undefined;
try {
  const A = startMint();
  const blob = randomFillSync(new Uint8Array(16 * MiB));
  free = await node("free", { "pay.enabled": "false" });
  paid = await node("paid", { "pay.enabled": "true", "pay.trusted_mints": A, "pay.pricing.content_download": "1" });
  const hash = await upload(free, blob);
  await upload(paid, blob);
  const freeUrl = `${free.url}/blobs/${hash}`;
  const paidUrl = `${paid.url}/blobs/${hash}`;

  mkdirSync(join(dir, "client"), { recursive: true });
  clientRoot = open({ path: join(dir, "client", "db") });
  const client = await PayWallet.open({ db: clientRoot, trustedMints: [A] });
  await client.mint(A, 5000);

  // ---------- Gate overhead: 64 KiB reads inside an open session ----------
  // Paired rounds: each round runs the unpaid and the paid node with the same request count, in alternating order,
  // so drifting machine load hits both alike; the ratio is the median of the per-round ratios, and the worst round
  // is printed beside it (a best-of would be luck on a busy 2-core machine).
  const count = 2000;
  const conc = 8;
  const readRounds = 9;
  const allotment = (readRounds + 1) * count * 64 * KiB;
  const token = (await client.send(Math.ceil(allotment / MiB), { mint: A })).token;
  const open1 = await fetch(paidUrl, { headers: { "x-cashu": token, "x-session-request": String(allotment), range: "bytes=0-0" } });
  await open1.arrayBuffer();
  const session = open1.headers.get("x-session");
  if (open1.status !== 206 || !session) throw new Error(`session not opened: ${open1.status}`);
  await rangedRps(freeUrl, 64 * KiB, blob.length, 400, conc, {});
  await rangedRps(paidUrl, 64 * KiB, blob.length, 400, conc, { "x-session": session });
  const freeRps: number[] = [];
  const paidRps: number[] = [];
  for (let r = 0; r < readRounds; r++) {
    const f = () => rangedRps(freeUrl, 64 * KiB, blob.length, count, conc, {});
    const p = () => rangedRps(paidUrl, 64 * KiB, blob.length, count, conc, { "x-session": session });
    if (r % 2 === 0) {
      freeRps.push(await f());
      paidRps.push(await p());
    } else {
      paidRps.push(await p());
      freeRps.push(await f());
    }
  }
  const ratios = paidRps.map((p, i) => p / freeRps[i]!);
  const bestFree = median(freeRps);
  const bestPaid = median(paidRps);
  rows["64 KiB reads (req/s, median of 9 paired rounds)"] = {
    unpaid: Math.round(bestFree),
    "paid in session": Math.round(bestPaid),
    ratio: +median(ratios).toFixed(3),
    "worst round": +Math.min(...ratios).toFixed(3),
    target: "≥ 0.9× (issue 15)",
  };

  // ---------- Time to first byte: unpaid GET vs 402 + pay + GET ----------
  const rounds = 15;
  const freeT: number[] = [];
  const paidT: number[] = [];
  const payT: number[] = [];
  for (let i = 0; i < rounds; i++) {
    freeT.push((await ttfb(freeUrl, { range: "bytes=0-65535" })).ms);
    const t0 = performance.now();
    const r402 = await fetch(paidUrl, { headers: { range: "bytes=0-65535" } });
    await r402.arrayBuffer();
    if (r402.status !== 402) throw new Error(`expected 402, got ${r402.status}`);
    const amount = decodePaymentRequest(r402.headers.get("x-cashu")!).amount!.toNumber();
    const t1 = performance.now();
    const tok = (await client.send(amount, { mint: A })).token;
    payT.push(performance.now() - t1);
    const f = await ttfb(paidUrl, { range: "bytes=0-65535", "x-cashu": tok });
    if (f.status !== 206) throw new Error(`paid GET answered ${f.status}`);
    paidT.push(performance.now() - t0);
  }
  rows["time to first byte (ms, median)"] = {
    unpaid: +median(freeT).toFixed(2),
    "paid (402 + pay + GET)": +median(paidT).toFixed(2),
    "of which client token": +median(payT).toFixed(2),
    ratio: +(median(paidT) / median(freeT)).toFixed(1),
  };

  const cols = [...new Set(Object.values(rows).flatMap((r) => Object.keys(r)))];
  console.log(`| row | ${cols.join(" | ")} |`);
  console.log(`|---|${cols.map(() => "---").join("|")}|`);
  for (const [name, r] of Object.entries(rows)) console.log(`| ${name} | ${cols.map((c) => r[c] ?? "").join(" | ")} |`);
  mkdirSync(join(root, "bench/results"), { recursive: true });
  writeFileSync(join(root, "bench/results/pay.json"), `${JSON.stringify(rows, null, 2)}\n`);
} finally {
  await paid?.stop();
  await free?.stop();
  await clientRoot?.close();
  try {
    execFileSync("bash", [mintsSh, "stop", mintsDir], { stdio: "inherit" });
  } catch {
    // mints already gone
  }
  rmSync(dir, { recursive: true, force: true });
}
