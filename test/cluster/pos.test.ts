// Proof of storage end to end on a real loopback cluster: 1 validator (acting as the warden, challenging every 1 s)
// and 6 miners in 3 families (k=2, m=1). A 6 MiB file is put through the gateway; honest miners pass every
// challenge; in turn a miner whose shard bytes were corrupted on disk (TEST-ONLY FAULT), one that deleted its shards
// and one that stops answering (SIGSTOP) fail or time out, are marked faulty after proofs.max_failures (weight 0 in
// the next map), and their shards are rebalanced to the others, where they verify; the file still reads
// byte-identical.
// Challenges from keys that are no wardens are refused, a warden named only in the map is accepted by every miner,
// and an answer replayed to a new nonce fails. Every observation is from the cluster's own state (GetClusterStatus,
// GetClusterMap, metrics, blob lists).
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { MemberState, ValidatorService, type MemberStatus } from "../../src/gen/slowdrip/v1/cluster_pb.ts";
import { ProofService } from "../../src/gen/slowdrip/v1/proofs_pb.ts";
import { randomSecret } from "../../src/identity/ed25519.ts";
import { identityFromSecret, type Identity } from "../../src/identity/identity.ts";
import { openSignedMap } from "../../src/cluster/map.ts";
import { posChallenger } from "../../src/rpc/proofs.ts";
import { signingInterceptor } from "../../src/rpc/sign-client.ts";
import { randomNonce, verifyAnswer, type PosChallenge } from "../../src/proofs/storage.ts";
import { corruptStoredChunk } from "../proofs/helpers.ts";
import { tempDir } from "../helpers/node.ts";
import { TestCluster, familyOf, holdings, independentBlake3, waitFor, type NodeProc } from "./harness.ts";

const FILE_SIZE = 6 * 1024 * 1024;
/** 512 KiB stripes of 2 data + 1 parity shards of 256 KiB: 12 stripes, 36 shards. */
const STRIPES = 12;
const MAX_FAILURES = 2;
/** A key the validator names as a warden in its map; no miner is configured with it. */
const mapWarden = identityFromSecret(randomSecret());
const stranger = identityFromSecret(randomSecret());

let c: TestCluster;
let dir: string;
let file: string;
let fileHash: string;
/** Roles, chosen from where the shards landed. */
let rotten: NodeProc;
let deleter: NodeProc;
let silent: NodeProc;

async function member(m: NodeProc): Promise<MemberStatus> {
  return (await c.status()).members.find((x) => x.member?.nodeId === m.nodeId)!;
}

/** The current signed map, verified against the validator's key. */
async function currentMap() {
  const r = await c.client().getClusterMap({ epoch: 0n });
  return openSignedMap({ json: r.map!.mapJson, signature: r.map!.signature }, c.validator.nodeId);
}

/** Waits for the map after the faulty mark (a new epoch follows within moments): the member is listed with weight 0. */
async function faultyInNextMap(m: NodeProc): Promise<void> {
  const entry = await waitFor(async () => (await currentMap()).members.find((x) => x.id === m.nodeId && x.state === "faulty"), `a map listing ${m.name} as faulty`, 30_000, 200);
  expect(entry).toMatchObject({ weight: 0, state: "faulty" });
}

/** Every shard of the file is held by a miner that is up (not faulty), the 3 of a stripe in 3 families, and verifies. */
async function rebalancedAwayFrom(bad: NodeProc[]): Promise<boolean> {
  const good = c.miners.filter((m) => !bad.includes(m));
  const held = await holdings(good);
  for (const s of await c.stripes(fileHash)) {
    // A shard may also sit, as an orphan of an earlier epoch, on a miner of another family: any choice of one holder
    // per shard with three distinct families will do.
    const options = s.map((h) => [...new Set((held.get(h) ?? []).map(familyOf))]);
    const pick = (i: number, used: Set<string>): boolean => i === options.length || options[i]!.some((f) => !used.has(f) && pick(i + 1, new Set([...used, f])));
    if (!pick(0, new Set())) return false;
  }
  // Every copy on a good miner verifies against its BLAKE3 (read back through the miner's StorageService).
  for (const [hash, ms] of held) {
    for (const m of ms) {
      const parts: Uint8Array[] = [];
      for await (const r of m.storage().fetchBlob({ hash })) parts.push(r.data);
      expect(await independentBlake3(Buffer.concat(parts))).toBe(hash);
    }
  }
  return true;
}

function proofService(as: Identity | null, target: NodeProc) {
  return createClient(ProofService, createConnectTransport({ baseUrl: target.url, httpVersion: "1.1", interceptors: as ? [signingInterceptor(as, target.nodeId)] : [] }));
}

async function refusal(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ConnectError) return err;
    throw err;
  }
  throw new Error("the call succeeded");
}

async function readBack(name: string): Promise<string> {
  const out = join(dir, name);
  const r = await c.cli(["file", "get", fileHash, "-o", out]);
  expect(r.code, r.stderr).toBe(0);
  return independentBlake3(readFileSync(out));
}

const tallies = async () => new Map((await c.status()).members.map((m) => [m.member!.nodeId, m]));

beforeAll(async () => {
  dir = tempDir("slowdrip-pos-e2e-");
  file = join(dir, "file.bin");
  writeFileSync(file, randomBytes(FILE_SIZE));
  c = await TestCluster.start({
    families: ["f1", "f1", "f2", "f2", "f3", "f3"],
    validator: {
      "cluster.data_shards": "2",
      "cluster.parity_shards": "1",
      "cluster.stripe_size": "512KiB",
      // Long enough that the SIGSTOPped miner is marked faulty by its timeouts, not dropped for silence.
      "cluster.member_timeout": "60s",
      // The warden idles while the faults are set up; the validator restarts with a 1 s interval below.
      "proofs.challenge_interval": "1h",
      // Generous: an honest answer takes milliseconds, but this machine may be busy.
      "proofs.deadline": "10s",
      "proofs.max_failures": String(MAX_FAILURES),
      "proofs.failure_window": "10m",
      "proofs.challenges_per_round": "64",
      "proofs.chunks": "8",
      "proofs.settle_grace": "1h",
      "proofs.wardens": mapWarden.nodeId,
    },
  });
  const put = await c.cli(["file", "put", file]);
  expect(put.code, put.stderr).toBe(0);
  fileHash = put.stdout.split(/\s+/)[0]!;
}, 240_000);

afterAll(async () => {
  await c?.stop();
});

describe("proof of storage on a loopback cluster (validator as warden, 6 miners in 3 families)", () => {
  it("names the validator and proofs.wardens as wardens in the map and in heartbeat answers; miners accept a map warden", async () => {
    const s = await c.status();
    expect([...s.wardenIds].sort()).toEqual([c.validator.nodeId, mapWarden.nodeId].sort());
    expect([...(await currentMap()).wardens].sort()).toEqual([c.validator.nodeId, mapWarden.nodeId].sort());
    // A heartbeat signed by a member (its own key) is answered with the wardens.
    const m = c.miners[0]!;
    const v = createClient(ValidatorService, createConnectTransport({ baseUrl: c.validator.url, httpVersion: "1.1", interceptors: [signingInterceptor(m.identity, c.validator.nodeId)] }));
    const hb = await v.heartbeat({ availableBytes: 1n << 30n, epoch: s.epoch, shardsStored: 0n });
    expect([...hb.wardenIds].sort()).toEqual([c.validator.nodeId, mapWarden.nodeId].sort());
    // No miner lists mapWarden in its config; each learnt it from the map and answers it.
    const held = await holdings(c.miners);
    for (const miner of c.miners) {
      const shard = [...held].find(([, ms]) => ms.includes(miner))?.[0];
      if (!shard) continue;
      const ch: PosChallenge = { shard, nonce: randomNonce(), count: 8, root: shard };
      const a = await posChallenger(mapWarden, () => miner.url)(miner.nodeId, ch, AbortSignal.timeout(20_000));
      expect(verifyAnswer(ch, a, miner.nodeId, mapWarden.nodeId).size).toBe(256 * 1024);
    }
  });

  it("refuses challenges from keys that are no wardens (a member's, a stranger's) naming the rule; a replayed answer fails", async () => {
    const [a, b] = [c.miners[0]!, c.miners[2]!];
    const shard = [...(await holdings([a]))][0]![0];
    const req = { shard, nonce: randomNonce(), count: 4, expectedRoot: shard };
    for (const who of [b.identity, stranger]) {
      const err = await refusal(proofService(who, a).posChallenge(req));
      expect(err.code).toBe(Code.PermissionDenied);
      expect(err.rawMessage).toMatch(/only the validator or a warden named in the current cluster map may send storage challenges/);
    }
    expect((await refusal(proofService(null, a).posChallenge(req))).code).toBe(Code.Unauthenticated);
    // The validator's own key is allowed; its answer does not carry over to a fresh nonce.
    const ch: PosChallenge = { shard, nonce: randomNonce(), count: 8, root: shard };
    const answer = await posChallenger(c.validator.identity, () => a.url)(a.nodeId, ch, AbortSignal.timeout(20_000));
    verifyAnswer(ch, answer, a.nodeId, c.validator.nodeId);
    const fresh: PosChallenge = { ...ch, nonce: randomNonce() };
    expect(() => verifyAnswer(fresh, answer, a.nodeId, c.validator.nodeId)).toThrow(/^wrong-nonce/);
    // Nor to another challenger.
    expect(() => verifyAnswer(ch, answer, a.nodeId, mapWarden.nodeId)).toThrow(/^wrong-challenger/);
  });

  it("rots two shards of one miner while the warden idles (TEST-ONLY FAULT)", async () => {
    const held = await holdings(c.miners);
    expect((await c.stripes(fileHash)).length).toBe(STRIPES);
    let picks: string[] = [];
    for (const m of c.miners.filter((x) => familyOf(x) === "f1")) {
      const mine = [...held].filter(([, ms]) => ms.includes(m)).map(([h]) => h);
      if (mine.length > picks.length) {
        rotten = m;
        picks = mine.slice(0, 2);
      }
    }
    expect(picks.length).toBeGreaterThan(0);
    // TEST-ONLY FAULT: bit rot on disk. The miner is stopped, one byte of every 16 KiB group of the shards is flipped
    // in its LMDB, and it starts again; nothing in the node itself damages stored bytes. The warden idles meanwhile,
    // so the miner's downtime is not what fails it.
    await rotten.kill("SIGTERM");
    for (const h of picks) for (let off = 11; off < 256 * 1024; off += 16 * 1024) await corruptStoredChunk(join(rotten.dataDir, "db"), h, off);
    await rotten.start();
    await c.waitForMembers(6);
  }, 120_000);

  it("with challenges every 1 s, honest miners pass every challenge; the rotten miner fails and is marked faulty", async () => {
    await c.validator.restart({ "proofs.challenge_interval": "1s" });
    const rounds = async () => Number(/^slowdrip_warden_rounds_total (\d+)/m.exec(await c.validator.metrics())?.[1] ?? 0);
    await waitFor(async () => (await member(rotten)).member?.state === MemberState.FAULTY, "the rotten miner to be marked faulty", 120_000, 500);
    const r = await member(rotten);
    expect(Number(r.proofs!.failed)).toBeGreaterThanOrEqual(MAX_FAILURES);
    expect(r.proofs!.lastFailure).toMatch(/damaged|data_loss/);
    expect(r.faultReason).toMatch(new RegExp(`${MAX_FAILURES} failed storage proofs`));
    // Weight 0 in the next map, which lists it as faulty.
    await faultyInNextMap(rotten);
    // Challenges keep flowing, round after round, and every honest miner passes all of its own.
    const r0 = await rounds();
    await waitFor(async () => (await rounds()) >= r0 + 3, "three more warden rounds", 60_000, 500);
    const honest = c.miners.filter((m) => m !== rotten);
    await waitFor(async () => {
      const now = await tallies();
      return honest.every((m) => Number(now.get(m.nodeId)?.proofs?.passed ?? 0) >= 3);
    }, "every honest miner to pass at least 3 challenges", 60_000, 500);
    const now = await tallies();
    for (const m of honest) expect(now.get(m.nodeId)!.proofs, m.name).toMatchObject({ failed: 0n, timedOut: 0n });
    const metrics = await c.validator.metrics();
    expect(metrics).toMatch(/slowdrip_warden_challenges_total\{result="pass"\} [1-9]/);
    expect(metrics).toMatch(/slowdrip_warden_challenges_total\{result="fail"\} [1-9]/);
    const text = await c.cli(["cluster", "status"]);
    expect(text.stdout).toMatch(/storage proofs \d+ passed, 0 failed, 0 timed out/);
    expect(text.stdout).toMatch(/storage proofs \d+ passed, [1-9]\d* failed, 0 timed out .*last failure fail: .*damaged/);
  }, 240_000);

  it("moves the rotten miner's shards to the others, where every copy verifies; the file reads byte-identical", async () => {
    await waitFor(() => rebalancedAwayFrom([rotten]), "every shard on a good miner, 3 families per stripe", 120_000, 1000);
    const epoch = (await c.status()).epoch;
    await waitFor(async () => {
      const s = await c.status();
      return s.underReplicatedStripes === 0n && s.lastScanEpoch === epoch && s.epoch === epoch;
    }, "the health scan to find every stripe whole", 60_000, 500);
    expect(await readBack("after-rot.bin")).toBe(fileHash);
  }, 180_000);

  it("a miner that deletes its shards fails, is marked faulty, and its shards move away", async () => {
    const f2 = c.miners.filter((m) => familyOf(m) === "f2");
    const sizes = await Promise.all(f2.map(async (m) => (await holdings([m])).size));
    deleter = sizes[0]! >= sizes[1]! ? f2[0]! : f2[1]!;
    // It drops every cluster shard it holds through its admin API (force: the cluster pinned them), and again whenever
    // its rebalancing has fetched some back, until the warden marks it faulty.
    const deleted = new Set<string>();
    await waitFor(async () => {
      if ((await member(deleter)).member?.state === MemberState.FAULTY) return true;
      for (const h of (await holdings([deleter])).keys()) {
        await deleter.storage().delete({ hash: h, force: true }).catch(() => undefined);
        deleted.add(h);
      }
      return false;
    }, "the deleting miner to be marked faulty", 120_000, 300);
    expect(deleted.size).toBeGreaterThan(0);
    const d = await member(deleter);
    expect(Number(d.proofs!.failed)).toBeGreaterThanOrEqual(MAX_FAILURES);
    expect(d.proofs!.lastFailure).toMatch(/not stored|not_found/);
    await faultyInNextMap(deleter);
    await waitFor(() => rebalancedAwayFrom([rotten, deleter]), "every shard on a good miner again", 120_000, 1000);
    expect(await readBack("after-delete.bin")).toBe(fileHash);
    const t = await tallies();
    for (const m of c.miners.filter((x) => x !== rotten && x !== deleter)) expect(t.get(m.nodeId)!.proofs, m.name).toMatchObject({ failed: 0n, timedOut: 0n });
  }, 240_000);

  it("a miner that stops answering (SIGSTOP) times out, is marked faulty, and its shards move away", async () => {
    const f3 = c.miners.filter((m) => familyOf(m) === "f3");
    const held = await holdings(f3);
    const count = (m: NodeProc) => [...held.values()].filter((ms) => ms.includes(m)).length;
    silent = count(f3[0]!) >= count(f3[1]!) ? f3[0]! : f3[1]!;
    expect(count(silent)).toBeGreaterThan(0);
    expect((await member(silent)).proofs).toMatchObject({ failed: 0n, timedOut: 0n });
    silent.pause();
    try {
      await waitFor(async () => (await member(silent)).member?.state === MemberState.FAULTY, "the silent miner to be marked faulty", 90_000, 500);
    } finally {
      // Back from its pause, it serves its shards again (it stays faulty: its weight is 0 from now on).
      silent.resume();
    }
    const s = await member(silent);
    expect(Number(s.proofs!.timedOut)).toBeGreaterThanOrEqual(MAX_FAILURES);
    expect(s.proofs!.lastFailure).toMatch(/timeout: no answer within proofs\.deadline/);
    await faultyInNextMap(silent);
    await waitFor(() => rebalancedAwayFrom([rotten, deleter, silent]), "every shard on the three good miners", 120_000, 1000);
    expect(await readBack("after-silent.bin")).toBe(fileHash);
    // The three miners that were honest throughout never failed a challenge.
    const t = await tallies();
    for (const m of c.miners.filter((x) => ![rotten, deleter, silent].includes(x))) {
      expect(t.get(m.nodeId)!.member?.state, m.name).toBe(MemberState.UP);
      expect(t.get(m.nodeId)!.proofs, m.name).toMatchObject({ failed: 0n, timedOut: 0n });
    }
    expect(await c.validator.metrics()).toMatch(/slowdrip_warden_challenges_total\{result="timeout"\} [1-9]/);
  }, 240_000);
});
