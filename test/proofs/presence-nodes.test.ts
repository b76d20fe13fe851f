// Proof of presence between two real `slowdrip run` processes: one is given the verifier role
// (proofs.presence_verifier - the validator will hold it once the cluster roles land), the other proves to it
// (proofs.presence_target). The prover is counted once per epoch; a second proof of an epoch is refused by its
// nullifier, also after the verifier restarts; a proof of a past epoch is refused; the prover goes on after the restart.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { PresenceService } from "../../src/gen/slowdrip/v1/proofs_pb.ts";
import { identityFromSecret } from "../../src/identity/identity.ts";
import { randomSecret } from "../../src/identity/ed25519.ts";
import { presenceClient } from "../../src/rpc/presence.ts";
import { makePresenceProof, type PresenceChallenge, type PresenceProof } from "../../src/proofs/presence.ts";
import { VrfProver } from "../../src/proofs/vrf.ts";
import { freePort } from "../helpers/sea.ts";
import { spawnNode, tempDir } from "../helpers/node.ts";

const EPOCH_MS = 4000;
const vDir = tempDir("slowdrip-verifier-");
const pDir = tempDir("slowdrip-prover-");
let vPort = 0;
let verifier: { child: ChildProcess; url: string };
let prover: { child: ChildProcess; url: string; logs: () => string };
let verifierId = "";
let proverId = "";

const startVerifier = async () => {
  verifier = await spawnNode(["--data-dir", vDir, "--listen", `127.0.0.1:${vPort}`, "--set", "proofs.presence_verifier=true", "--set", `proofs.presence_epoch=${EPOCH_MS}ms`]);
};
const stopChild = async (c: ChildProcess) => {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once("exit", r));
  c.kill("SIGTERM");
  await exited;
};
const list = async (epoch?: bigint) => {
  const c = createClient(PresenceService, createConnectTransport({ baseUrl: verifier.url, httpVersion: "1.1" }));
  return c.listPresence(epoch === undefined ? {} : { epoch });
};
async function until<T>(f: () => Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  vPort = await freePort();
  await startVerifier();
  verifierId = JSON.parse(readFileSync(join(vDir, "keypair"), "utf8")).public;
  prover = await spawnNode(["--data-dir", pDir, "--listen", "127.0.0.1:0", "--log-level", "info", "--set", `proofs.presence_target=${verifierId}@${verifier.url}`]);
  proverId = JSON.parse(readFileSync(join(pDir, "keypair"), "utf8")).public;
}, 60_000);
afterAll(async () => {
  if (prover) await stopChild(prover.child);
  if (verifier) await stopChild(verifier.child);
});

/** A test prover's proof for the verifier's current epoch, sent once it is due. */
async function proveAt(id: ReturnType<typeof identityFromSecret>): Promise<{ ch: PresenceChallenge; proof: PresenceProof; send: () => Promise<unknown> }> {
  const client = presenceClient(id, verifierId, verifier.url);
  const ch = await client.challenge();
  const { proof, offsetMs } = makePresenceProof(new VrfProver(id.secretKey), id.secretKey, id.nodeId, ch, 1);
  return { ch, proof, send: async () => {
    await new Promise((r) => setTimeout(r, Math.max(0, ch.startMs + offsetMs - Date.now() + 100)));
    return presenceClient(id, verifierId, verifier.url).prove(proof);
  } };
}

describe("presence between two nodes", () => {
  it("the prover node is counted once in each of several epochs", async () => {
    const epochs = await until(async () => {
      const cur = (await list()).currentEpoch;
      const found: bigint[] = [];
      for (let e = cur - 3n; e <= cur; e++) {
        const recs = (await list(e)).records.filter((r) => r.node === proverId);
        if (recs.length > 1) throw new Error(`counted ${recs.length} times in epoch ${e}`);
        if (recs.length === 1) found.push(e);
      }
      return found.length >= 2 ? found : undefined;
    }, 40_000, "two epochs with the prover counted");
    expect(epochs.length).toBeGreaterThanOrEqual(2);
    for (const e of epochs) {
      const [r] = (await list(e)).records.filter((x) => x.node === proverId);
      expect(r!.nullifier).toMatch(/^[0-9a-f]{64}$/);
      expect(Number(r!.offsetMs)).toBeLessThan(EPOCH_MS);
      expect(Number(r!.receivedUnixMs)).toBeGreaterThanOrEqual(Number(e) * EPOCH_MS + Number(r!.offsetMs) - 1000);
    }
    expect(prover.logs()).toMatch(/presence: proof accepted/);
  }, 60_000);

  it("refuses a second proof of an epoch by nullifier, also after a verifier restart, and proofs of a past epoch", async () => {
    const t = identityFromSecret(randomSecret());
    const late = identityFromSecret(randomSecret());
    const a = await proveAt(t);
    const held = await proveAt(late); // prepared for the same epoch, never sent in it
    expect(held.ch.epoch).toBe(a.ch.epoch);
    const rec = (await a.send()) as { epoch: number };
    expect(rec.epoch).toBe(a.ch.epoch);
    const again = await presenceClient(t, verifierId, verifier.url).prove(a.proof).catch((e: unknown) => e);
    expect((again as ConnectError).code).toBe(Code.AlreadyExists);
    expect((again as ConnectError).rawMessage).toMatch(/^duplicate/);

    await stopChild(verifier.child);
    await startVerifier();
    const after = await presenceClient(t, verifierId, verifier.url).prove(a.proof).catch((e: unknown) => e);
    expect((after as ConnectError).code).toBe(Code.AlreadyExists);
    expect((after as ConnectError).rawMessage).toMatch(/^duplicate/);

    // Two epochs later, the held proof of the old epoch is outside the window.
    await until(async () => (await list()).currentEpoch >= BigInt(a.ch.epoch + 2), 20_000, "two more epochs");
    const stale = await presenceClient(late, verifierId, verifier.url).prove(held.proof).catch((e: unknown) => e);
    expect((stale as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((stale as ConnectError).rawMessage).toMatch(/^wrong-epoch/);
    expect((await list(BigInt(a.ch.epoch))).records.map((r) => r.node)).toContain(t.nodeId);
    expect((await list(BigInt(a.ch.epoch))).records.map((r) => r.node)).not.toContain(late.nodeId);

    // The prover node keeps proving to the restarted verifier.
    const restartEpoch = (await list()).currentEpoch;
    await until(async () => {
      const cur = (await list()).currentEpoch;
      for (let e = restartEpoch; e <= cur; e++) if ((await list(e)).records.some((r) => r.node === proverId)) return true;
      return false;
    }, 30_000, "the prover counted after the restart");
  }, 90_000);
});
