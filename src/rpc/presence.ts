// PresenceService over Connect (the verifier role) and the agent's signed client. Thin over proofs/presence.ts.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  ListPresenceResponseSchema,
  PresenceRecordSchema,
  PresenceService,
  PresenceServiceChallengeResponseSchema,
  PresenceServiceProveResponseSchema,
  type PresenceRecord,
} from "../gen/slowdrip/v1/proofs_pb.ts";
import type { Identity } from "../identity/identity.ts";
import { PresenceError, type PresenceChallenge, type PresenceClient, type PresenceRecordData, type PresenceVerifier } from "../proofs/presence.ts";
import { fromHex, toHex } from "../wasm/index.ts";
import { callerKey } from "./auth.ts";
import type { ErrorMapper } from "./errors.ts";
import type { RpcService } from "./router.ts";
import { signingInterceptor } from "./sign-client.ts";

/** PresenceError as Connect codes. */
export const presenceRpcError: ErrorMapper = (err) => {
  if (!(err instanceof PresenceError)) return undefined;
  const code = {
    "not-allowed": Code.PermissionDenied,
    malformed: Code.InvalidArgument,
    "bad-vrf": Code.InvalidArgument,
    "bad-signature": Code.InvalidArgument,
    "wrong-epoch": Code.FailedPrecondition,
    "wrong-nonce": Code.FailedPrecondition,
    early: Code.FailedPrecondition,
    duplicate: Code.AlreadyExists,
    busy: Code.ResourceExhausted,
  }[err.reason];
  return new ConnectError(err.message, code, undefined, undefined, err);
};

function toWire(r: PresenceRecordData): PresenceRecord {
  return create(PresenceRecordSchema, {
    node: r.node,
    epoch: BigInt(r.epoch),
    offsetMs: BigInt(r.offsetMs),
    rttMs: r.rttMs,
    receivedUnixMs: BigInt(r.receivedMs),
    nullifier: r.nullifier,
    vrfProof: fromHex(r.pi),
    signature: fromHex(r.signature),
  });
}

function fromWire(r: PresenceRecord): PresenceRecordData {
  return {
    node: r.node,
    epoch: Number(r.epoch),
    offsetMs: Number(r.offsetMs),
    rttMs: r.rttMs,
    receivedMs: Number(r.receivedUnixMs),
    nullifier: r.nullifier,
    pi: toHex(r.vrfProof),
    signature: toHex(r.signature),
  };
}

function epochArg(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConnectError(`epoch ${v} is too large`, Code.InvalidArgument);
  return Number(v);
}

/** The PresenceService implementation over a verifier. */
export function presenceService(deps: { verifier: PresenceVerifier }): RpcService {
  const { verifier } = deps;
  const impl: ServiceImpl<typeof PresenceService> = {
    async challenge() {
      const c = verifier.challenge();
      return create(PresenceServiceChallengeResponseSchema, {
        epoch: BigInt(c.epoch),
        epochStartUnixMs: BigInt(c.startMs),
        epochMs: BigInt(c.epochMs),
        nonce: c.nonce,
        verifier: c.verifier,
        serverUnixMs: BigInt(c.serverMs),
      });
    },
    async prove(req, ctx: HandlerContext) {
      const rec = await verifier.prove(ctx.values.get(callerKey).nodeId, { epoch: epochArg(req.epoch), nonce: req.nonce, pi: req.vrfProof, rttMs: req.rttMs, signature: req.signature });
      return create(PresenceServiceProveResponseSchema, { record: toWire(rec) });
    },
    async listPresence(req) {
      const current = verifier.epoch();
      const epoch = req.epoch === undefined ? current : epochArg(req.epoch);
      return create(ListPresenceResponseSchema, { records: verifier.list(epoch).map(toWire), currentEpoch: BigInt(current) });
    },
  };
  return { service: PresenceService, impl, access: { Challenge: "peer", Prove: "peer", ListPresence: "public" } };
}

/** The agent's client: calls the verifier `verifierId` at `url`, every request signed with the node key. */
export function presenceClient(identity: Pick<Identity, "secretKey" | "nodeId">, verifierId: string, url: string): PresenceClient {
  const client = createClient(PresenceService, createConnectTransport({ baseUrl: url, httpVersion: "1.1", interceptors: [signingInterceptor(identity, verifierId)] }));
  return {
    async challenge(signal) {
      const r = await client.challenge({}, { signal });
      if (r.verifier !== verifierId) throw new Error(`the verifier at ${url} is node ${r.verifier}, not ${verifierId}`);
      const c: PresenceChallenge = {
        epoch: Number(r.epoch),
        startMs: Number(r.epochStartUnixMs),
        epochMs: Number(r.epochMs),
        nonce: r.nonce,
        verifier: r.verifier,
        serverMs: Number(r.serverUnixMs),
      };
      return c;
    },
    async prove(p, signal) {
      const r = await client.prove({ epoch: BigInt(p.epoch), nonce: p.nonce, vrfProof: p.pi, rttMs: p.rttMs, signature: p.signature }, { signal });
      if (!r.record) throw new Error("the verifier returned no record");
      return fromWire(r.record);
    },
  };
}
