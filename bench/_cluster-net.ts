// Rows of the cluster bench that need a running cluster of real processes on loopback: upload through PutFile against
// one node's PUT /blobs of the same bytes, GetFile with two miners down against all up, and rebalancing after a miner is
// lost. bench/cluster.ts prints them after the Reed-Solomon rows.
import { randomFillSync } from "node:crypto";
import { loadavg } from "node:os";
import { request } from "node:http";
import { putFileFramed } from "../src/rpc/file-upload.ts";
import { createHasher, hashParallel, toHex } from "../src/wasm/index.ts";
import { NodeProc, TestCluster, waitFor } from "../test/cluster/harness.ts";
import { freePort } from "../test/helpers/sea.ts";

const MiB = 1024 * 1024;

/** One measured row: ours against an anchor measured in the same run (MB/s = 10^6 bytes per second, wall clock). */
export interface NetRow {
  name: string;
  ours: number;
  anchor: string;
  anchorValue: number;
  note?: string;
}

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

/** PUT /blobs of `data` to a node's admin listener; resolves to the elapsed ms. */
export function putBlob(node: NodeProc, data: Uint8Array): Promise<number> {
  const url = new URL(`${node.adminUrl}/blobs`);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: "PUT", headers: { authorization: `Bearer ${node.adminToken}`, "content-length": data.length } }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 201 || res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`PUT /blobs answered ${res.statusCode}`))));
    });
    req.on("error", reject);
    for (let at = 0; at < data.length; at += MiB) req.write(data.subarray(at, at + MiB));
    req.end();
  });
}

/**
 * PutFile of `data` as `slowdrip file put` sends it (hashed first on all cores, then written frame by frame in 1 MiB
 * pieces); resolves to the elapsed ms and hash.
 */
export async function putFile(c: TestCluster, data: Uint8Array): Promise<{ ms: number; hash: string }> {
  const t0 = performance.now();
  const hash = toHex(await hashParallel(data));
  function* pieces(): Generator<Uint8Array> {
    for (let at = 0; at < data.length; at += MiB) yield data.subarray(at, at + MiB);
  }
  const r = await putFileFramed({ baseUrl: c.validator.adminUrl, headers: { authorization: `Bearer ${c.validator.adminToken}` }, hash, size: data.length, name: "bench", data: pieces() });
  if (r.hash !== hash) throw new Error("PutFile answered another hash");
  return { ms: performance.now() - t0, hash };
}

/** GetFile of a whole file, hashed as it streams; resolves to the elapsed ms (throws unless the bytes verify). */
async function getFile(c: TestCluster, hash: string, size: number): Promise<number> {
  const t0 = performance.now();
  const h = createHasher();
  let n = 0;
  for await (const m of c.client().getFile({ hash })) {
    h.update(m.data);
    n += m.data.length;
  }
  if (n !== size || h.digestHex() !== hash) throw new Error("GetFile returned bytes that do not verify");
  return performance.now() - t0;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * Starts 1 validator and 8 miners in 8 families (k=4, m=2, 4 MiB stripes) and a lone node, and measures the rows with
 * a file of `size` bytes. The upload row is `rounds` paired rounds (a PUT /blobs and a PutFile of fresh random bytes
 * each, the order alternating), reported as the median of the per-round ratios; `uploadOnly` stops after it.
 */
export async function clusterNetRows(size = 256 * MiB, opts: { uploadOnly?: boolean; rounds?: number } = {}): Promise<NetRow[]> {
  const rows: NetRow[] = [];
  const families = ["f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"];
  const c = await TestCluster.start({
    families,
    validator: { "cluster.stripe_size": "4MiB", "cluster.pg_count": "1024", "cluster.member_timeout": "15s", "cluster.rebalance_tick": "500ms" },
    // Heartbeats and passes at a realistic pace (each is a signed call the validator verifies); an epoch change starts a
    // pass at once anyway.
    miner: { "cluster.rebalance_tick": "2s", "cluster.heartbeat_interval": "5s", "store.max_storage": "4GiB", "tuning.pull_concurrency": "8" },
  });
  const lone = new NodeProc("lone", await freePort(), { "store.max_storage": "4GiB" });
  await lone.start();
  try {
    const rounds = Math.max(1, opts.rounds ?? 3);
    const ratios: number[] = [];
    const oursMbps: number[] = [];
    const anchorMbps: number[] = [];
    let up1: { ms: number; hash: string } | undefined;
    const data = new Uint8Array(size);
    for (let r = 0; r < rounds; r++) {
      // Fresh bytes every round (nothing deduplicates); the order alternates so that drifting load hits both alike.
      randomFillSync(data);
      let anchorMs = 0;
      let ours: { ms: number; hash: string };
      if (r % 2 === 0) {
        anchorMs = await putBlob(lone, data);
        ours = await putFile(c, data);
      } else {
        ours = await putFile(c, data);
        anchorMs = await putBlob(lone, data);
      }
      up1 ??= ours;
      ratios.push(anchorMs / ours.ms);
      oursMbps.push(mbps(size, ours.ms));
      anchorMbps.push(mbps(size, anchorMs));
      console.error(`upload round ${r + 1}/${rounds}: PutFile ${mbps(size, ours.ms).toFixed(0)} MB/s, PUT /blobs ${mbps(size, anchorMs).toFixed(0)} MB/s, ratio ${(anchorMs / ours.ms).toFixed(2)}, load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
    }
    rows.push({
      name: `upload ${size / MiB} MiB: PutFile to 8 miners (k=4 m=2)`,
      ours: median(oursMbps),
      anchor: "PUT /blobs, one node",
      anchorValue: median(anchorMbps),
      note: `goal >= 0.5x; median of ${rounds} paired rounds' ratios ${median(ratios).toFixed(2)} (${ratios.map((x) => x.toFixed(2)).join(", ")})`,
    });
    if (opts.uploadOnly) return rows;
    const upMbps = median(oursMbps);
    // Rebalance: one miner lost; from the new epoch to no stripe under-replicated.
    const lost = c.miners[0]!;
    const held = [...(await lost.blobs()).values()].filter((x) => x.tags.includes("cluster-shard")).reduce((s, x) => s + x.size, 0);
    const epoch = (await c.status()).epoch;
    await lost.kill("SIGKILL");
    const next = await waitFor(async () => {
      const s = await c.status();
      return s.epoch > epoch ? s.epoch : undefined;
    }, "the epoch without the lost miner", 60_000, 100);
    const t0 = performance.now();
    await waitFor(async () => {
      const s = await c.status();
      return s.underReplicatedStripes === 0n && s.lastScanEpoch === next && s.epoch === next ? true : undefined;
    }, "rebalancing to finish", 600_000, 250);
    const rebalanceMs = performance.now() - t0;

    // Reads: all (seven) up, then two more down (before member_timeout ends, shards are rebuilt while reading).
    const allUp = await getFile(c, up1!.hash, size);
    await Promise.all([c.miners[1]!.kill("SIGKILL"), c.miners[2]!.kill("SIGKILL")]);
    const twoDown = await getFile(c, up1!.hash, size);
    rows.push({ name: `read ${size / MiB} MiB: GetFile, 2 miners down`, ours: mbps(size, twoDown), anchor: "GetFile, all up", anchorValue: mbps(size, allUp) });
    rows.push({
      name: "rebalance after 1 of 8 miners lost",
      ours: mbps(held, rebalanceMs),
      anchor: "upload (above)",
      anchorValue: upMbps,
      note: `${(held / MiB).toFixed(0)} MiB of shards rebuilt in ${(rebalanceMs / 1000).toFixed(1)} s after the epoch began`,
    });
  } finally {
    await c.stop();
    await lone.kill("SIGKILL");
  }
  return rows;
}
