// Proof of presence against a verifier on a real LMDB environment, on a controlled clock: proofs at the VRF offset
// are counted once per node and epoch; early, stale, foreign-nonce, forged and repeated proofs are refused with their
// reason; the nullifier survives reopening the database; the agent proves every epoch through a client.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { RootDatabase } from "lmdb";
import { openLmdb } from "../../src/store/lmdb-native.ts";
import { identityFromSecret } from "../../src/identity/identity.ts";
import { randomSecret } from "../../src/identity/ed25519.ts";
import {
  heartbeatOffset, makePresenceProof, nullifierOf, presenceAlpha, PresenceAgent, PresenceError, PresenceVerifier, type PresenceClient,
} from "../../src/proofs/presence.ts";
import { VrfProver, vrfVerify } from "../../src/proofs/vrf.ts";
import { tempDir } from "../helpers/node.ts";

const EPOCH = 60_000;
const verifierId = identityFromSecret(randomSecret());
const nodes = [0, 1, 2].map(() => identityFromSecret(randomSecret()));
const dir = tempDir("slowdrip-presence-");
let db: RootDatabase;
let now = 1_700_000_000_000 - (1_700_000_000_000 % EPOCH) + EPOCH; // the start of an epoch
const clock = () => now;
let v: PresenceVerifier;

beforeAll(async () => {
  db = await openLmdb({ path: join(dir, "db"), compression: false });
  v = new PresenceVerifier({ nodeId: verifierId.nodeId, secretKey: verifierId.secretKey, epochMs: EPOCH, db, now: clock, maxPerEpoch: 5 });
});
afterAll(async () => {
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function reason(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
    return "accepted";
  } catch (err) {
    if (err instanceof PresenceError) return err.reason;
    throw err;
  }
}

/** A node's proof for the verifier's current epoch, and the time it is due. */
function proofOf(n: (typeof nodes)[number], rtt = 3) {
  const ch = v.challenge();
  const { proof, offsetMs } = makePresenceProof(new VrfProver(n.secretKey), n.secretKey, n.nodeId, ch, rtt);
  return { ch, proof, due: ch.startMs + offsetMs };
}

describe("presence verifier", () => {
  it("the VRF output of epoch and nonce sets the offset; the verifier's nonce is per epoch and fixed", async () => {
    const ch = v.challenge();
    expect(v.nonceFor(ch.epoch)).toEqual(ch.nonce);
    expect(v.nonceFor(ch.epoch + 1)).not.toEqual(ch.nonce);
    const p = new VrfProver(nodes[0]!.secretKey).prove(presenceAlpha(ch.epoch, ch.nonce));
    expect(vrfVerify(new VrfProver(nodes[0]!.secretKey).publicKey, presenceAlpha(ch.epoch, ch.nonce), p.pi)).toEqual(p.beta);
    const off = heartbeatOffset(p.beta, EPOCH);
    expect(off).toBeGreaterThanOrEqual(0);
    expect(off).toBeLessThan(EPOCH * 0.75);
    // Offsets of many nodes spread over the epoch.
    const offs = Array.from({ length: 64 }, () => heartbeatOffset(crypto.getRandomValues(new Uint8Array(64)), EPOCH));
    expect(Math.max(...offs) - Math.min(...offs)).toBeGreaterThan(EPOCH / 4);
  });

  it("counts each node once per epoch, at or after its offset", async () => {
    const epoch = v.epoch();
    for (const n of nodes) {
      const { proof, due, ch } = proofOf(n);
      // Before the offset (less the grace) the proof is early; offsets inside the grace are due at the epoch's start.
      if (due - v.graceMs - 500 > ch.startMs) {
        now = due - v.graceMs - 500;
        expect(await reason(() => v.prove(n.nodeId, proof))).toBe("early");
      }
      now = due + 10;
      const rec = await v.prove(n.nodeId, proof);
      expect(rec).toMatchObject({ node: n.nodeId, epoch, rttMs: 3 });
      expect(rec.nullifier).toBe(nullifierOf(new VrfProver(n.secretKey).prove(presenceAlpha(epoch, proof.nonce)).beta));
      // The same proof again, and a fresh proof of the same epoch: one nullifier per node and epoch.
      expect(await reason(() => v.prove(n.nodeId, proof))).toBe("duplicate");
      expect(await reason(() => v.prove(n.nodeId, makePresenceProof(new VrfProver(n.secretKey), n.secretKey, n.nodeId, v.challenge(), 9).proof))).toBe("duplicate");
      now = epoch * EPOCH; // back to the epoch's start for the next node
    }
    expect(v.list(epoch).map((r) => r.node).sort()).toEqual(nodes.map((n) => n.nodeId).sort());
    expect(v.count(epoch)).toBe(3);
  });

  it("refuses a proof before its node's offset", async () => {
    now = (v.epoch() + 1) * EPOCH;
    // A node whose offset in this epoch lies well past the grace.
    let n = identityFromSecret(randomSecret());
    while (proofOf(n).due - now < v.graceMs + 2000) n = identityFromSecret(randomSecret());
    const { proof, due } = proofOf(n);
    now = due - v.graceMs - 1000;
    expect(await reason(() => v.prove(n.nodeId, proof))).toBe("early");
    now = due - v.graceMs + 1; // within the grace: accepted
    expect((await v.prove(n.nodeId, proof)).node).toBe(n.nodeId);
  });

  it("refuses proofs signed by another node, of another key, with another nonce, forged or malformed", async () => {
    now += EPOCH; // a new epoch
    const [a, b] = nodes as [(typeof nodes)[number], (typeof nodes)[number]];
    const { proof, due } = proofOf(a);
    now = due + 10;
    expect(await reason(() => v.prove(undefined, proof))).toBe("not-allowed");
    expect(await reason(() => v.prove(b.nodeId, proof))).toBe("bad-vrf");
    expect(await reason(() => v.prove(a.nodeId, { ...proof, nonce: crypto.getRandomValues(new Uint8Array(32)) }))).toBe("wrong-nonce");
    const pi = proof.pi.slice();
    pi[40]! ^= 1;
    expect(await reason(() => v.prove(a.nodeId, { ...proof, pi }))).toBe("bad-vrf");
    expect(await reason(() => v.prove(a.nodeId, { ...proof, rttMs: proof.rttMs + 1 }))).toBe("bad-signature");
    expect(await reason(() => v.prove(a.nodeId, { ...proof, pi: proof.pi.subarray(0, 79) }))).toBe("malformed");
    expect(await reason(() => v.prove(a.nodeId, { ...proof, rttMs: -1 }))).toBe("malformed");
    expect((await v.prove(a.nodeId, proof)).node).toBe(a.nodeId);
  });

  it("refuses proofs outside the epoch window", async () => {
    const { proof, due, ch } = proofOf(nodes[2]!);
    // The proof is prepared for this epoch but sent two epochs later.
    now = ch.startMs + 2 * EPOCH + 1000;
    expect(await reason(() => v.prove(nodes[2]!.nodeId, proof))).toBe("wrong-epoch");
    // Within the grace after the epoch's end it still counts.
    now = ch.startMs + EPOCH + v.graceMs - 10;
    expect(due).toBeLessThan(now);
    expect((await v.prove(nodes[2]!.nodeId, proof)).epoch).toBe(ch.epoch);
  });

  it("bounds the records of one epoch", async () => {
    now = (v.epoch() + 1) * EPOCH + EPOCH - 1; // late in a fresh epoch: every offset is due
    const extra = Array.from({ length: 6 }, () => identityFromSecret(randomSecret()));
    const results: string[] = [];
    for (const n of extra) results.push(await reason(() => v.prove(n.nodeId, proofOf(n).proof)));
    expect(results.filter((r) => r === "accepted")).toHaveLength(5);
    expect(results.at(-1)).toBe("busy");
  });

  it("counts a node once when its proofs arrive at the same moment", async () => {
    now = (v.epoch() + 1) * EPOCH + EPOCH - 1;
    const n = identityFromSecret(randomSecret());
    const a = proofOf(n).proof;
    const b = makePresenceProof(new VrfProver(n.secretKey), n.secretKey, n.nodeId, v.challenge(), 7).proof;
    const results = await Promise.all([a, b, a].map((p) => reason(() => v.prove(n.nodeId, p))));
    expect(results.sort()).toEqual(["accepted", "duplicate", "duplicate"]);
    expect(v.list().map((r) => r.node)).toEqual([n.nodeId]);
  });

  it("remembers nullifiers across a reopen of the database", async () => {
    now = (v.epoch() + 1) * EPOCH + EPOCH - 1;
    const n = nodes[0]!;
    const { proof } = proofOf(n);
    await v.prove(n.nodeId, proof);
    await db.close();
    db = await openLmdb({ path: join(dir, "db"), compression: false });
    v = new PresenceVerifier({ nodeId: verifierId.nodeId, secretKey: verifierId.secretKey, epochMs: EPOCH, db, now: clock, maxPerEpoch: 5 });
    expect(await reason(() => v.prove(n.nodeId, proof))).toBe("duplicate");
    expect(v.list().map((r) => r.node)).toEqual([n.nodeId]);
  });
});

describe("presence agent", () => {
  it("proves once per epoch at its offset through the client", async () => {
    const epochMs = 2000;
    const real = new PresenceVerifier({ nodeId: verifierId.nodeId, secretKey: verifierId.secretKey, epochMs, db });
    const n = identityFromSecret(randomSecret());
    const client: PresenceClient = {
      challenge: async () => real.challenge(),
      prove: async (p) => real.prove(n.nodeId, p),
    };
    const results: { epoch: number; ok: boolean; error?: string }[] = [];
    const agent = new PresenceAgent({ nodeId: n.nodeId, secretKey: n.secretKey, client, onResult: (r) => results.push(r) });
    agent.start();
    const until = Date.now() + 30_000;
    while (results.filter((r) => r.ok).length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    await agent.stop();
    const ok = results.filter((r) => r.ok);
    expect(ok.length, JSON.stringify(results)).toBeGreaterThanOrEqual(2);
    expect(new Set(ok.map((r) => r.epoch)).size).toBe(ok.length);
    for (const r of ok) expect(real.list(r.epoch).map((x) => x.node)).toEqual([n.nodeId]);
  });
});
