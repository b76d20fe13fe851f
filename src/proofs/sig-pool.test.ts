// Unit tests for the signature worker pool: every verdict equals ed25519Verify's (valid, tampered, malformed, long,
// across batches), what a worker still owed when it stopped is verified on the calling thread, and verifyAnswerParallel
// accepts an honest answer and names the failure of a forged or replayed one.
import { afterAll, describe, expect, it } from "vitest";
import { identityFromSecret } from "../identity/identity.ts";
import { randomSecret } from "../identity/ed25519.ts";
import { baoOutboard, baoSliceFromOutboard, blake3Hex } from "../wasm/index.ts";
import { ed25519Sign, ed25519Verify } from "./sign.ts";
import { closeSignaturePool, ed25519VerifyParallel, signaturePoolSize, verifyAnswerParallel } from "./sig-pool.ts";
import { answerChallenge, PosVerifyError, randomNonce, type ShardSource } from "./storage.ts";

afterAll(() => closeSignaturePool());

const keys = [identityFromSecret(randomSecret()), identityFromSecret(randomSecret())];
const pub = (i: number) => Uint8Array.from(Buffer.from(keys[i]!.nodeId, "hex"));

/** Signed messages and their tampered forms, each with ed25519Verify's verdict. */
function cases(n: number): { name: string; sig: Uint8Array; msg: Uint8Array; key: Uint8Array }[] {
  const out = [];
  for (let i = 0; i < n; i++) {
    const msg = crypto.getRandomValues(new Uint8Array(1 + (i % 700)));
    const sig = ed25519Sign(msg, keys[i % 2]!.secretKey);
    out.push({ name: `${i}: valid`, sig, msg, key: pub(i % 2) });
    const m2 = msg.slice();
    m2[0]! ^= 1;
    out.push({ name: `${i}: message flipped`, sig, msg: m2, key: pub(i % 2) });
    const s2 = sig.slice();
    s2[i % 64]! ^= 4;
    out.push({ name: `${i}: signature flipped`, sig: s2, msg, key: pub(i % 2) });
    out.push({ name: `${i}: other key`, sig, msg, key: pub((i + 1) % 2) });
  }
  return out;
}

describe("ed25519VerifyParallel", () => {
  it("gives ed25519Verify's verdict on 600 signatures asked in one turn (several batches), on a worker", async () => {
    const all = cases(150);
    const got = await Promise.all(all.map((c) => ed25519VerifyParallel(c.sig, c.msg, c.key)));
    all.forEach((c, i) => expect(got[i], c.name).toBe(ed25519Verify(c.sig, c.msg, c.key)));
    expect(got.filter(Boolean).length).toBe(150);
    expect(signaturePoolSize()).toBeGreaterThanOrEqual(1);
  });

  it("refuses malformed input without a worker, and checks a long message here", async () => {
    const msg = new Uint8Array(10);
    const sig = ed25519Sign(msg, keys[0]!.secretKey);
    expect(await ed25519VerifyParallel(sig.subarray(1), msg, pub(0)), "63-byte signature").toBe(false);
    expect(await ed25519VerifyParallel(sig, msg, pub(0).subarray(1)), "31-byte key").toBe(false);
    expect(await ed25519VerifyParallel("x" as unknown as Uint8Array, msg, pub(0)), "signature not bytes").toBe(false);
    expect(await ed25519VerifyParallel(sig, null as unknown as Uint8Array, pub(0)), "message not bytes").toBe(false);
    const long = new Uint8Array(100_000);
    expect(await ed25519VerifyParallel(ed25519Sign(long, keys[1]!.secretKey), long, pub(1)), "100 kB message").toBe(true);
  });

  it("what a worker owed when the pool stopped is verified on the calling thread, and the pool starts again", async () => {
    const all = cases(20);
    const pending = all.map((c) => ed25519VerifyParallel(c.sig, c.msg, c.key));
    await new Promise((r) => setImmediate(r)); // the batch is with the worker now
    await closeSignaturePool();
    const got = await Promise.all(pending);
    all.forEach((c, i) => expect(got[i], c.name).toBe(ed25519Verify(c.sig, c.msg, c.key)));
    expect(await ed25519VerifyParallel(all[0]!.sig, all[0]!.msg, all[0]!.key), "after a restart").toBe(true);
  });
});

describe("verifyAnswerParallel", () => {
  // A shard source over bytes in memory: the stored outboard and the standard slices, as a blob store gives them.
  const data = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 31 + (i >> 11)) & 255);
  const shard = blake3Hex(data);
  const { outboard } = baoOutboard(data);
  const source: ShardSource = {
    stat: async () => ({ size: data.length }),
    baoChunkSlices: async (_h, chunks) => chunks.map((c) => baoSliceFromOutboard(data, outboard, c * 1024, Math.min(1024, data.length - c * 1024))),
  };
  const [miner, warden] = keys as [typeof keys[0], typeof keys[0]];

  it("accepts an honest answer and names a forged signature, a replay and a wrong miner", async () => {
    const ch = { shard, nonce: randomNonce(), count: 16, root: shard };
    const a = await answerChallenge(source, ch, miner, warden.nodeId);
    expect(await verifyAnswerParallel(ch, a, miner.nodeId, warden.nodeId)).toEqual({ size: data.length });
    const reason = (p: Promise<unknown>) => p.then(() => "accepted", (e) => (e instanceof PosVerifyError ? e.reason : String(e)));
    const sig = a.signature.slice();
    sig[5]! ^= 1;
    expect(await reason(verifyAnswerParallel(ch, { ...a, signature: sig }, miner.nodeId, warden.nodeId)), "forged").toBe("bad-signature");
    expect(await reason(verifyAnswerParallel({ ...ch, nonce: randomNonce() }, a, miner.nodeId, warden.nodeId)), "replayed").toBe("wrong-nonce");
    expect(await reason(verifyAnswerParallel(ch, a, warden.nodeId, warden.nodeId)), "wrong miner").toBe("wrong-miner");
    // Signed by another key under the miner's name: the slices pass, the signature does not.
    const other = await answerChallenge(source, ch, { nodeId: miner.nodeId, secretKey: warden.secretKey }, warden.nodeId);
    expect(await reason(verifyAnswerParallel(ch, other, miner.nodeId, warden.nodeId)), "another key").toBe("bad-signature");
  });
});
