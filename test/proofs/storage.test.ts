// Proof of storage on a real LMDB blob store: honest answers verify for every shape of shard; the chunk selection is
// fixed by nonce and shard; forged, replayed, truncated or oversized answers fail with their reason; a missing or
// corrupted shard fails honestly; the responder refuses strangers and more than pos_concurrency proofs in flight.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { LmdbBlobStore } from "../../src/store/lmdb.ts";
import { identityFromSecret } from "../../src/identity/identity.ts";
import { randomSecret } from "../../src/identity/ed25519.ts";
import {
  answerBytes, answerChallenge, challengeIndices, chunkCountOf, POS_LIMITS, PosError, PosVerifyError, randomNonce, verifyAnswer,
  type PosAnswer, type PosChallenge, type ShardSource,
} from "../../src/proofs/storage.ts";
import { PosResponder } from "../../src/proofs/miner.ts";
import { ed25519Sign, ed25519Verify, signStatement, verifyStatement } from "../../src/proofs/sign.ts";
import { sign as nobleSign } from "../../src/identity/ed25519.ts";
import { tempDir } from "../helpers/node.ts";
import { corruptStoredChunk } from "./helpers.ts";
import { testBytes } from "../../src/store/contract.ts";
import { blake3Concat, deriveKey, toHex } from "../../src/wasm/index.ts";

const miner = identityFromSecret(randomSecret());
const warden = identityFromSecret(randomSecret());
const dir = tempDir("slowdrip-pos-");
let store: LmdbBlobStore;
const shards = new Map<number, string>();
const sizes = [0, 1, 1023, 1024, 1025, 16 * 1024, 16 * 1024 + 1, 100_003, 4 * 1024 * 1024];

beforeAll(async () => {
  store = await LmdbBlobStore.open({ path: join(dir, "db") });
  for (const [i, n] of sizes.entries()) shards.set(n, (await store.import([testBytes(n, i + 1)])).hash);
});
afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const challenge = (shard: string, count = 16, nonce = randomNonce()): PosChallenge => ({ shard, nonce, count, root: shard });
const answer = (ch: PosChallenge, source: ShardSource = store) => answerChallenge(source, ch, miner, warden.nodeId);
function failure(ch: PosChallenge, a: PosAnswer, who = miner.nodeId, by = warden.nodeId): string {
  try {
    verifyAnswer(ch, a, who, by);
    return "valid";
  } catch (err) {
    if (err instanceof PosVerifyError) return err.reason;
    throw err;
  }
}

/** The selection rule of docs/proofs.md written plainly with BigInt (the reference for challengeIndices). */
function referenceIndices(shard: string, nonce: Uint8Array, count: number, size: number): number[] {
  const n = chunkCountOf(size);
  const want = Math.min(count, n);
  const material = new Uint8Array([...Buffer.from(shard, "hex"), ...nonce]);
  for (let words = Math.max(16, want * 2); ; words *= 2) {
    const xof = deriveKey("slowdrip pos v1 chunk indices", material, { length: words * 8 });
    const picked: number[] = [];
    for (let j = 0; j < words && picked.length < want; j++) {
      const idx = Number(new DataView(xof.buffer, xof.byteOffset).getBigUint64(j * 8, true) % BigInt(n));
      if (!picked.includes(idx)) picked.push(idx);
    }
    if (picked.length < want) continue;
    if (!picked.includes(n - 1)) picked.push(n - 1);
    return picked;
  }
}

describe("chunk selection", () => {
  it("matches the BigInt reference on both sides of the 2^21-chunk switch", () => {
    const shard = shards.get(100_003)!;
    for (const size of [0, 1, 1025, 100_003, 4 * 1024 * 1024, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1024, 2 ** 33 + 7, 2 ** 40]) {
      for (const count of [1, 16, 64]) {
        const nonce = randomNonce();
        expect(challengeIndices(shard, nonce, count, size), `size ${size} count ${count}`).toEqual(referenceIndices(shard, nonce, count, size));
      }
    }
  });

  it("is fixed by shard and nonce, distinct, includes the final chunk, and covers the shard when count >= chunks", () => {
    const shard = shards.get(100_003)!;
    const nonce = randomNonce();
    const a = challengeIndices(shard, nonce, 16, 100_003);
    expect(challengeIndices(shard, nonce, 16, 100_003)).toEqual(a);
    expect(new Set(a).size).toBe(a.length);
    expect(a).toContain(chunkCountOf(100_003) - 1);
    expect(a.length === 16 || a.length === 17).toBe(true);
    expect(a.every((i) => i >= 0 && i < 98)).toBe(true);
    expect(challengeIndices(shard, randomNonce(), 16, 100_003)).not.toEqual(a);
    expect(challengeIndices(shards.get(4 * 1024 * 1024)!, nonce, 16, 100_003)).not.toEqual(a);
    expect(challengeIndices(shard, nonce, 64, 5000).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4]);
    expect(challengeIndices(shard, nonce, 3, 0)).toEqual([0]);
  });
  it("spreads over the shard: many nonces hit every region", () => {
    const shard = shards.get(4 * 1024 * 1024)!;
    const hits = new Array(16).fill(0);
    for (let k = 0; k < 200; k++) for (const i of challengeIndices(shard, randomNonce(), 16, 4 * 1024 * 1024)) hits[Math.floor(i / 256)]++;
    // 200 x 16 random picks (plus the final chunk) over 16 regions: each region expects about 200.
    for (const h of hits.slice(0, 15)) expect(h).toBeGreaterThan(100);
  });
});

describe("honest answers", () => {
  it.each(sizes)("a %i-byte shard: every slice verifies against the root", async (size) => {
    const ch = challenge(shards.get(size)!);
    const a = await answer(ch);
    expect(a.size).toBe(size);
    expect(a.chunks).toEqual(challengeIndices(ch.shard, ch.nonce, 16, size));
    expect(verifyAnswer(ch, a, miner.nodeId, warden.nodeId)).toEqual({ size });
  });
  it("answers for a 4 MiB shard with c = 16 stay small (17 slices of about 1.8 KB)", async () => {
    const a = await answer(challenge(shards.get(4 * 1024 * 1024)!));
    expect(a.slices).toHaveLength(17);
    for (const s of a.slices) expect(s.length).toBe(8 + 12 * 64 + 1024);
    expect(answerBytes(a)).toBeLessThan(32 * 1024);
  });
  it("the signed bytes are the documented POS_ANSWER statement in canonical JSON (both ways, odd party names too)", async () => {
    for (const by of [warden.nodeId, 'w\u00e4r"den\\ \u2028 \ud83d\ude00 \u0001']) {
      const ch = challenge(shards.get(100_003)!);
      const a = await answerChallenge(store, ch, miner, by);
      const framed = a.slices.flatMap((s) => [new Uint8Array([s.length >>> 24, (s.length >>> 16) & 255, (s.length >>> 8) & 255, s.length & 255]), s]);
      const body = {
        type: "POS_ANSWER", v: 1, shard: a.shard, root: a.shard, nonce: toHex(a.nonce), size: a.size, chunks: a.chunks,
        slices: toHex(blake3Concat(framed)), miner: a.miner, challenger: by,
      };
      expect(verifyStatement("POS_ANSWER", body, a.signature, miner.publicKey), `${by}: the miner signed the canonical statement`).toBe(true);
      const resigned = { ...a, signature: signStatement("POS_ANSWER", body, miner.secretKey) };
      expect(verifyAnswer(ch, resigned, miner.nodeId, by), `${by}: a canonically signed answer verifies`).toEqual({ size: a.size });
      expect(failure(ch, { ...a, signature: signStatement("POS_ANSWER", { ...body, v: 2 }, miner.secretKey) }, miner.nodeId, by)).toBe("bad-signature");
    }
  });
  it("the signature helper is plain Ed25519 (same bytes as @noble/ed25519)", () => {
    const msg = testBytes(200, 9);
    const sig = ed25519Sign(msg, miner.secretKey);
    expect(Buffer.from(sig).equals(Buffer.from(nobleSign(msg, miner.secretKey)))).toBe(true);
    expect(ed25519Verify(sig, msg, miner.publicKey)).toBe(true);
    expect(ed25519Verify(sig, msg, warden.publicKey)).toBe(false);
  });
});

describe("answers that must fail", () => {
  const shard = () => shards.get(100_003)!;
  it("a replayed answer to a new nonce fails, even with the nonce field rewritten", async () => {
    const old = await answer(challenge(shard()));
    const fresh = challenge(shard());
    expect(failure(fresh, old)).toBe("wrong-nonce");
    expect(failure(fresh, { ...old, nonce: fresh.nonce })).toBe("wrong-chunks");
  });
  it("answers for another shard, miner or challenger fail", async () => {
    const ch = challenge(shard());
    const a = await answer(ch);
    const other = challenge(shards.get(1025)!, 16, ch.nonce);
    expect(failure(other, a)).toBe("wrong-shard");
    expect(failure(ch, a, warden.nodeId)).toBe("wrong-miner");
    expect(failure(ch, a, miner.nodeId, miner.nodeId)).toBe("wrong-challenger");
  });
  it("any flipped byte in any slice fails as bad-slice (or bad-size in the length header)", async () => {
    const ch = challenge(shard(), 4);
    const a = await answer(ch);
    for (let k = 0; k < a.slices.length; k++) {
      const s = a.slices[k]!;
      const chunkLen = Math.min(1024, a.size - a.chunks[k]! * 1024);
      for (const at of [0, 3, 8, 40, 8 + 64 * 3, s.length - chunkLen, s.length - 1]) {
        const bad = s.slice();
        bad[at]! ^= 0x20;
        const slices = a.slices.slice();
        slices[k] = bad;
        expect(["bad-slice", "bad-size"], `slice ${k} byte ${at}`).toContain(failure(ch, { ...a, slices }));
      }
    }
  });
  it("truncated, dropped, swapped or extra slices fail", async () => {
    const ch = challenge(shard(), 8);
    const a = await answer(ch);
    expect(failure(ch, { ...a, slices: [a.slices[0]!.subarray(0, 500), ...a.slices.slice(1)] })).toBe("bad-slice");
    expect(failure(ch, { ...a, slices: a.slices.slice(1), chunks: a.chunks.slice(1) })).toBe("wrong-chunks");
    expect(failure(ch, { ...a, slices: [a.slices[1]!, a.slices[0]!, ...a.slices.slice(2)] })).toBe("bad-slice");
    const swappedChunks = [a.chunks[1]!, a.chunks[0]!, ...a.chunks.slice(2)];
    expect(failure(ch, { ...a, chunks: swappedChunks })).toBe("wrong-chunks");
    // One slice more than count + 1 is oversized; a repeated chunk within the bound does not match the selection.
    expect(failure(ch, { ...a, slices: [...a.slices, a.slices[0]!, a.slices[0]!], chunks: [...a.chunks, a.chunks[0]!, a.chunks[0]!] })).toBe("oversized");
    const head = { slices: a.slices.slice(0, 7), chunks: a.chunks.slice(0, 7) };
    expect(failure(ch, { ...a, slices: [...head.slices, a.slices[0]!], chunks: [...head.chunks, a.chunks[0]!] })).toBe("wrong-chunks");
    const many = Array.from({ length: 20 }, () => a.slices[0]!);
    expect(failure(ch, { ...a, slices: many, chunks: many.map(() => 0) })).toBe("oversized");
  });
  it("a lied size fails (the final chunk's slice pins the length)", async () => {
    const ch = challenge(shard());
    const a = await answer(ch);
    expect(failure(ch, { ...a, size: a.size - 1024 })).toMatch(/^(bad-size|wrong-chunks)$/);
    expect(failure(ch, { ...a, size: -1 })).toBe("bad-size");
  });
  it("a signature by another key or over other bytes fails", async () => {
    const ch = challenge(shard());
    const a = await answer(ch);
    const forged = await answerChallenge(store, ch, warden, warden.nodeId);
    expect(failure(ch, { ...forged, miner: miner.nodeId })).toBe("bad-signature");
    const sig = a.signature.slice();
    sig[5]! ^= 1;
    expect(failure(ch, { ...a, signature: sig })).toBe("bad-signature");
  });
  it("a dishonest miner serving altered bytes is caught by the slices (test double: the lie is the fault under test)", async () => {
    const ch = challenge(shard());
    const lying: ShardSource = {
      stat: (h) => store.stat(h),
      baoChunkSlices: async (h, chunks) => {
        const slices = await store.baoChunkSlices(h, chunks);
        const s = slices[0]!;
        s[s.length - 1]! ^= 0xff;
        return slices;
      },
    };
    expect(failure(ch, await answer(ch, lying))).toBe("bad-slice");
  });
});

describe("honest failures and the responder", () => {
  it("malformed challenges are refused before any work", async () => {
    const shard = shards.get(1025)!;
    const bad: [Partial<PosChallenge>, RegExp][] = [
      [{ shard: "xyz" }, /shard must be/],
      [{ root: shards.get(1024)! }, /expected root/],
      [{ nonce: new Uint8Array(8) }, /nonce must be 32 bytes/],
      [{ count: 0 }, /count must be/],
      [{ count: POS_LIMITS.maxChunks + 1 }, /count must be/],
    ];
    for (const [patch, msg] of bad) {
      const err = await answer({ ...challenge(shard), ...patch }).catch((e) => e);
      expect(err).toBeInstanceOf(PosError);
      expect((err as PosError).reason).toBe("bad-challenge");
      expect((err as PosError).message).toMatch(msg);
    }
  });
  it("a shard that is not stored fails as not-stored", async () => {
    const err = await answer(challenge("ab".repeat(32))).catch((e) => e);
    expect((err as PosError).reason).toBe("not-stored");
  });
  it("a shard whose bytes rotted on disk fails as corrupt (TEST-ONLY FAULT: one byte flipped in LMDB)", async () => {
    const path = join(dir, "rot");
    let s = await LmdbBlobStore.open({ path });
    const data = testBytes(300_000, 77);
    const { hash } = await s.import([data]);
    await s.close();
    await corruptStoredChunk(path, hash, 123_456);
    s = await LmdbBlobStore.open({ path });
    try {
      // Ask until a challenge touches the rotten 16 KiB group (7 of 19 groups; the final chunk is always asked).
      let reason = "";
      for (let k = 0; k < 50 && reason === ""; k++) {
        await answerChallenge(s, challenge(hash, 16), miner, warden.nodeId).catch((e: unknown) => {
          reason = (e as PosError).reason;
        });
      }
      expect(reason).toBe("corrupt");
    } finally {
      await s.close();
    }
  });
  it("refuses callers the predicate does not name, and more than pos_concurrency proofs in flight", async () => {
    const r = new PosResponder({ source: store, signer: miner, concurrency: 2, mayChallenge: (id) => id === warden.nodeId });
    const ch = challenge(shards.get(4 * 1024 * 1024)!, 64);
    expect(((await r.answer(miner.nodeId, ch).catch((e) => e)) as PosError).reason).toBe("refused");
    expect(((await r.answer(undefined, ch).catch((e) => e)) as PosError).reason).toBe("refused");
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => r.answer(warden.nodeId, challenge(ch.shard, 64))));
    expect(results.filter((x) => x.status === "fulfilled")).toHaveLength(2);
    const busy = results.filter((x): x is PromiseRejectedResult => x.status === "rejected").map((x) => (x.reason as PosError).reason);
    expect(busy).toEqual(["busy", "busy"]);
    expect(r.inFlight).toBe(0);
    expect(r.counts).toMatchObject({ answered: 2, busy: 2, refused: 2 });
    // Slots free again once the proofs are done.
    verifyAnswer(ch, await r.answer(warden.nodeId, ch), miner.nodeId, warden.nodeId);
  });
});
