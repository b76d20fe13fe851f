// The warden over four miners with real LMDB stores and responders (called in process; the RPC path is tested in
// pos-node.test.ts): honest miners pass every round; a miner with rotted bytes (TEST-ONLY FAULT), one that deleted its
// shard, one that replays old answers and one that stops answering fail or time out, and each is marked faulty once
// after max_failures within the window; a miner gets one challenge at a time and a busy miner is asked again until
// the deadline; draws follow the stored bytes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { LmdbBlobStore } from "../../src/store/lmdb.ts";
import { identityFromSecret, type Identity } from "../../src/identity/identity.ts";
import { randomSecret } from "../../src/identity/ed25519.ts";
import { PosResponder } from "../../src/proofs/miner.ts";
import { ChallengeBusyError, pickWeighted, Warden, type Holding } from "../../src/proofs/warden.ts";
import type { PosAnswer, PosChallenge } from "../../src/proofs/storage.ts";
import { tempDir } from "../helpers/node.ts";
import { corruptStoredChunk } from "./helpers.ts";
import { testBytes } from "../../src/store/contract.ts";

interface Miner {
  id: Identity;
  store: LmdbBlobStore;
  responder: PosResponder;
  shards: { hash: string; size: number }[];
}
const warden = identityFromSecret(randomSecret());
const dir = tempDir("slowdrip-warden-");
const miners: Record<"honest" | "rotten" | "deleted" | "replayer" | "silent", Miner> = {} as never;

async function openMiner(name: string, seed: number): Promise<Miner> {
  const id = identityFromSecret(randomSecret());
  const path = join(dir, name);
  let store = await LmdbBlobStore.open({ path });
  const shards: { hash: string; size: number }[] = [];
  for (let k = 0; k < 2; k++) {
    const data = testBytes(64 * 1024 + k * 1000, seed * 10 + k);
    shards.push({ hash: (await store.import([data])).hash, size: data.length });
  }
  if (name === "rotten") {
    // TEST-ONLY FAULT: one byte of every 16 KiB group of both shards flipped on disk.
    await store.close();
    for (const s of shards) for (let off = 100; off < s.size; off += 16 * 1024) await corruptStoredChunk(path, s.hash, off);
    store = await LmdbBlobStore.open({ path });
  }
  if (name === "deleted") for (const s of shards) await store.delete(s.hash);
  const responder = new PosResponder({ source: store, signer: id, concurrency: 2, mayChallenge: (c) => c === warden.nodeId });
  return { id, store, responder, shards };
}

beforeAll(async () => {
  let seed = 1;
  for (const name of ["honest", "rotten", "deleted", "replayer", "silent"] as const) miners[name] = await openMiner(name, seed++);
});
afterAll(async () => {
  for (const m of Object.values(miners)) await m.store.close();
  rmSync(dir, { recursive: true, force: true });
});

const byNode = () => new Map(Object.values(miners).map((m) => [m.id.nodeId, m]));
const holdings = (): Holding[] => Object.values(miners).flatMap((m) => m.shards.map((s) => ({ node: m.id.nodeId, shard: s.hash, size: s.size })));

describe("warden", () => {
  it("passes honest miners and marks each kind of bad miner faulty once after max_failures", async () => {
    const nodes = byNode();
    const lastAnswer = new Map<string, PosAnswer>();
    const faulty: { node: string; reason: string }[] = [];
    const w = new Warden({
      self: warden.nodeId,
      holdings,
      challenge: async (node: string, ch: PosChallenge, signal: AbortSignal) => {
        const m = nodes.get(node)!;
        if (m === miners.silent) {
          // Stops answering: the promise only ends when the warden gives up.
          return new Promise<PosAnswer>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
        }
        if (m === miners.replayer && lastAnswer.has(ch.shard)) return lastAnswer.get(ch.shard)!;
        const a = await m.responder.answer(warden.nodeId, ch, signal);
        lastAnswer.set(ch.shard, a);
        return a;
      },
      markFaulty: (node, reason) => faulty.push({ node, reason }),
      intervalMs: 1000,
      deadlineMs: 1500,
      maxFailures: 3,
      windowMs: 60_000,
      chunks: 16,
      perRound: holdings().length,
    });
    for (let r = 0; r < 4; r++) {
      const recs = await w.round();
      // Ten pairs drawn; the silent miner's second one is not sent once its first timed out.
      expect(recs).toHaveLength(9);
    }
    const rec = (m: Miner) => w.miner(m.id.nodeId)!;
    expect(rec(miners.honest)).toMatchObject({ pass: 8, fail: 0, timeout: 0, faulty: false });
    expect(rec(miners.rotten)).toMatchObject({ pass: 0, fail: 8, faulty: true });
    expect(rec(miners.rotten).recent[0]!.reason).toMatch(/damaged/);
    expect(rec(miners.deleted)).toMatchObject({ pass: 0, fail: 8, faulty: true });
    expect(rec(miners.deleted).recent[0]!.reason).toMatch(/not stored/);
    // The replayer's first answer per shard is honest; every later one is refused as a replay.
    expect(rec(miners.replayer)).toMatchObject({ pass: 2, fail: 6, faulty: true });
    expect(rec(miners.replayer).recent.at(-1)!.reason).toMatch(/^wrong-nonce/);
    expect(rec(miners.silent)).toMatchObject({ pass: 0, timeout: 4, faulty: true });
    expect(faulty.map((f) => f.node).sort()).toEqual([miners.rotten, miners.deleted, miners.replayer, miners.silent].map((m) => m.id.nodeId).sort());
    expect(faulty.find((f) => f.node === miners.silent.id.nodeId)!.reason).toMatch(/3 failed storage proofs.*timeout/);
    // Cleared miners start counting again.
    w.clearFaulty(miners.silent.id.nodeId);
    expect(rec(miners.silent).faulty).toBe(false);
    await w.stop();
  });

  it("failures older than the window do not add up", async () => {
    let now = 1_000_000;
    const faulty: string[] = [];
    const m = miners.deleted;
    const w = new Warden({
      self: warden.nodeId,
      holdings: () => [{ node: m.id.nodeId, shard: m.shards[0]!.hash, size: 1 }],
      challenge: (_n, ch, signal) => m.responder.answer(warden.nodeId, ch, signal),
      markFaulty: (node) => faulty.push(node),
      intervalMs: 1000, deadlineMs: 1000, maxFailures: 3, windowMs: 10_000, chunks: 4, perRound: 1,
      now: () => now,
    });
    for (let i = 0; i < 6; i++) {
      await w.round();
      now += 6000; // two failures at most fall inside any 10 s window
    }
    expect(faulty).toEqual([]);
    await w.round();
    await w.round();
    expect(faulty).toEqual([m.id.nodeId]);
  });

  it("runs rounds on its interval until stopped", async () => {
    const m = miners.honest;
    let rounds = 0;
    const w = new Warden({
      self: warden.nodeId,
      holdings: () => {
        rounds++;
        return m.shards.map((s) => ({ node: m.id.nodeId, shard: s.hash, size: s.size }));
      },
      challenge: (_n, ch, signal) => m.responder.answer(warden.nodeId, ch, signal),
      markFaulty: () => {},
      intervalMs: 50, deadlineMs: 5000, maxFailures: 3, windowMs: 10_000, chunks: 4, perRound: 2,
    });
    w.start();
    const until = Date.now() + 20_000;
    while ((w.miner(m.id.nodeId)?.pass ?? 0) < 6 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await w.stop();
    const after = rounds;
    await new Promise((r) => setTimeout(r, 200));
    expect(rounds).toBe(after);
    expect(w.miner(m.id.nodeId)!.pass).toBeGreaterThanOrEqual(6);
    // A challenge still in flight when the warden stopped is aborted and not held against the miner.
    expect(w.miner(m.id.nodeId)!.fail).toBe(0);
  });
});

describe("load on one miner", () => {
  it("sends each miner one challenge at a time, the miners in parallel", async () => {
    const inFlight = new Map<string, number>();
    let most = 0;
    let parallel = 0;
    const ms = [miners.honest, miners.replayer];
    const w = new Warden({
      self: warden.nodeId,
      holdings: () => ms.flatMap((m) => m.shards.map((s) => ({ node: m.id.nodeId, shard: s.hash, size: s.size }))),
      challenge: async (node, ch, signal) => {
        inFlight.set(node, (inFlight.get(node) ?? 0) + 1);
        most = Math.max(most, inFlight.get(node)!);
        parallel = Math.max(parallel, [...inFlight.values()].filter((n) => n > 0).length);
        try {
          await new Promise((r) => setTimeout(r, 30));
          return await ms.find((m) => m.id.nodeId === node)!.responder.answer(warden.nodeId, ch, signal);
        } finally {
          inFlight.set(node, inFlight.get(node)! - 1);
        }
      },
      markFaulty: () => {},
      intervalMs: 1000, deadlineMs: 10_000, maxFailures: 3, windowMs: 60_000, chunks: 8, perRound: 4,
    });
    const recs = await w.round();
    expect(recs.map((r) => r.result)).toEqual(["pass", "pass", "pass", "pass"]);
    expect(most).toBe(1);
    expect(parallel).toBe(2);
    expect(w.rounds).toBe(1);
    expect(w.counts).toEqual({ pass: 4, fail: 0, timeout: 0 });
  });

  it("asks a busy miner again until it answers, and counts a miner busy past the deadline as a timeout", async () => {
    const m = miners.honest;
    let busyFor = 3;
    let asked = 0;
    const w = new Warden({
      self: warden.nodeId,
      holdings: () => [{ node: m.id.nodeId, shard: m.shards[0]!.hash, size: m.shards[0]!.size }],
      challenge: async (_n, ch, signal) => {
        asked++;
        if (busyFor-- > 0) throw new ChallengeBusyError("2 storage proofs in flight (tuning.pos_concurrency = 2); retry later");
        return m.responder.answer(warden.nodeId, ch, signal);
      },
      markFaulty: () => {},
      intervalMs: 1000, deadlineMs: 5000, maxFailures: 3, windowMs: 60_000, chunks: 8, perRound: 1,
    });
    expect((await w.round())[0]!.result).toBe("pass");
    expect(asked).toBe(4);
    busyFor = Infinity;
    const w2 = new Warden({
      self: warden.nodeId,
      holdings: () => [{ node: m.id.nodeId, shard: m.shards[0]!.hash, size: m.shards[0]!.size }],
      challenge: async () => {
        throw new ChallengeBusyError("busy");
      },
      markFaulty: () => {},
      intervalMs: 1000, deadlineMs: 400, maxFailures: 3, windowMs: 60_000, chunks: 8, perRound: 1,
    });
    const [r] = await w2.round();
    expect(r!.result).toBe("timeout");
  });
});

describe("draws in proportion to stored bytes", () => {
  it("a member holding three times the bytes is challenged about three times as often", () => {
    const hs: Holding[] = [
      { node: "a", shard: "1".repeat(64), size: 1000 },
      { node: "b", shard: "2".repeat(64), size: 1500 },
      { node: "b", shard: "3".repeat(64), size: 1500 },
    ];
    const count = { a: 0, b: 0 };
    for (let i = 0; i < 8000; i++) count[pickWeighted(hs, 1)[0]!.node as "a" | "b"]++;
    expect(count.b / count.a).toBeGreaterThan(2.6);
    expect(count.b / count.a).toBeLessThan(3.4);
  });
  it("draws distinct pairs, never more than there are", () => {
    const hs: Holding[] = [1, 2, 3].map((i) => ({ node: `n${i}`, shard: String(i).repeat(64), size: i * 10 }));
    const p = pickWeighted(hs, 5);
    expect(p).toHaveLength(3);
    expect(new Set(p.map((h) => h.shard)).size).toBe(3);
    expect(pickWeighted([], 3)).toEqual([]);
  });
});
