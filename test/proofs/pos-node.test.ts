// Storage challenges against a real `slowdrip run` node holding blobs: a warden key named in proofs.wardens gets
// answers that verify (directly and through the Warden); strangers get permission_denied and unsigned calls
// unauthenticated; a deleted blob fails as not_found; bytes rotted on disk (TEST-ONLY FAULT, flipped in LMDB while
// the node is stopped) fail as data_loss; tuning.pos_concurrency = 1 turns concurrent challenges away with
// resource_exhausted; an answer replayed to a new nonce fails.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ProofService } from "../../src/gen/slowdrip/v1/proofs_pb.ts";
import { StorageService } from "../../src/gen/slowdrip/v1/storage_pb.ts";
import { identityFromSecret } from "../../src/identity/identity.ts";
import { randomSecret } from "../../src/identity/ed25519.ts";
import { posChallenger } from "../../src/rpc/proofs.ts";
import { signingInterceptor } from "../../src/rpc/sign-client.ts";
import { PosVerifyError, randomNonce, verifyAnswer, type PosChallenge } from "../../src/proofs/storage.ts";
import { Warden } from "../../src/proofs/warden.ts";
import { spawnNode, tempDir } from "../helpers/node.ts";
import { corruptStoredChunk } from "./helpers.ts";
import { testBytes } from "../../src/store/contract.ts";

const warden = identityFromSecret(randomSecret());
const stranger = identityFromSecret(randomSecret());
const dir = tempDir("slowdrip-pos-node-");
const args = ["--data-dir", dir, "--listen", "127.0.0.1:0", "--set", `proofs.wardens=${warden.nodeId}`, "--set", "tuning.pos_concurrency=1"];
let node: { child: ChildProcess; url: string; adminUrl: string };
let nodeId = "";
let token = "";
const blobs: Record<"keep" | "drop" | "rot", { hash: string; size: number }> = {} as never;

async function start(): Promise<void> {
  node = await spawnNode(args);
  nodeId = JSON.parse(readFileSync(join(dir, "keypair"), "utf8")).public;
  token = readFileSync(join(dir, "admin.token"), "utf8").trim();
}
async function stop(): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  const exited = new Promise((r) => node.child.once("exit", r));
  node.child.kill("SIGTERM");
  await exited;
}

beforeAll(async () => {
  await start();
  for (const [name, size, seed] of [["keep", 8 * 1024 * 1024, 1], ["drop", 100_000, 2], ["rot", 200_000, 3]] as const) {
    const r = await fetch(`${node.adminUrl}/blobs`, { method: "PUT", headers: { authorization: `Bearer ${token}` }, body: testBytes(size, seed) as Uint8Array<ArrayBuffer> });
    expect(r.status).toBe(201);
    blobs[name] = { hash: ((await r.json()) as { hash: string }).hash, size };
  }
}, 120_000);
afterAll(async () => {
  if (node) await stop();
});

const challenge = (shard: string, count = 16): PosChallenge => ({ shard, nonce: randomNonce(), count, root: shard });
const asWarden = () => posChallenger(warden, () => node.url);
const clientAs = (who: typeof warden | null) =>
  createClient(ProofService, createConnectTransport({ baseUrl: node.url, httpVersion: "1.1", interceptors: who ? [signingInterceptor(who, nodeId)] : [] }));
async function codeOf(p: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await p;
    return "ok";
  } catch (err) {
    if (err instanceof ConnectError) return err.code;
    throw err;
  }
}

describe("PosChallenge on a running node", () => {
  it("answers an allowed warden with slices that verify, and an answer replayed to a new nonce fails", async () => {
    const ch = challenge(blobs.keep.hash);
    const a = await asWarden()(nodeId, ch, AbortSignal.timeout(30_000));
    expect(a.miner).toBe(nodeId);
    expect(a.slices).toHaveLength(17);
    expect(verifyAnswer(ch, a, nodeId, warden.nodeId)).toEqual({ size: blobs.keep.size });
    const fresh = challenge(blobs.keep.hash);
    expect(() => verifyAnswer(fresh, a, nodeId, warden.nodeId)).toThrow(PosVerifyError);
    expect(() => verifyAnswer(fresh, a, nodeId, warden.nodeId)).toThrow(/^wrong-nonce/);
  });

  it("refuses a stranger's key (permission_denied) and unsigned calls (unauthenticated)", async () => {
    const req = { shard: blobs.keep.hash, nonce: randomNonce(), count: 4, expectedRoot: blobs.keep.hash };
    expect(await codeOf(clientAs(stranger).posChallenge(req))).toBe(Code.PermissionDenied);
    expect(await codeOf(clientAs(null).posChallenge(req))).toBe(Code.Unauthenticated);
    // The admin token is no warden either.
    expect(await codeOf(clientAs(null).posChallenge(req, { headers: { authorization: `Bearer ${token}` } }))).toBe(Code.PermissionDenied);
    expect(await codeOf(clientAs(warden).posChallenge({ ...req, expectedRoot: blobs.drop.hash }))).toBe(Code.InvalidArgument);
  });

  it("more than tuning.pos_concurrency proofs in flight get resource_exhausted; the others verify", async () => {
    const client = clientAs(warden);
    // Bursts of 24 at once; a quick node can answer a whole burst one at a time, so up to five bursts are sent until
    // one of them finds a proof in flight.
    let results: PromiseSettledResult<unknown>[] = [];
    const codes: (string | Code)[] = [];
    for (let burst = 0; burst < 5 && !codes.includes(Code.ResourceExhausted); burst++) {
      const chs = Array.from({ length: 24 }, () => challenge(blobs.keep.hash, 64));
      const settled = await Promise.allSettled(chs.map((c) => client.posChallenge({ shard: c.shard, nonce: c.nonce, count: c.count, expectedRoot: c.root })));
      results = [...results, ...settled];
      codes.push(...settled.map((r) => (r.status === "fulfilled" ? "ok" : (r.reason as ConnectError).code)));
    }
    expect(codes).toContain(Code.ResourceExhausted);
    expect(codes).toContain("ok");
    expect(codes.every((c) => c === "ok" || c === Code.ResourceExhausted), String(codes)).toBe(true);
    const busy = results.find((r): r is PromiseRejectedResult => r.status === "rejected")!.reason as ConnectError;
    expect(busy.rawMessage).toMatch(/tuning\.pos_concurrency = 1/);
  });

  it("a deleted blob fails honestly (not_found), and the warden records the failure", async () => {
    const storage = createClient(StorageService, createConnectTransport({ baseUrl: node.adminUrl, httpVersion: "1.1" }));
    await storage.delete({ hash: blobs.drop.hash, force: true }, { headers: { authorization: `Bearer ${token}` } });
    const req = { shard: blobs.drop.hash, nonce: randomNonce(), count: 4, expectedRoot: blobs.drop.hash };
    expect(await codeOf(clientAs(warden).posChallenge(req))).toBe(Code.NotFound);
    const faulty: string[] = [];
    const w = new Warden({
      self: warden.nodeId,
      holdings: () => [{ node: nodeId, shard: blobs.keep.hash, size: blobs.keep.size }, { node: nodeId, shard: blobs.drop.hash, size: blobs.drop.size }],
      challenge: asWarden(),
      markFaulty: (n) => faulty.push(n),
      intervalMs: 1000, deadlineMs: 20_000, maxFailures: 2, windowMs: 60_000, chunks: 16, perRound: 1,
      // Draw the deleted shard, then the kept one, then the deleted one again.
      random: (() => {
        const seq = [0.9999, 0.0, 0.9999];
        return () => seq.shift() ?? 0;
      })(),
    });
    const r1 = await w.round();
    const r2 = await w.round();
    const r3 = await w.round();
    expect([r1[0]!.result, r2[0]!.result, r3[0]!.result]).toEqual(["fail", "pass", "fail"]);
    expect(r1[0]!.reason).toMatch(/not_found|not stored/);
    expect(faulty).toEqual([nodeId]);
  });

  it("bytes rotted on disk fail as data_loss (TEST-ONLY FAULT: the node is stopped, one byte per 16 KiB group is flipped in LMDB, the node restarts)", async () => {
    await stop();
    for (let off = 7; off < blobs.rot.size; off += 16 * 1024) await corruptStoredChunk(join(dir, "db"), blobs.rot.hash, off);
    await start();
    const err = await clientAs(warden).posChallenge({ shard: blobs.rot.hash, nonce: randomNonce(), count: 8, expectedRoot: blobs.rot.hash }).catch((e: unknown) => e);
    expect((err as ConnectError).code).toBe(Code.DataLoss);
    expect((err as ConnectError).rawMessage).toMatch(/damaged/);
    // The untouched blob still proves.
    const ch = challenge(blobs.keep.hash);
    verifyAnswer(ch, await asWarden()(nodeId, ch, AbortSignal.timeout(30_000)), nodeId, warden.nodeId);
    const metrics = await (await fetch(`${node.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/slowdrip_pos_challenges_total\{outcome="corrupt"\} 1/);
  }, 60_000);
});
