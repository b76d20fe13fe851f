// The warden's transport against a hostile miner: an answer larger than any honest one is not read (the warden
// records a failure, it does not buffer it or ask again). The miner here is a stand-in ProofService on loopback: a
// real node never sends such an answer, so this fault cannot be produced with the real part.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { PosChallengeResponseSchema, ProofService } from "../../src/gen/slowdrip/v1/proofs_pb.ts";
import { randomSecret } from "../../src/identity/ed25519.ts";
import { identityFromSecret } from "../../src/identity/identity.ts";
import { MAX_ANSWER_MESSAGE, posChallenger } from "../../src/rpc/proofs.ts";
import { randomNonce } from "../../src/proofs/storage.ts";
import { Warden } from "../../src/proofs/warden.ts";

const warden = identityFromSecret(randomSecret());
const miner = identityFromSecret(randomSecret());
const shard = "ab".repeat(32);
let server: Server;
let url = "";
let calls = 0;

beforeAll(async () => {
  server = createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(ProofService, {
          posChallenge: (req) => {
            calls++;
            return create(PosChallengeResponseSchema, { shard: req.shard, nonce: req.nonce, size: 1n << 20n, slices: [new Uint8Array(MAX_ANSWER_MESSAGE + 1)], miner: miner.nodeId, challenger: warden.nodeId });
          },
        }),
    }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

it("an oversized answer is refused by the reader and recorded as the miner's failure, asked once", async () => {
  const ask = posChallenger(warden, () => url);
  await expect(ask(miner.nodeId, { shard, nonce: randomNonce(), count: 4, root: shard }, AbortSignal.timeout(10_000))).rejects.toThrow(/readMaxBytes/);
  calls = 0;
  const w = new Warden({
    self: warden.nodeId,
    holdings: () => [{ node: miner.nodeId, shard, size: 1 << 20 }],
    challenge: ask,
    markFaulty: () => {},
    intervalMs: 1000, deadlineMs: 10_000, maxFailures: 3, windowMs: 60_000, chunks: 4, perRound: 1,
  });
  const [r] = await w.round();
  expect(r).toMatchObject({ result: "fail", reason: expect.stringMatching(/readMaxBytes/) });
  expect(calls).toBe(1);
});
