// A storage cluster of real processes on loopback: 1 validator + 8 miners in 7 families (one family holds two), k=4,
// m=2. A 64 MiB file survives two miners being SIGKILLed; after member_timeout rebalancing brings every stripe back to
// k+m verified shards on live miners in distinct families (the time is reported); a corrupt shard is detected, worked
// around and replaced; a killed miner restarts with its data and its orphans are collected after the grace, except a
// pinned one. Every check of where shards are is made from the miners' own blob lists.
import { createReadStream, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBLAKE3 } from "hash-wasm";
import { openLmdb } from "../../src/store/lmdb-native.ts";
import { runCli, tempDir } from "../helpers/node.ts";
import { TestCluster, familyOf, holdings, independentBlake3, waitFor, type NodeProc } from "./harness.ts";

const FILE_SIZE = 64 * 1024 * 1024;
const K = 4;
const M = 2;
/** 2 MiB stripes: 32 stripes of 6 shards of 512 KiB. */
const STRIPE_MIB = 2;
const STRIPES = FILE_SIZE / (STRIPE_MIB * 1024 * 1024);
/** Grace of orphan GC: long enough to pin an orphan after a restart with a wide margin, short enough for the test. */
const GRACE = "10s";

let c: TestCluster;
let dir: string;
let file: string;
let fileHash: string;

/** BLAKE3 by an independent implementation (hash-wasm), streamed from disk. */
async function independentHash(path: string): Promise<string> {
  const h = await createBLAKE3();
  h.init();
  for await (const piece of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) h.update(piece as Buffer);
  return h.digest("hex");
}


/** True when shards can be assigned to holders with pairwise distinct families (small backtracking search). */
function distinctFamilies(holders: NodeProc[][]): boolean {
  const used = new Set<string>();
  const pick = (i: number): boolean => {
    if (i === holders.length) return true;
    for (const h of holders[i]!) {
      const f = familyOf(h);
      if (used.has(f)) continue;
      used.add(f);
      if (pick(i + 1)) return true;
      used.delete(f);
    }
    return false;
  };
  return pick(0);
}

/** Every stripe has all k + m shards on live miners in distinct families (from the miners' lists). */
async function fullyPlaced(live: NodeProc[]): Promise<boolean> {
  const held = await holdings(live);
  for (const s of await c.stripes(fileHash)) {
    const holders = s.map((h) => held.get(h) ?? []);
    if (holders.some((h) => h.length === 0)) return false;
    if (!distinctFamilies(holders)) return false;
  }
  return true;
}

/** A shard's bytes as one miner serves them, or undefined when it no longer holds it. */
async function fetchShard(m: NodeProc, hash: string): Promise<Uint8Array | undefined> {
  const parts: Uint8Array[] = [];
  try {
    for await (const r of m.storage().fetchBlob({ hash })) parts.push(r.data);
  } catch {
    return undefined;
  }
  return Buffer.concat(parts);
}

/** Fetches every shard from a live holder and checks its BLAKE3 independently; returns how many verified. */
async function verifyShards(live: NodeProc[]): Promise<number> {
  const held = await holdings(live);
  let n = 0;
  for (const s of await c.stripes(fileHash)) {
    for (const h of s) {
      // An orphan copy may be collected meanwhile: any holder that still serves the shard will do.
      for (const m of held.get(h) ?? []) {
        const bytes = await fetchShard(m, h);
        if (bytes === undefined) continue;
        expect(await independentBlake3(bytes)).toBe(h);
        n++;
        break;
      }
    }
  }
  return n;
}

async function getFile(out: string): Promise<string> {
  const r = await c.cli(["file", "get", fileHash, "-o", out]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return independentHash(out);
}

const live = () => c.miners.filter((m) => m.running);

beforeAll(async () => {
  dir = tempDir("slowdrip-cluster-data-");
  file = join(dir, "random.bin");
  writeFileSync(file, randomBytes(FILE_SIZE));
  c = await TestCluster.start({
    families: ["f1", "f1", "f2", "f3", "f4", "f5", "f6", "f7"],
    // The validator's warden challenges every few seconds (failures never mark anyone faulty here: that would move shards).
    validator: { "cluster.data_shards": String(K), "cluster.parity_shards": String(M), "cluster.stripe_size": `${STRIPE_MIB}MiB`, "proofs.challenge_interval": "3s", "proofs.max_failures": "1000" },
    miner: { "cluster.orphan_grace": GRACE },
  });
}, 300_000);

afterAll(async () => {
  await c?.stop();
});

describe("a cluster of 1 validator and 8 miners in 7 families", () => {
  it("stores a 64 MiB file and reads it back byte-identical; every stripe's shards sit on distinct families", async () => {
    const t0 = Date.now();
    const put = await c.cli(["file", "put", file]);
    expect(put.code, put.stderr).toBe(0);
    fileHash = put.stdout.split(/\s+/)[0]!;
    expect(fileHash).toBe(await independentHash(file));
    expect(put.stdout).toBe(`${fileHash}  ${file}\n`);
    const t1 = Date.now();
    expect(await getFile(join(dir, "back.bin"))).toBe(fileHash);
    console.log(`put 64 MiB: ${t1 - t0} ms, get: ${Date.now() - t1} ms`);
    const s = await c.stripes(fileHash);
    expect(s.length).toBe(STRIPES);
    const held = await holdings(live());
    // Placed shards are pinned by the cluster (the store's GC of unpinned blobs never takes them).
    const lists = await Promise.all(live().map((m) => m.blobs()));
    expect(lists.flatMap((l) => [...l.values()]).filter((b) => b.tags.includes("cluster-shard")).every((b) => b.pinned && b.tags.includes("cluster-pin"))).toBe(true);
    for (const shards of s) {
      expect(shards.length).toBe(K + M);
      // Right after the upload each shard is on exactly one miner: its placed holder.
      const holders = shards.map((h) => held.get(h) ?? []);
      expect(holders.every((h) => h.length === 1)).toBe(true);
      expect(new Set(holders.map((h) => familyOf(h[0]!))).size).toBe(K + M);
    }
  }, 300_000);

  let killedAt = 0;
  let epochBeforeKill = 0n;
  let f1a: NodeProc;
  it("still reads the file byte-identical after two miners of different families are SIGKILLed", async () => {
    f1a = c.miners.find((m) => familyOf(m) === "f1")!;
    const f2 = c.miners.find((m) => familyOf(m) === "f2")!;
    epochBeforeKill = (await c.status()).epoch;
    await Promise.all([f1a.kill("SIGKILL"), f2.kill("SIGKILL")]);
    killedAt = Date.now();
    expect(await getFile(join(dir, "degraded.bin"))).toBe(fileHash);
    console.log(`degraded get (two miners down): ${Date.now() - killedAt} ms`);
  }, 240_000);

  it("after member_timeout begins a new epoch and rebalancing restores k+m verified shards in distinct families", async () => {
    const epoch = await waitFor(async () => {
      const s = await c.status();
      return s.members.filter((m) => m.member?.state === 1).length === 6 && s.epoch > epochBeforeKill ? s.epoch : undefined;
    }, "an epoch without the two killed miners", 90_000);
    const down = c.validator.lines(/member missed heartbeats/);
    const epochAt = Date.parse(String(down[down.length - 1]!.time));
    await waitFor(() => fullyPlaced(live()), "every stripe back to k+m shards on live miners in distinct families", 240_000, 500);
    const placedAt = Date.now();
    await waitFor(async () => {
      const s = await c.status();
      // Under load a member may miss a heartbeat and start a later epoch: the scan of the current one must be clean.
      return s.underReplicatedStripes === 0n && s.epoch >= epoch && s.lastScanEpoch === s.epoch;
    }, "the validator's health scan to report 0 under-replicated stripes", 120_000, 500);
    const zeroAt = Date.now();
    expect(await verifyShards(live())).toBe(STRIPES * (K + M));
    console.log(
      `rebalance: new epoch ${Number(epoch)} ${epochAt - killedAt} ms after the kill (member_timeout 8 s); all stripes at k+m in distinct families ` +
        `${placedAt - epochAt} ms after the epoch began (${placedAt - killedAt} ms after the kill); the validator reported 0 under-replicated ${zeroAt - killedAt} ms after the kill`,
    );
    expect(await getFile(join(dir, "rebalanced.bin"))).toBe(fileHash);
  }, 500_000);

  it("detects a corrupt shard (test-only fault: bytes flipped inside the miner's LMDB), still serves the file, counts a fault, and rebuilds the shard", async () => {
    // The placed holder of stripe 0's first data shard: a read of the whole file fetches it first.
    const st = await c.client().statFile({ hash: fileHash });
    const target = st.stripes[0]!.shards[0]!;
    const x = live().find((m) => m.nodeId === target.holder)!;
    expect((await x.blobs()).has(target.hash)).toBe(true);
    // The real store cannot produce this fault: stop the miner and flip one byte of the shard's first chunk on disk.
    await x.kill("SIGTERM");
    const root = await openLmdb({ path: join(x.dataDir, "db"), compression: false });
    const blobs = root.openDB<{ cid: number }, string>({ name: "blobs" });
    const chunks = root.openDB<Buffer, Buffer>({ name: "chunks", encoding: "binary", keyEncoding: "binary" });
    const cid = blobs.get(target.hash)!.cid;
    const key = Buffer.alloc(12);
    key.writeUInt32BE(Math.floor(cid / 0x1_0000_0000), 0);
    key.writeUInt32BE(cid >>> 0, 4);
    key.writeUInt32BE(0, 8);
    const chunk = Buffer.from(chunks.getBinary(key)!);
    chunk[100] = chunk[100]! ^ 0xff;
    chunks.putSync(key, chunk);
    await root.close();
    await x.start();
    await c.waitForMembers(6);
    const faultsBefore = (await c.status()).members.find((m) => m.member?.nodeId === x.nodeId)!.faults;

    expect(await getFile(join(dir, "after-corruption.bin"))).toBe(fileHash);
    const report = await waitFor(() => c.validator.lines(/corrupt shard/).find((l) => l.shard === target.hash), "the validator to report the corrupt shard", 30_000);
    expect(report.miner).toBe(x.nodeId);
    const faults = (await c.status()).members.find((m) => m.member?.nodeId === x.nodeId)!.faults;
    expect(faults).toBe(faultsBefore + 1n);
    // A later rebalance pass on the miner rebuilds the shard from k others; its copy verifies again.
    await waitFor(async () => {
      const bytes = await fetchShard(x, target.hash);
      return bytes !== undefined && (await independentBlake3(bytes)) === target.hash;
    }, "the corrupt shard to be replaced by a verified copy", 180_000, 500);
  }, 400_000);

  it("restarts a killed miner with its data; its shards no longer placed on it are deleted after the grace, a pinned one stays", async () => {
    // A much heavier newcomer in the killed miner's family wins most of that family's positions, the killed miner's too.
    await c.addMiner("f1", "m8-f1", { "store.max_storage": "8GiB" });
    await c.waitForMembers(7);
    await waitFor(() => fullyPlaced(live()), "the newcomer to pull its shards", 240_000, 500);

    const restartedAt = Date.now();
    const epochBefore = (await c.status()).epoch;
    await f1a.start();
    // The first epoch that places shards on it again, as the validator and the miner itself see it.
    const back = await waitFor(async () => {
      const s = await c.status();
      return s.epoch > epochBefore && (s.members.find((m) => m.member?.nodeId === f1a.nodeId)?.pgPositions ?? 0) > 0 ? s.epoch : undefined;
    }, "an epoch with the restarted miner placed", 120_000);
    await waitFor(async () => (await f1a.readyz()).components.find((x) => x.name === "cluster")?.detail === `registered, epoch ${back}`, "the restarted miner to hold that epoch's map", 60_000);
    // Shards it holds that the current placement puts elsewhere are orphans on it.
    const placed = new Map<string, string>();
    for (const s of (await c.client().statFile({ hash: fileHash })).stripes) for (const sh of s.shards) placed.set(sh.hash, sh.holder);
    const mine = [...(await f1a.blobs())].filter(([, b]) => b.tags.includes("cluster-shard")).map(([h]) => h);
    const orphans = mine.filter((h) => placed.get(h) !== f1a.nodeId);
    expect(orphans.length).toBeGreaterThan(1);
    // The miner releases its own pin on an orphan once the placed holder proves it holds it; the operator pins one then.
    const pinned = orphans[0]!;
    await waitFor(async () => (await f1a.blobs()).get(pinned)?.pinned === false, "the miner to release its pin on an orphan", 120_000, 250);
    const pin = await runCli(["blob", "pin", pinned, "--url", f1a.adminUrl, "--token", f1a.adminToken]);
    expect(pin.code, pin.stderr).toBe(0);

    await waitFor(async () => {
      const now = await f1a.blobs();
      return orphans.slice(1).every((h) => !now.has(h)) && now.get(pinned)?.pinned === true;
    }, "the unpinned orphans to be collected and the pinned one kept", 180_000, 500);
    // Never the last copy: every stripe still has all its shards on live miners in distinct families.
    expect(await fullyPlaced(live())).toBe(true);
    const gcd = f1a.lines(/deleted cluster shard/).length;
    expect(gcd).toBeGreaterThanOrEqual(orphans.length - 1);
    const metrics = await f1a.metrics();
    expect(Number(/^slowdrip_cluster_shards_gc_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(orphans.length - 1);
    // The validator's warden challenged the miners over the current placement, and they answered.
    const answered = await Promise.all(live().map(async (m) => Number(/slowdrip_pos_challenges_total\{outcome="answered"\} (\d+)/.exec(await m.metrics())?.[1] ?? 0)));
    expect(answered.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(c.validator.lines(/warden: storage proof passed/).length).toBeGreaterThan(0);
    console.log(`restart + GC: ${orphans.length} orphans on the restarted miner, ${orphans.length - 1} deleted, 1 pinned kept, ${Date.now() - restartedAt} ms after restart (grace ${GRACE})`);
    expect(await getFile(join(dir, "final.bin"))).toBe(fileHash);
  }, 600_000);
});
